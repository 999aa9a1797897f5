"""Small building blocks shared by the panels: reset buttons, labelled sliders, option combos."""
from __future__ import annotations

from typing import Any, Sequence

from imgui_bundle import hello_imgui, imgui


def em(count: float) -> float:
    """`count` font heights in pixels, so that sizes follow the DPI-scaled font."""
    return hello_imgui.em_size(count)


def reset_button(label: str, current: Any, default: Any) -> bool:
    """A button enabled only while `current` differs from `default`; True when clicked."""
    imgui.begin_disabled(current == default)
    clicked = imgui.small_button(label)
    imgui.end_disabled()
    return clicked and current != default


def label_width() -> None:
    """Leaves room on the right of a slider for its label and a reset button."""
    imgui.set_next_item_width(-em(9.5))


def slider_float(label: str, value: float, low: float, high: float, display: str = "%.2f") -> float:
    """A float slider that returns `value` itself unless the user moved it.

    imgui works in float32: writing its echo back every frame would turn 0.7 into 0.699999988 and make
    an untouched value look edited (Reset enabled, a spurious undo step).
    """
    changed, new_value = imgui.slider_float(label, value, low, high, display)
    return float(new_value) if changed else value


def help_marker(text: str) -> None:
    """A '(?)' after the previous item that shows `text` on hover."""
    imgui.same_line()
    imgui.text_disabled("(?)")
    imgui.set_item_tooltip(text)


def option_combo(label: str, current: Any, options: Sequence[Any], names: Sequence[str] | None = None) -> Any:
    """A combo over `options` (shown as `names`); returns the chosen option (unchanged if none chosen)."""
    names = list(names) if names is not None else [str(option) for option in options]
    index = list(options).index(current) if current in options else 0
    changed, index = imgui.combo(label, index, names)
    return options[index] if changed else current


def optional_int_combo(label: str, current: int | None, choices: Sequence[int]) -> int | None:
    """A combo of "model default" and a few integers."""
    options: list[int | None] = [None, *choices]
    names = ["model default", *[str(choice) for choice in choices]]
    return option_combo(label, current, options, names)


def section(title: str) -> None:
    """A thin separator with a title between groups of a panel."""
    imgui.spacing()
    imgui.separator_text(title)
