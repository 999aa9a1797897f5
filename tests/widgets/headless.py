"""Run one panel in a bare Dear ImGui context: no window, no GL, no display; mouse input is injected.

`HeadlessPanel(panel).click("Turntable")` draws frames, finds the item by its label from the previous frame's
layout and clicks its centre, as a user would. Items are found by recording the rectangle of every labelled
widget the panel submits (the real imgui functions, wrapped while the harness is open).
"""
from __future__ import annotations

import functools
from typing import Callable

from imgui_bundle import imgui, implot

# imgui functions whose first argument is the item's label; the rectangle recorded is the item just submitted.
LABELLED_ITEMS = ("button", "small_button", "checkbox", "radio_button", "slider_float", "slider_int", "input_text",
                  "input_text_with_hint", "input_float", "input_int", "drag_float3", "combo", "collapsing_header")
WINDOW = "Panel"


class HeadlessPanel:
    """A context manager that owns an imgui (and implot) context and draws `panel()` in one window per frame."""

    def __init__(self, panel: Callable[[], None], size: tuple[float, float] = (520.0, 1400.0)):
        self.panel = panel
        self.size = size
        self.items: dict[str, tuple[float, float, float, float]] = {}  # label -> (x0, y0, x1, y1), newest frame
        self.content_height = 0.0  # how far down the panel drew in the newest frame (pixels)
        self._originals: dict[str, Callable] = {}

    def __enter__(self) -> "HeadlessPanel":
        self._context = imgui.create_context()
        self._plot_context = implot.create_context()
        io = imgui.get_io()
        io.display_size = (self.size[0] + 40.0, self.size[1] + 40.0)
        io.delta_time = 1.0 / 60.0
        io.backend_flags |= imgui.BackendFlags_.renderer_has_textures  # the font atlas needs no GL upload
        io.config_flags |= imgui.ConfigFlags_.nav_enable_keyboard
        for name in LABELLED_ITEMS:
            self._originals[name] = getattr(imgui, name)
            setattr(imgui, name, self._recording(name, self._originals[name]))
        return self

    def __exit__(self, *exc_info) -> None:
        for name, function in self._originals.items():
            setattr(imgui, name, function)
        implot.destroy_context(self._plot_context)
        imgui.destroy_context(self._context)

    def _recording(self, name: str, function: Callable) -> Callable:
        @functools.wraps(function)
        def recorded(label, *args, **kwargs):
            result = function(label, *args, **kwargs)
            low, high = imgui.get_item_rect_min(), imgui.get_item_rect_max()
            self.items[label] = (low.x, low.y, high.x, high.y)
            return result

        return recorded

    def frame(self, count: int = 1) -> None:
        """Draws `count` frames of the panel."""
        for _ in range(count):
            imgui.new_frame()
            imgui.set_next_window_pos((10.0, 10.0))
            imgui.set_next_window_size(self.size)
            imgui.begin(WINDOW)
            self.panel()
            self.content_height = imgui.get_cursor_pos().y
            imgui.end()
            imgui.end_frame()
            imgui.render()

    def click(self, label: str) -> None:
        """Moves the mouse onto the item called `label` (where a fresh frame draws it) and clicks it."""
        self.items.clear()
        self.frame()  # the previous click may have changed the layout
        if label not in self.items:
            raise KeyError(f"no item {label!r} in the panel; drawn: {sorted(self.items)}")
        x0, y0, x1, y1 = self.items[label]
        io = imgui.get_io()
        io.add_mouse_pos_event((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        self.frame()
        io.add_mouse_button_event(0, True)
        self.frame()
        io.add_mouse_button_event(0, False)
        self.frame()
