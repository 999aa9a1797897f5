"""Density panel: an axis-aligned slice of the density field with a colour bar and the body drawn over it,
and the profile of one pixel's ray (sigma, weights and the rendered depth along it) picked on the render.

Both come from the renderer's "density_slice" and "ray_profile" extras (renderer/inspect_products.py).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from imgui_bundle import imgui, implot

from renderer.products import DENSITY_SLICE, RAY_PROFILE, DensitySliceProduct
from viz.context import WidgetContext
from widgets.common import help_marker, option_combo, section, slider_float
from widgets.inspect_common import ProductMemory, TextureSet, colorbar, hoverable_image, waiting_text

AXES = ("x", "y", "z")
QUANTITIES = ("sigma_raw", "density", "opacity")
SPACES = ("canonical", "posed")
COLORMAPS = ("magma", "viridis", "gray")
OFFSET_LIMIT = 0.5  # slices beyond half the render box show nothing
CROPPED_BELOW = -999.0  # the renderer gives cropped samples raw sigma -1000: they are left out of the plot
SHELL_COLOR = np.array([80, 220, 255], np.uint8)  # thickness shell outline, painted into the slice picture
BODY_COLOR = (1.0, 1.0, 1.0, 0.9)  # body cross-section lines
# World axes along (columns, rows) of a slice and their signs (core/inspect/slices.py).
SLICE_FRAMES = {"z": ((0, 1.0), (1, -1.0)), "x": ((2, -1.0), (1, -1.0)), "y": ((0, 1.0), (2, 1.0))}


def slice_pixel_to_world(axis: str, offset: float, row: float, column: float, resolution: int,
                         half_extent: float) -> np.ndarray:
    """World point [3] of slice pixel (row, column) in index space (pixel centres at integers)."""
    world = np.zeros(3)
    world["xyz".index(axis)] = offset
    for index, (world_axis, sign) in zip((column, row), SLICE_FRAMES[axis]):
        world[world_axis] = sign * (-half_extent + (index + 0.5) * 2.0 * half_extent / resolution)
    return world


def slice_picture(product: DensitySliceProduct) -> np.ndarray:
    """The slice image [R, R, 3] uint8 with the thickness shell's outline painted in (when present)."""
    image = np.array(product.image, dtype=np.uint8)
    contour = product.shell_contour
    if contour is not None:
        image[np.asarray(contour, dtype=bool)] = SHELL_COLOR
    return image


class DensityWidget:
    """Edits `state.inspect.slice_*` and `ray_*`; shows the slice and the ray profile of the newest render."""

    def __init__(self, context: WidgetContext, shown_image: Callable[[], np.ndarray | None]):
        self.context = context
        self.shown_image = shown_image  # returns the newest rendered image [H, W, 3] (the ray is picked on it)
        self.textures = TextureSet()
        self.memory = ProductMemory()
        self._picture_source: int | None = None
        self._picture: np.ndarray | None = None

    def __call__(self) -> None:
        inspect = self.context.state.inspect
        self.context.wanted_extras.add(DENSITY_SLICE)
        if inspect.ray_enabled:
            self.context.wanted_extras.add(RAY_PROFILE)
        self._settings(inspect)
        extras = self.context.info.extras
        product = self.memory.get(extras, DENSITY_SLICE)
        if product is None:
            waiting_text(extras, DENSITY_SLICE)
        else:
            self._slice(product)
        section("Ray profile")
        _, inspect.ray_enabled = imgui.checkbox("Plot the ray of a clicked pixel", inspect.ray_enabled)
        if inspect.ray_enabled:
            self._ray(inspect, extras)

    def _settings(self, inspect) -> None:
        width = imgui.get_font_size() * 6
        imgui.set_next_item_width(width)
        inspect.slice_axis = option_combo("Axis", inspect.slice_axis, AXES)
        imgui.same_line()
        imgui.set_next_item_width(-imgui.get_font_size() * 4)
        inspect.slice_offset = slider_float("Offset", inspect.slice_offset, -OFFSET_LIMIT, OFFSET_LIMIT, "%.3f")
        imgui.set_next_item_width(width)
        inspect.slice_quantity = option_combo("Quantity", inspect.slice_quantity, QUANTITIES,
                                              ("raw sigma", "density", "opacity"))
        help_marker("raw sigma: the decoder's output. density: softplus(sigma). opacity: 1 - exp(-density * step).")
        imgui.same_line()
        imgui.set_next_item_width(width)
        inspect.slice_space = option_combo("Space", inspect.slice_space, SPACES)
        imgui.set_next_item_width(width)
        inspect.slice_colormap = option_combo("Colours", inspect.slice_colormap, COLORMAPS)
        imgui.same_line()
        _, inspect.slice_body = imgui.checkbox("Body and shell", inspect.slice_body)

    def _slice(self, product: DensitySliceProduct) -> None:
        if id(product.image) != self._picture_source:
            self._picture, self._picture_source = slice_picture(product), id(product.image)
        resolution = self._picture.shape[0]
        bar_width = imgui.get_font_size() * 4
        side = max(min(imgui.get_content_region_avail().x - bar_width, imgui.get_font_size() * 18), 32.0)
        origin = imgui.get_cursor_screen_pos()
        hover = hoverable_image(self.textures.show("slice", self._picture), (side, side), (resolution, resolution))
        self._body_lines(product, origin, side, resolution)
        if hover is not None:
            row, column = (int(np.clip(round(v), 0, resolution - 1)) for v in hover)
            world = slice_pixel_to_world(product.axis, product.offset, row, column, resolution,
                                         product.half_extent)
            imgui.set_tooltip(f"{product.quantity} {product.values[row, column]:.4g}\n"
                              f"world ({world[0]:+.3f}, {world[1]:+.3f}, {world[2]:+.3f})")
        imgui.same_line()
        low, high = product.value_range
        colorbar(self.textures, self.context.state.inspect.slice_colormap, low, high, side)
        imgui.text_disabled(f"{product.space} slice {product.axis} = {product.offset:+.3f}, "
                            f"{resolution}x{resolution}, half extent {product.half_extent:.2f}")

    def _body_lines(self, product: DensitySliceProduct, origin, side: float, resolution: int) -> None:
        segments = product.body_segments
        if segments is None or not self.context.state.inspect.slice_body:
            return
        draw = imgui.get_window_draw_list()
        scale = side / resolution
        color = imgui.get_color_u32(BODY_COLOR)
        draw.push_clip_rect(origin, (origin.x + side, origin.y + side), True)  # the body reaches below the slice
        # Segment ends are (row, column) in index space: pixel centres at integers.
        for (row_a, col_a), (row_b, col_b) in np.asarray(segments, dtype=np.float32):
            draw.add_line((origin.x + (col_a + 0.5) * scale, origin.y + (row_a + 0.5) * scale),
                          (origin.x + (col_b + 0.5) * scale, origin.y + (row_b + 0.5) * scale), color, 1.5)
        draw.pop_clip_rect()

    def _ray(self, inspect, extras: dict) -> None:
        image = self.shown_image()
        if image is None:
            imgui.text_disabled("no render yet")
            return
        height, width = image.shape[:2]
        thumb = imgui.get_font_size() * 6
        hover = hoverable_image(self.textures.show("render", image), (thumb, thumb * height / width), (height, width))
        if hover is not None and imgui.is_item_clicked():
            row, column = (int(np.clip(round(v), 0, n - 1)) for v, n in zip(hover, (height, width)))
            inspect.ray_pixel = (float(row), float(column))
        imgui.same_line()
        imgui.begin_group()
        imgui.text("click the render")
        imgui.text(f"pixel row {int(inspect.ray_pixel[0])}, column {int(inspect.ray_pixel[1])}")
        profile = self.memory.get(extras, RAY_PROFILE)
        if profile is not None:
            imgui.text(f"depth {profile.depth:.3f}, opacity {profile.opacity:.3f}")
        imgui.end_group()
        if profile is None:
            waiting_text(extras, RAY_PROFILE)
            return
        depths = np.asarray(profile.depths, np.float64)
        weights = np.asarray(profile.weights, np.float64)
        middles = (depths[1:] + depths[:-1]) / 2.0 if len(weights) == len(depths) - 1 else depths[:len(weights)]
        sigma = np.asarray(profile.sigma_raw, np.float64)
        inside = sigma > CROPPED_BELOW
        if implot.begin_plot("##ray profile", (-1.0, imgui.get_font_size() * 11)):
            implot.setup_axes("depth (world units)", "", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
            implot.plot_line("raw sigma", depths[inside], sigma[inside])
            implot.plot_line("weight x 10", middles, weights * 10.0)
            implot.plot_scatter("samples", depths, np.zeros_like(depths))
            implot.plot_inf_lines("rendered depth", np.array([profile.depth], np.float64))
            implot.end_plot()
