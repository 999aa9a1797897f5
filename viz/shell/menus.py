"""The menu bar (File, Edit, View, Help) and the status bar."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from imgui_bundle import hello_imgui, imgui

from renderer.requests import REFINEMENT_NAMES
from viz.context import WidgetContext

BUSY_SECONDS_AFTER_S = 2.0  # a longer wait for a frame shows its seconds in the status bar
MESSAGE_COLORS = {"info": (0.75, 0.85, 0.75, 1.0), "warning": (1.0, 0.8, 0.3, 1.0), "error": (1.0, 0.4, 0.35, 1.0)}


def model_label(context: WidgetContext) -> str:
    """Short name of the shown model, with "(untrained)" for a randomly initialised one."""
    info = context.info
    checkpoint = info.active_checkpoint or context.state.checkpoint
    name = checkpoint.rsplit("/", 1)[-1]
    return f"{name} (untrained)" if info.untrained else name


def show_menus(context: WidgetContext, focus_panel: Callable[[str], None], state_path: Path) -> None:
    """Menu contents; hello_imgui calls this inside the main menu bar."""
    state, info = context.state, context.info
    if imgui.begin_menu("File"):
        if imgui.menu_item_simple("Open checkpoint..."):
            focus_panel("Model")
        imgui.separator()
        if imgui.menu_item_simple("Save state", "Ctrl+S"):
            context.post("save_state")
        imgui.set_item_tooltip(f"to {state_path} (start with --state FILE to use another file)")
        if imgui.menu_item_simple("Load state", "Ctrl+O", enabled=state_path.exists()):
            context.post("load_state")
        imgui.set_item_tooltip(f"from {state_path}")
        imgui.separator()
        if imgui.menu_item_simple("Save render as PNG", "F12"):
            context.post("screenshot", "render")
        if imgui.menu_item_simple("Save window as PNG"):
            context.post("screenshot", "window")
        if imgui.menu_item_simple("Record viewport (MP4)" if not info.recording else "Stop recording"):
            context.post("record", not info.recording)
        imgui.separator()
        if imgui.menu_item_simple("Quit", "Alt+F4"):
            hello_imgui.get_runner_params().app_shall_exit = True
        imgui.end_menu()
    if imgui.begin_menu("Edit"):
        if imgui.menu_item_simple("Undo", "Ctrl+Z"):
            context.post("undo")
        if imgui.menu_item_simple("Redo", "Ctrl+Shift+Z"):
            context.post("redo")
        imgui.end_menu()
    if imgui.begin_menu("View"):
        for window in hello_imgui.get_runner_params().docking_params.dockable_windows:
            if window.can_be_closed:
                _, window.is_visible = imgui.menu_item(window.label, "", window.is_visible)
        imgui.separator()
        _, state.ui.presentation = imgui.menu_item("Presentation mode", "P", state.ui.presentation)
        imgui.end_menu()
    if imgui.begin_menu("Help"):
        _, state.ui.show_help = imgui.menu_item("Keyboard shortcuts", "H", state.ui.show_help)
        imgui.end_menu()


def shown_quality(request, raw: bool = False) -> str:
    """Which quality the shown image has: preview (raw: without super-resolution), full or a refinement step."""
    if request is None:
        return "-"
    if request.preview:
        return "preview, raw" if raw else "preview"
    return REFINEMENT_NAMES[request.refinement]


def worker_label(info, now: float) -> str:
    """"idle", "busy", or "busy 12 s" once a frame has been waited for BUSY_SECONDS_AFTER_S (a first posed frame on a
    new machine builds the body's warp fields for ~5-10 s: the seconds show that nothing froze)."""
    if not info.busy:
        return "idle"
    waited = 0.0 if info.busy_since is None else now - info.busy_since
    return f"busy {waited:.0f} s" if waited >= BUSY_SECONDS_AFTER_S else "busy"


def show_status(context: WidgetContext) -> None:
    """One line: model, device, render time, GUI frame rate, newest message."""
    info = context.info
    render_ms = info.last_timings_ms.get("total")
    fps = info.gui_fps[-1] if info.gui_fps else 0.0
    imgui.text(f"model {model_label(context)}")
    for part in (f"device {info.model_info.get('device', info.device)}",  # the worker's answer resolves "auto"
                 f"render {render_ms:.0f} ms" if render_ms is not None else "render -",
                 f"quality {shown_quality(info.shown_request, info.shown_raw)}",
                 f"GUI {fps:.0f} fps",
                 worker_label(info, time.monotonic())):
        imgui.same_line()
        imgui.text_disabled("|")
        imgui.same_line()
        imgui.text(part)
    if info.last_message is not None:
        level, text = info.last_message
        imgui.same_line()
        imgui.text_disabled("|")
        imgui.same_line()
        imgui.text_colored(MESSAGE_COLORS.get(level, MESSAGE_COLORS["info"]), text)
