"""The inspection panels' pure helpers: request extras, texel and slice positions against core.inspect's,
colour read-back."""
from __future__ import annotations

import numpy as np
import pytest

from renderer.products import DensitySliceProduct
from renderer.requests import RenderRequest
from viz.inspect_request import inspect_options, with_inspect_extras
from viz.state import AppState, InspectState, load_state, save_state
from widgets.density_widget import slice_picture, slice_pixel_to_world
from widgets.inspect_common import colormaps
from widgets.trigrid_widget import colormap_value, plane_texel_to_world


def test_extras_follow_the_panels_drawn_and_previews_skip_them():
    inspect = InspectState(slice_axis="x", slice_offset=0.1, ray_pixel=(3.0, 4.0), plane_mode="channel")
    base = RenderRequest(extras=("predicted_pose",))
    assert with_inspect_extras(base, inspect, set()) is base
    asked = with_inspect_extras(base, inspect, {"ray_profile", "planes"})
    assert asked.extras == ("predicted_pose", "planes", "ray_profile")
    assert (asked.inspect.slice_axis == "x" and asked.inspect.ray_pixel == (3, 4)
            and asked.inspect.plane_mode == "channel")
    assert with_inspect_extras(base.replace(preview=True), inspect, {"planes"}).extras == ("predicted_pose",)
    assert with_inspect_extras(base, inspect, {"planes"}) == with_inspect_extras(base, inspect, {"planes"})


def test_bad_inspect_settings_are_refused_by_name():
    with pytest.raises(ValueError, match="inspect.slice_axis"):
        inspect_options(InspectState(slice_axis="w"))


def test_inspect_state_survives_a_save_and_load(tmp_path):
    state = AppState()
    state.inspect.mesh_level = 2.5
    state.inspect.export_formats = (1.0, 0.0, 1.0, 1.0)
    state.inspect.slice_space = "posed"
    loaded = load_state(save_state(state, tmp_path / "state.json"))
    assert loaded.inspect == state.inspect


def test_texel_positions_match_core_inspect():
    from core.inspect import plane_pixel_to_world

    shape = (8, 6, 3)  # H, W, D
    for plane in range(3):
        for row, column, depth_index in ((0, 0, 0), (7, 5, 2), (3.5, 2.25, 1)):
            ours = plane_texel_to_world(plane, row, column, depth_index, shape, box_warp=1.2)
            theirs = plane_pixel_to_world(plane, row, column, depth_index, 8, 6, 3, box_warp=1.2)
            assert np.allclose(ours, theirs)


def test_slice_positions_match_core_inspect():
    from core.inspect.slices import slice_pixel_to_world as core_slice_pixel_to_world

    for axis in "xyz":
        for row, column in ((0, 0), (127, 3), (64.5, 10)):
            ours = slice_pixel_to_world(axis, 0.15, row, column, 128, 0.5)
            assert np.allclose(ours, core_slice_pixel_to_world(axis, 0.15, row, column, 128, 0.5))


def test_colour_read_back_inverts_the_colour_map():
    for name in ("viridis", "magma", "gray"):
        for value in (-2.0, -0.4, 1.3, 3.0):
            color = colormaps.apply_colormap(np.array([value]), -2.0, 3.0, name)[0]
            assert colormap_value(color, name, -2.0, 3.0) == pytest.approx(value, abs=5.0 / 255 * 1.5)


def test_shell_outline_is_painted_into_the_slice_picture():
    image = np.zeros((4, 4, 3), np.uint8)
    contour = np.zeros((4, 4), bool)
    contour[1, 2] = True
    product = DensitySliceProduct(image=image, values=np.zeros((4, 4), np.float32), value_range=(0.0, 1.0),
                                  half_extent=0.5, axis="z", offset=0.0, quantity="sigma_raw", space="canonical",
                                  shell_contour=contour)
    picture = slice_picture(product)
    assert tuple(picture[1, 2]) == (80, 220, 255) and picture.sum() == 80 + 220 + 255
    assert image.sum() == 0, "the product's own image is left alone"


def test_products_are_kept_while_preview_results_carry_none():
    from widgets.inspect_common import ProductMemory

    memory = ProductMemory()
    assert memory.get({}, "planes") is None
    first, second = {"images": 1}, {"images": 2}
    assert memory.get({"planes": first}, "planes") is first
    assert memory.get({}, "planes") is first, "a preview result without extras keeps the last product on screen"
    assert memory.get({"planes": second}, "planes") is second
