"""Training panel: launch `python -m core.train`, watch its curves, samples and log, follow its snapshots, stop it."""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
from imgui_bundle import imgui, implot
from PIL import Image

from core.names import PRESET_NAMES
from viz.context import WidgetContext
from viz.gl.textures import ImageTexture
from viz.training.files import smooth
from viz.training.process import display_command
from viz.training.session import TrainingSession
from viz.training.watch import format_duration, time_left_s
from widgets.common import em, help_marker, option_combo, section

LOSS_DEFAULTS = ("Loss/G/loss", "Loss/D/loss")  # curves shown before the user picks others
POSE_DEFAULTS = ("Pose/G_vs_data/neck_deg", "Pose/G_vs_data/head_deg", "Pose/D_real/neck_deg",
                 "Pose/D_real/head_deg")
MARKERS_BELOW = 20  # series shorter than this show a marker per tick
LOG_LINES_SHOWN = 12  # lines of the log tail in the panel
STATUS_COLOURS = {"running": (0.4, 0.9, 0.4, 1.0), "stopping": (0.95, 0.8, 0.3, 1.0),
                  "failed": (1.0, 0.4, 0.35, 1.0), "finished": (0.6, 0.8, 1.0, 1.0)}


class TrainingWidget:
    """Shows and drives the controller's `TrainingSession` (which polls it every frame and follows snapshots)."""

    def __init__(self, context: WidgetContext, session: TrainingSession):
        self.context = context
        self.session = session  # launch, watch, follow and stop logic
        self.extra_options = "--snap-ticks 10"  # further core.train options typed by the user
        self.batch = 0  # 0 = the trainer's default
        self.attach_folder = ""  # run folder typed for "Attach"
        self.smoothing = 0.6  # EMA weight of the curves
        self.shown_series = set(LOSS_DEFAULTS + POSE_DEFAULTS)  # statistics drawn
        self.plotted_points: dict[str, int] = {}  # series -> points drawn in the newest frame (tests read it)
        self.grid_texture = ImageTexture()  # the newest sample grid
        self._grid_shown: tuple[Path | None, int] = (None, 0)  # (file, mtime) in the texture
        self._fold_form = False  # close the launch form in the next frame
        self._curve_cache: dict[str, tuple] = {}  # series -> (cache key, kimg, smoothed values)

    def __call__(self) -> None:
        self._launch_form()
        self._controls()
        self._progress()
        self._curves()
        self._samples()
        self._log()

    # ----- launching -----

    def _launch_form(self) -> None:
        session, options = self.session, self.session.options
        if self._fold_form:  # a started run needs the room for its curves
            imgui.set_next_item_open(False, imgui.Cond_.always)
            self._fold_form = False
        if not imgui.collapsing_header("New run", imgui.TreeNodeFlags_.default_open):
            return
        imgui.begin_disabled(session.running)
        width = -em(7.5)
        imgui.set_next_item_width(width)
        changed, options.data = imgui.input_text("Dataset", options.data)
        if changed:
            session.dataset_check = None
        if imgui.is_item_deactivated_after_edit():  # check a newly typed dataset at once
            session.check_dataset()
        imgui.same_line()
        if imgui.small_button("Check"):
            session.check_dataset()
        self._dataset_summary()
        imgui.set_next_item_width(em(7))
        options.preset = option_combo("Preset", options.preset, PRESET_NAMES)
        imgui.same_line()
        imgui.set_next_item_width(em(6))
        changed, kimg = imgui.input_float("kimg", options.kimg, 0.0, 0.0, "%g")
        if changed:
            options.kimg = float(kimg)
        imgui.set_next_item_width(em(7))
        changed, self.batch = imgui.input_int("Batch", self.batch)
        self.batch = max(self.batch, 0)
        options.batch = self.batch or None
        help_marker("0 = the trainer's default (32 on CUDA, 4 on the CPU)")
        imgui.same_line()
        imgui.set_next_item_width(em(6))
        _, gpus = imgui.input_int("GPUs", options.gpus)
        options.gpus = max(int(gpus), 1)
        imgui.set_next_item_width(width)
        _, options.outdir = imgui.input_text("Output folder", options.outdir)
        imgui.set_next_item_width(width)
        _, options.resume = imgui.input_text("Resume from", options.resume)
        help_marker("A run folder (its newest snapshot) or a snapshot-*.pt file; empty = a fresh run")
        imgui.set_next_item_width(width)
        _, self.extra_options = imgui.input_text("Extra options", self.extra_options)
        help_marker("More python -m core.train options, e.g. --snap-ticks 1 --warp none --tick-kimg 0.004")
        try:
            options.extra_args = shlex.split(self.extra_options)
        except ValueError:
            options.extra_args = []
        imgui.end_disabled()
        imgui.text_disabled("Command:")
        imgui.push_text_wrap_pos(0.0)
        imgui.text(display_command(options))
        imgui.pop_text_wrap_pos()

    def _dataset_summary(self) -> None:
        check = self.session.dataset_check
        if check is None:
            return
        if not check.done:
            imgui.text_disabled(f"checking {check.path} ...")
            return
        colour = (0.5, 0.9, 0.5, 1.0) if check.ok else (1.0, 0.45, 0.4, 1.0)
        first_line = next((line for line in check.summary.splitlines() if line.startswith("count")), "")
        imgui.text_colored(colour, ("dataset ok: " if check.ok else "dataset unusable: ") + first_line)
        if imgui.tree_node("Dataset check##summary"):
            imgui.text_unformatted(check.summary)
            imgui.tree_pop()

    # ----- start, stop, resume, attach, follow -----

    def _controls(self) -> None:
        session = self.session
        imgui.begin_disabled(session.running)
        if imgui.button("Start training"):
            self._fold_form = session.start()
        imgui.end_disabled()
        imgui.same_line()
        imgui.begin_disabled(not session.running or session.status == "stopping")
        if imgui.button("Stop"):
            session.stop()
        imgui.end_disabled()
        imgui.same_line()
        watched = session.watcher.run_dir if session.watcher is not None else None
        imgui.begin_disabled(session.running or watched is None or not session.watcher.snapshots)
        if imgui.button("Resume"):
            session.resume_from(str(watched))
        imgui.end_disabled()
        imgui.same_line()
        _, session.follow = imgui.checkbox("Follow snapshots", session.follow)
        help_marker("Show each new snapshot in the view, keeping latent, camera and pose")
        imgui.set_next_item_width(-em(7.5))
        _, self.attach_folder = imgui.input_text("Run folder", self.attach_folder)
        imgui.same_line()
        imgui.begin_disabled(session.running or not self.attach_folder.strip())
        if imgui.small_button("Attach"):
            session.attach(self.attach_folder)
        imgui.end_disabled()
        colour = STATUS_COLOURS.get(session.status, (0.8, 0.8, 0.8, 1.0))
        imgui.text_colored(colour, f"status: {session.status}")
        if watched is not None:
            imgui.same_line()
            imgui.text_disabled(str(watched))
        for message in session.messages[-1:]:
            imgui.push_text_wrap_pos(0.0)
            imgui.text_disabled(message)
            imgui.pop_text_wrap_pos()
        if session.ended_log:
            imgui.text_colored(STATUS_COLOURS["failed"], "end of the training output:")
            imgui.push_text_wrap_pos(0.0)
            imgui.text_unformatted(session.ended_log)
            imgui.pop_text_wrap_pos()

    # ----- watching -----

    def _progress(self) -> None:
        watcher = self.session.watcher
        if watcher is None:
            return
        section("Progress")
        figures = watcher.progress()
        total = self.session.total_kimg()
        kimg = figures.get("kimg", 0.0)
        fraction = min(kimg / total, 1.0) if total else 0.0
        imgui.progress_bar(fraction, (-1, 0), f"{kimg:.3f} of {total if total else '?'} kimg")
        rate = figures.get("img_per_s", 0.0)
        left = time_left_s(kimg, total, rate) if total else None
        memory = f"   CPU {figures['cpu_mem_gb']:.2f} GB" if "cpu_mem_gb" in figures else ""
        memory += f"   GPU {figures['gpu_mem_gb']:.2f} GB" if figures.get("gpu_mem_gb") else ""
        imgui.text(f"{rate:.2f} img/s   elapsed {format_duration(figures.get('total_s'))}   "
                   f"left {format_duration(left)}{memory}")
        snapshot = watcher.newest_snapshot
        imgui.text_disabled(f"snapshots: {len(watcher.snapshots)}"
                            + (f", newest {snapshot.path.name}" if snapshot else ""))

    def _curves(self) -> None:
        watcher = self.session.watcher
        self.plotted_points = {}
        if watcher is None:
            return
        section("Curves")
        imgui.set_next_item_width(em(8))
        _, self.smoothing = imgui.slider_float("Smoothing", self.smoothing, 0.0, 0.95, "%.2f")
        imgui.same_line()
        if imgui.button("Series"):
            imgui.open_popup("training series")
        if imgui.begin_popup("training series"):
            for name in watcher.stats.names():
                if name.startswith(("Loss/", "Pose/", "Eval/")):
                    ticked, on = imgui.checkbox(name, name in self.shown_series)
                    if ticked:
                        (self.shown_series.add if on else self.shown_series.discard)(name)
            imgui.end_popup()
        half_width = (imgui.get_content_region_avail().x - imgui.get_style().item_spacing.x) / 2
        self._plot("Losses", "loss", half_width, lambda name: not name.startswith(("Pose/", "Eval/")))
        imgui.same_line()
        self._plot("Pose error", "degrees", half_width, lambda name: name.startswith(("Pose/", "Eval/")))

    def _plot(self, title: str, unit: str, width: float, belongs) -> None:
        names = sorted(name for name in self.shown_series if belongs(name))
        if not implot.begin_plot(title, (width, em(13))):
            return
        implot.setup_axes("kimg", unit, implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
        implot.setup_legend(implot.Location_.north_east)
        for name in names:
            xs, ys = self._smoothed(name)
            if not len(xs):
                continue
            spec = implot.Spec()
            if len(xs) < MARKERS_BELOW:  # a line needs two points: early on, show each tick as a dot
                spec.marker = implot.Marker_.circle
            implot.plot_line(name.split("/", 1)[1], xs, ys, spec)
            self.plotted_points[name] = len(xs)
        implot.end_plot()

    def _smoothed(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(kimg, smoothed values) of a statistic, recomputed only when a tick arrived or the smoothing moved."""
        xs, ys = self.session.watcher.stats.series(name)
        key = (id(self.session.watcher), self.session.watcher.stats.generation, len(xs), self.smoothing)
        cached = self._curve_cache.get(name)
        if cached is None or cached[0] != key:
            smoothed = smooth(ys, min(max(self.smoothing, 0.0), 0.95))
            cached = (key, np.asarray(xs, dtype=np.float64), np.asarray(smoothed, dtype=np.float64))
            self._curve_cache[name] = cached
        return cached[1], cached[2]

    def _samples(self) -> None:
        watcher = self.session.watcher
        if watcher is None or watcher.newest_grid is None:
            return
        section("Samples")
        current = (watcher.newest_grid, watcher.grid_mtime_ns)
        if current != self._grid_shown:
            try:
                with Image.open(current[0]) as image:
                    self.grid_texture.upload(np.asarray(image.convert("RGB")))
                self._grid_shown = current
            except (OSError, ValueError):
                return  # replaced while being read: the next frame tries again
        width, height = self.grid_texture.size
        shown_width = min(imgui.get_content_region_avail().x, float(width) * 2)
        imgui.text_disabled(current[0].name)
        imgui.image(imgui.ImTextureRef(self.grid_texture.texture_id), (shown_width, shown_width * height / width))

    def _log(self) -> None:
        session = self.session
        source = session.watcher.log if session.watcher is not None and session.watcher.log.lines else session.console
        if source is None or not source.lines:
            return
        section("Log")
        imgui.begin_child("training log", (-1, imgui.get_text_line_height_with_spacing() * LOG_LINES_SHOWN),
                          imgui.ChildFlags_.borders)
        imgui.text_unformatted(source.text(last=LOG_LINES_SHOWN * 4))
        if not imgui.is_window_hovered():  # stays at the end unless the user is reading (hovering) the log
            imgui.set_scroll_here_y(1.0)
        imgui.end_child()
