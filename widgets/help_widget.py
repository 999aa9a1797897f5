"""Help window: the keyboard and mouse shortcuts."""
from __future__ import annotations

from imgui_bundle import imgui

from viz.context import WidgetContext

SHORTCUTS = (
    ("F", "front view"),
    ("Left / Right arrows", "yaw -/+ 15 degrees"),
    ("Up / Down arrows", "pitch +/- 5 degrees"),
    ("Space", "turntable on/off"),
    ("P", "presentation mode (hide panels)"),
    ("H or F1", "this help"),
    ("Ctrl+Z", "undo"),
    ("Ctrl+Shift+Z / Ctrl+Y", "redo"),
    ("Ctrl+S", "save state"),
    ("Ctrl+O", "open state"),
    ("F12", "save a screenshot of the render"),
    ("Drag in the view", "orbit (yaw and pitch)"),
    ("Scroll in the view", "zoom (field of view)"),
    ("Drop a .pt file", "open that checkpoint"),
)


class HelpWidget:
    """A closable window listing `SHORTCUTS`; open while `state.ui.show_help`."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        ui = self.context.state.ui
        if not ui.show_help:
            return
        centre = imgui.get_main_viewport().get_center()
        imgui.set_next_window_pos(centre, imgui.Cond_.appearing, (0.5, 0.5))
        visible, ui.show_help = imgui.begin("Keyboard shortcuts", ui.show_help, imgui.WindowFlags_.always_auto_resize)
        if visible and imgui.begin_table("shortcuts", 2, imgui.TableFlags_.row_bg | imgui.TableFlags_.sizing_fixed_fit):
            for keys, action in SHORTCUTS:
                imgui.table_next_row()
                imgui.table_next_column()
                imgui.text(keys)
                imgui.table_next_column()
                imgui.text(action)
            imgui.end_table()
        imgui.end()
