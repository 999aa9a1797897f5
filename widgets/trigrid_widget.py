"""Tri-grid panel: every plane (XY, XZ, YZ) and depth slice of the current latent's tri-grid as pictures.

The pictures come from the renderer's "planes" extra (PCA colours or one channel through a colour map);
hovering a texel shows its colour, its plane, slice and world position; each plane lists its statistics.
"""
from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from renderer.products import PLANES, PlanesProduct
from viz.context import WidgetContext
from widgets.common import help_marker, option_combo
from widgets.inspect_common import ProductMemory, TextureSet, colormaps, hoverable_image, waiting_text

PLANE_MODES = ("pca", "channel")
COLORMAPS = ("viridis", "magma", "gray")
# World axes (0 = x, 1 = y, 2 = z) along the (columns, rows, depth slices) of each plane (core/inspect/trigrid.py).
PLANE_AXES = ((0, 1, 2), (0, 2, 1), (1, 2, 0))


def plane_texel_to_world(plane: int, row: float, column: float, depth_index: float, shape: tuple[int, int, int],
                         box_warp: float) -> np.ndarray:
    """World point [3] at texel (row, column, depth_index) of `plane`, index space, `shape` = (H, W, D).

    Texel t of n is centred at ((2t + 1) / n - 1) * box_warp / 2, as the tri-grid lookup samples it; the
    coordinate along the slicing axis is the depth slice's centre.
    """
    height, width, depth = shape
    world = np.zeros(3)
    for index, size, axis in zip((column, row, depth_index), (width, height, depth), PLANE_AXES[plane]):
        world[axis] = ((2.0 * index + 1.0) / size - 1.0) * box_warp / 2.0
    return world


def colormap_value(color: np.ndarray, colormap: str, low: float, high: float, steps: int = 256) -> float:
    """The value whose colour in `colormap` over [low, high] is nearest to `color: [3] uint8` (1/steps precision)."""
    ramp = colormaps.apply_colormap(np.linspace(0.0, 1.0, steps), 0.0, 1.0, colormap).astype(np.int32)
    nearest = int(np.argmin(((ramp - np.asarray(color, np.int32)) ** 2).sum(axis=1)))
    return low + (high - low) * nearest / (steps - 1)


class TrigridWidget:
    """Edits `state.inspect.plane_*`; shows the "planes" extra of the newest render."""

    def __init__(self, context: WidgetContext):
        self.context = context
        self.textures = TextureSet()
        self.memory = ProductMemory()
        self.hovered: tuple[int, int, int, int] | None = None  # (plane, slice, row, column) under the mouse

    def __call__(self) -> None:
        self.context.wanted_extras.add(PLANES)
        inspect = self.context.state.inspect
        product = self.memory.get(self.context.info.extras, PLANES)

        imgui.set_next_item_width(imgui.get_font_size() * 7)
        inspect.plane_mode = option_combo("Colouring", inspect.plane_mode, PLANE_MODES, ("PCA RGB", "one channel"))
        help_marker("PCA RGB: the three main directions of each plane's features (fitted once per model, so colours "
                    "mean the same for every seed). One channel: a single feature through a colour map.")
        if inspect.plane_mode == "channel":
            channels = int(product.channels) if product is not None else 32
            imgui.set_next_item_width(imgui.get_font_size() * 8)
            changed, channel = imgui.slider_int("Channel", inspect.plane_channel, 0, max(channels - 1, 0))
            if changed:
                inspect.plane_channel = channel
            imgui.same_line()
            imgui.set_next_item_width(imgui.get_font_size() * 6)
            inspect.plane_colormap = option_combo("Map", inspect.plane_colormap, COLORMAPS)
        if product is None:
            waiting_text(self.context.info.extras, PLANES)
            return
        self._planes(product)

    def _planes(self, product: PlanesProduct) -> None:
        images = product.images  # [3, D, H, W, 3]
        _, depth, height, width, _ = images.shape
        spacing = imgui.get_style().item_spacing.x
        available = imgui.get_content_region_avail()
        # Three rows of pictures, each under one line of statistics, fit the panel without scrolling.
        fit_height = (available.y - 3 * imgui.get_text_line_height_with_spacing()) / 3 * width / height - spacing
        cell = max(min((available.x - spacing * (depth - 1)) / depth, fit_height), 16.0)
        self.hovered = None
        for plane, name in enumerate(product.plane_names):
            stats = product.statistics[plane]
            imgui.text(f"{name}   mean {stats.mean:.3f}  std {stats.std:.3f}  min {stats.min:.2f}  max {stats.max:.2f}")
            for depth_index in range(depth):
                if depth_index:
                    imgui.same_line()
                texture = self.textures.show(f"{plane}:{depth_index}", images[plane, depth_index])
                # Rows grow with the world coordinate: shown flipped so that up is up.
                hover = hoverable_image(texture, (cell, cell * height / width), (height, width), flip_rows=True)
                if hover is not None:
                    row, column = (int(np.clip(round(v), 0, n - 1)) for v, n in zip(hover, (height, width)))
                    self.hovered = (plane, depth_index, row, column)
                    self._tooltip(product, images, (height, width, depth))

    def _tooltip(self, product: PlanesProduct, images: np.ndarray, shape: tuple[int, int, int]) -> None:
        plane, depth_index, row, column = self.hovered
        world = plane_texel_to_world(plane, row, column, depth_index, shape, float(product.box_warp))
        color = images[plane, depth_index, row, column]
        imgui.begin_tooltip()
        imgui.text(f"plane {product.plane_names[plane]}, slice {depth_index}, texel (row {row}, column {column})")
        imgui.text(f"world ({world[0]:+.3f}, {world[1]:+.3f}, {world[2]:+.3f})")
        if product.mode == "channel":
            low, high = (float(v) for v in product.value_ranges[plane])
            value = colormap_value(color, self.context.state.inspect.plane_colormap, low, high)
            imgui.text(f"channel {product.channel} = {value:.3g}  (map {low:.3g} .. {high:.3g})")
        imgui.text(f"RGB {tuple(int(v) for v in color)}")
        imgui.end_tooltip()
