"""Capture panel: save the render or the whole window as PNG, record the viewport to MP4, presentation mode."""
from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from viz.context import WidgetContext
from widgets.common import help_marker


class CaptureWidget:
    """Edits `state.capture` and `state.ui.presentation`; posts "screenshot" / "record" commands."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        capture, info = self.context.state.capture, self.context.info
        default_folder = _short_path(info.capture_folder)
        imgui.set_next_item_width(-1)
        _, capture.folder = imgui.input_text_with_hint("##capture folder", default_folder, capture.folder)
        imgui.set_item_tooltip(f"Output folder; empty = {default_folder}")
        _, capture.whole_window = imgui.checkbox("Whole window", capture.whole_window)
        if imgui.button("Save PNG"):
            self.context.post("screenshot", "window" if capture.whole_window else "render")
        imgui.same_line()
        label = f"Stop recording ({info.recorded_frames} frames)" if info.recording else "Record MP4"
        if imgui.button(label):
            self.context.post("record", not info.recording)
        imgui.set_next_item_width(imgui.calc_text_size("000000").x + imgui.get_frame_height() * 2)
        imgui.begin_disabled(info.recording)
        changed, fps = imgui.input_int("Video fps", capture.video_fps)
        if changed:
            capture.video_fps = min(60, max(1, fps))
        imgui.end_disabled()
        help_marker("Each new render result becomes one video frame.")
        _, self.context.state.ui.presentation = imgui.checkbox("Presentation mode (P)",
                                                               self.context.state.ui.presentation)


def _short_path(path: str) -> str:
    """`path` with the home folder written as ~."""
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + "/") else path
