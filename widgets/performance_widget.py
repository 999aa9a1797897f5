"""Performance panel: GUI frame rate and render time plots, the per-stage split of the newest render."""
from __future__ import annotations

import numpy as np
from imgui_bundle import imgui, implot

from viz.context import WidgetContext
from widgets.common import em

STAGES = ("mapping", "trigrid", "warp", "occupancy", "rendering", "superresolution", "total")


class PerformanceWidget:
    """Shows `info.gui_fps`, `info.render_ms` and `info.last_timings_ms`; edits nothing."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        info = self.context.info
        fps = np.asarray(info.gui_fps, dtype=np.float32)
        render_ms = np.asarray(info.render_ms, dtype=np.float32)
        imgui.text(f"device {info.device}   GUI {fps[-1] if fps.size else 0:.0f} fps   renders {info.renders}")
        work = float(np.median(np.asarray(info.frame_work_ms))) if info.frame_work_ms else 0.0
        imgui.text(f"GUI work {work:.1f} ms/frame   " + ("worker busy" if info.busy else "worker idle"))
        self._plot("GUI fps", fps, "fps")
        self._plot("Render time", render_ms, "ms")
        if imgui.begin_table("stages", 2, imgui.TableFlags_.borders_inner_h | imgui.TableFlags_.sizing_stretch_prop):
            for stage in STAGES:
                if stage not in info.last_timings_ms:
                    continue
                imgui.table_next_row()
                imgui.table_next_column()
                imgui.text(stage)
                imgui.table_next_column()
                imgui.text(f"{info.last_timings_ms[stage]:8.1f} ms")
            imgui.end_table()

    @staticmethod
    def _plot(title: str, values: np.ndarray, unit: str) -> None:
        """A small line plot that rescales to its data every frame."""
        if not implot.begin_plot(title, (-1, em(5.5)), implot.Flags_.no_legend | implot.Flags_.no_mouse_text):
            return
        implot.setup_axes("", unit, implot.AxisFlags_.no_tick_labels, implot.AxisFlags_.auto_fit)
        if values.size:
            implot.plot_line(title, values)
        implot.end_plot()
