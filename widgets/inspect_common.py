"""Shared pieces of the inspection panels: textures for product images, hoverable images, colour bars.

No torch here: the colour tables come from core.inspect.colormaps, which needs only numpy.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from imgui_bundle import imgui

from core.inspect import colormaps
from viz.gl.textures import ImageTexture



class TextureSet:
    """Named textures, re-uploaded only when a different array object arrives (products are new arrays)."""

    def __init__(self):
        self.textures: dict[str, ImageTexture] = {}
        self._sources: dict[str, int] = {}

    def show(self, name: str, image: np.ndarray) -> ImageTexture:
        """The texture `name` holding `image: [H, W, 3] uint8` (uploaded if the array changed)."""
        texture = self.textures.setdefault(name, ImageTexture())
        if self._sources.get(name) != id(image) or texture.texture_id is None:
            texture.upload(np.ascontiguousarray(image, dtype=np.uint8))
            self._sources[name] = id(image)
        return texture

    def release(self) -> None:
        for texture in self.textures.values():
            texture.release()
        self.textures.clear()
        self._sources.clear()


def hoverable_image(texture: ImageTexture, size: tuple[float, float], image_shape: tuple[int, int],
                    flip_rows: bool = False) -> tuple[float, float] | None:
    """Draws `texture` at `size`; returns the hovered (row, column) in image index space, or None.

    Index space puts pixel centres at integers (a mouse at a pixel's left edge gives column - 0.5).
    `flip_rows` shows the image upside down (row 0 at the bottom) and maps the mouse back accordingly.
    """
    origin = imgui.get_cursor_screen_pos()
    uv0, uv1 = ((0.0, 1.0), (1.0, 0.0)) if flip_rows else ((0.0, 0.0), (1.0, 1.0))
    imgui.image(imgui.ImTextureRef(texture.texture_id), size, uv0, uv1)
    if not imgui.is_item_hovered():
        return None
    mouse = imgui.get_mouse_pos()
    height, width = image_shape
    column = (mouse.x - origin.x) / max(size[0], 1.0) * width - 0.5
    row = (mouse.y - origin.y) / max(size[1], 1.0) * height - 0.5
    if flip_rows:
        row = height - 1 - row
    return row, column


def colorbar(textures: TextureSet, name: str, low: float, high: float, height: float) -> None:
    """A vertical colour bar for colour map `name` with its high and low values written beside it."""
    texture = textures.show(f"colorbar:{name}", _colorbar_image(name))
    imgui.begin_group()
    imgui.image(imgui.ImTextureRef(texture.texture_id), (imgui.get_font_size() * 0.8, height))
    imgui.end_group()
    imgui.same_line()
    imgui.begin_group()
    imgui.text(f"{high:.3g}")
    imgui.dummy((1.0, max(height - 2.0 * imgui.get_text_line_height_with_spacing(), 1.0)))
    imgui.text(f"{low:.3g}")
    imgui.end_group()


_COLORBAR_CACHE: dict[str, np.ndarray] = {}


def _colorbar_image(name: str) -> np.ndarray:
    # One array per map, so the texture set uploads it once.
    if name not in _COLORBAR_CACHE:
        _COLORBAR_CACHE[name] = colormaps.colorbar(name, length=128, width=4)
    return _COLORBAR_CACHE[name]


class ProductMemory:
    """The newest product of each extra, kept while results without it arrive.

    Previews (sent while any item is dragged or clicked) leave the extras out, so their results carry
    none; showing the last product meanwhile keeps the panels' layout still under the mouse.
    """

    def __init__(self):
        self.products: dict[str, Any] = {}

    def get(self, info_extras: dict[str, Any], name: str) -> Any:
        """The product `name` of the newest result that had one (None before the first)."""
        product = info_extras.get(name)
        if product is not None:
            self.products[name] = product
        return self.products.get(name)


def product_error(info_extras: dict[str, Any], name: str) -> str | None:
    """The renderer's error text for extra `name`, if it failed."""
    return (info_extras.get("errors") or {}).get(name)


def waiting_text(info_extras: dict[str, Any], name: str) -> None:
    """Tells why product `name` is not shown: its error, or that it is being computed."""
    error = product_error(info_extras, name)
    if error:
        imgui.push_style_color(imgui.Col_.text, (1.0, 0.45, 0.4, 1.0))
        imgui.text_wrapped(f"{name}: {error}")
        imgui.pop_style_color()
    else:
        imgui.text_disabled(f"computing {name.replace('_', ' ')}...")
