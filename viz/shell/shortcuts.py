"""Keyboard shortcuts (listed for users in widgets/help_widget.py)."""
from __future__ import annotations

from imgui_bundle import imgui

from viz.context import WidgetContext
from viz.state import wrap_degrees

YAW_STEP_DEG = 15.0  # arrow keys turn the camera by this much
PITCH_STEP_DEG = 5.0
PITCH_LIMIT_DEG = 80.0


def handle_shortcuts(context: WidgetContext) -> None:
    """Applies this frame's key presses to the state or posts commands; ignored while typing into a field."""
    io = imgui.get_io()
    if io.want_text_input:
        return
    state = context.state
    camera = state.camera
    ctrl = io.key_ctrl or io.key_super
    pressed = imgui.is_key_pressed
    if ctrl:
        if pressed(imgui.Key.z, False):
            context.post("redo" if io.key_shift else "undo")
        elif pressed(imgui.Key.y, False):
            context.post("redo")
        elif pressed(imgui.Key.s, False):
            context.post("save_state")
        elif pressed(imgui.Key.o, False):
            context.post("load_state")
        return
    if pressed(imgui.Key.f, False):
        camera.yaw_deg, camera.pitch_deg = 0.0, 0.0
    if pressed(imgui.Key.left_arrow):
        camera.yaw_deg = wrap_degrees(camera.yaw_deg - YAW_STEP_DEG)
    if pressed(imgui.Key.right_arrow):
        camera.yaw_deg = wrap_degrees(camera.yaw_deg + YAW_STEP_DEG)
    if pressed(imgui.Key.up_arrow):
        camera.pitch_deg = min(PITCH_LIMIT_DEG, camera.pitch_deg + PITCH_STEP_DEG)
    if pressed(imgui.Key.down_arrow):
        camera.pitch_deg = max(-PITCH_LIMIT_DEG, camera.pitch_deg - PITCH_STEP_DEG)
    if pressed(imgui.Key.space, False):
        camera.turntable = not camera.turntable
    if pressed(imgui.Key.p, False):
        state.ui.presentation = not state.ui.presentation
    if pressed(imgui.Key.h, False) or pressed(imgui.Key.f1, False):
        state.ui.show_help = not state.ui.show_help
    if pressed(imgui.Key.f12, False):
        context.post("screenshot", "render")
