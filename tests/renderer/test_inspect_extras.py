"""Inspect extras of the renderer on the tiny preset: shapes, seed dependence, a stable PCA basis, slices equal to
core.inspect's, body overlays on the surface, ray weights that add up to the rendered mask, cache reuse."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.checkpoint import PRESET_INIT_SEED
from core.config import preset
from renderer.engine import Renderer
from renderer.products import PlaneStatistics
from renderer.requests import InspectOptions, RenderRequest

TINY = preset("tiny")
INSPECT = InspectOptions(slice_resolution=48, ray_pixel=(20, 12))
BASE = RenderRequest(checkpoint="preset:tiny", device="cpu", deterministic=True, inspect=INSPECT)
ALL = ("planes", "density_slice", "ray_profile")
POSE = (20.0, 0.0, 0.0, 0.0, 30.0, 0.0)  # a neck nod and a head turn
WARP_GRID_RESOLUTION = 16  # coarse warp grid: quick to build, same code path


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer("cpu", warp_grid_resolution=WARP_GRID_RESOLUTION)


def _extras(renderer: Renderer, request: RenderRequest) -> dict:
    result = renderer.render(request)
    assert result.error is None, result.error
    assert "errors" not in result.extras, result.extras["errors"]
    return result.extras


@pytest.fixture(scope="module")
def tiny_scene():
    """The tiny preset rebuilt independently of the renderer: generator, ws and planes of seed 3."""
    from core.camera import orbit_camera
    from core.generator import TriGridGenerator
    from core.latents import blended_ws

    torch.manual_seed(PRESET_INIT_SEED)
    generator = TriGridGenerator(TINY).eval()
    with torch.no_grad():
        ws = blended_ws(generator, ((3, 1.0),), orbit_camera(0.0, 0.0), torch.zeros(1, 6), 0.7, None)
        planes = generator.synthesize_trigrid(ws)
    return generator, ws, planes


def test_each_extra_has_its_shapes_and_types_and_follows_the_seed(renderer):
    extras = _extras(renderer, BASE.replace(extras=ALL))
    depth, size, channels = TINY.triplane_depth, TINY.backbone_resolution, TINY.triplane_channels
    planes = extras["planes"]
    assert planes.images.dtype == np.uint8 and planes.images.shape == (3, depth, size, size, 3)
    assert planes.basis_components.shape == (3, 3, channels)
    assert len(planes.statistics) == 3 and all(isinstance(stats, PlaneStatistics) for stats in planes.statistics)
    assert all(stats.min <= stats.mean <= stats.max for stats in planes.statistics)
    sliced = extras["density_slice"]
    assert sliced.image.dtype == np.uint8 and sliced.image.shape == (48, 48, 3)
    assert sliced.values.dtype == np.float32 and sliced.values.shape == (48, 48)
    low, high = sliced.value_range
    assert low == pytest.approx(sliced.values.min()) and high == pytest.approx(sliced.values.max())
    assert sliced.shell_mask.dtype == bool and sliced.shell_mask.shape == (48, 48)
    assert sliced.body_segments.ndim == 3 and sliced.body_segments.shape[1:] == (2, 2)
    ray = extras["ray_profile"]
    assert ray.depths.dtype == np.float32 and ray.weights.shape == (len(ray.depths) - 1,)
    assert ray.sigma_raw.shape == ray.depths.shape and np.all(np.diff(ray.depths) >= 0)
    for name, key in (("planes", "images"), ("density_slice", "values"), ("ray_profile", "sigma_raw")):
        other = _extras(renderer, BASE.replace(extras=ALL, seeds=((9, 1.0),)))
        assert not np.array_equal(getattr(extras[name], key), getattr(other[name], key)), name
    # Channel mode: one feature through a colour map, its range per plane.
    channel = _extras(renderer, BASE.replace(extras=("planes",), inspect=INSPECT.replace(plane_mode="channel",
                                                                                        plane_channel=2)))["planes"]
    assert channel.basis_components is None and np.all(channel.value_ranges[:, 0] < channel.value_ranges[:, 1])


def test_pca_basis_is_kept_per_model_so_close_latents_keep_their_colours(renderer):
    near = _extras(renderer, BASE.replace(extras=("planes",), seeds=((4, 1.0),)))["planes"]
    nearby = _extras(renderer, BASE.replace(extras=("planes",), seeds=((4, 1.0), (5, 0.03))))["planes"]
    fresh = _extras(Renderer("cpu"), BASE.replace(extras=("planes",), seeds=((7, 1.0),)))["planes"]
    # Same basis for every latent of the model, whoever asked first (it is fitted on w_avg's tri-grid).
    assert np.array_equal(near.basis_components, nearby.basis_components)
    assert np.array_equal(near.basis_components, fresh.basis_components)
    difference = np.abs(near.images.astype(int) - nearby.images.astype(int))
    assert 0 < difference.mean() < 3.0  # a small move of the latent moves the colours a little, not a sign flip


def test_density_slice_equals_core_inspect_canonical_and_posed(renderer, tiny_scene):
    from core.body import load_body_model
    from core.body.warp import make_warp
    from core.inspect import SliceOptions, density_slice
    from core.scene import pose_radians

    generator, _, planes = tiny_scene
    options = INSPECT.replace(slice_axis="x", slice_offset=0.05, slice_quantity="density", slice_body=False)
    request = BASE.replace(seeds=((3, 1.0),), extras=("density_slice",), inspect=options)
    got = _extras(renderer, request)["density_slice"]
    expected = density_slice(generator, planes, SliceOptions(axis="x", offset=0.05, resolution=48, quantity="density"))
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-5, atol=1e-6)
    assert np.array_equal(got.image, expected.image) and got.space == "canonical"

    posed = _extras(renderer, request.replace(pose_deg=POSE, cond_pose_deg=(0.0,) * 6,
                                              inspect=options.replace(slice_space="posed")))["density_slice"]
    body = load_body_model(None)
    warp = make_warp(body, pose_radians(POSE, torch.device("cpu")), mode=request.warp_mode, thickness=TINY.thickness,
                     box_warp=TINY.rendering.box_warp, resolution=WARP_GRID_RESOLUTION)
    expected_posed = density_slice(generator, planes, SliceOptions(axis="x", offset=0.05, resolution=48,
                                                                   quantity="density"), point_warp=warp)
    assert posed.space == "posed"
    np.testing.assert_allclose(posed.values, expected_posed.values, rtol=1e-4, atol=1e-5)
    assert not np.allclose(posed.values, got.values)


def test_body_cross_section_lies_inside_the_thickness_shell(renderer):
    sliced = _extras(renderer, BASE.replace(extras=("density_slice",),
                                            inspect=INSPECT.replace(slice_offset=0.02)))["density_slice"]
    segments, shell = sliced.body_segments, sliced.shell_mask
    assert len(segments) > 20  # the neck and head cross z = 0.02
    ends = np.round(segments.reshape(-1, 2)).astype(int)
    inside = (ends >= 0).all(1) & (ends < 48).all(1)
    # The surface is at distance 0 from itself, so every crossing pixel lies in the shell.
    assert shell[ends[inside, 0], ends[inside, 1]].all()
    assert 0 < shell.mean() < 1 and not (sliced.shell_contour & ~shell).any()


def test_ray_weights_add_up_to_the_rendered_mask_at_that_pixel(renderer):
    mask_request = BASE.replace(output="image_mask", extras=("ray_profile",))
    mask = renderer.render(mask_request).image[..., 0].astype(np.float64) / 255
    for row, column in ((16, 16), (20, 12), (2, 30)):
        ray = _extras(renderer, mask_request.replace(inspect=INSPECT.replace(ray_pixel=(row, column))))["ray_profile"]
        assert ray.neural_pixel == (row, column)
        assert float(ray.weights.sum()) == pytest.approx(ray.opacity, abs=1e-5)
        assert ray.opacity == pytest.approx(mask[row, column], abs=1 / 255 + 1e-6)
    # On the super-resolved image, a pixel maps onto the neural render's ray grid.
    shown = _extras(renderer, BASE.replace(extras=("ray_profile",),
                                           inspect=INSPECT.replace(ray_pixel=(41, 25))))["ray_profile"]
    scale = TINY.neural_resolution / TINY.img_resolution
    assert shown.neural_pixel == (int(41 * scale), int(25 * scale))
    assert shown.opacity == pytest.approx(mask[shown.neural_pixel], abs=1 / 255 + 1e-6)


def test_changing_only_the_extras_reuses_the_cached_scene_and_image(renderer):
    request = BASE.replace(seeds=((12, 1.0),), extras=("density_slice",))
    first = renderer.render(request)
    stats = dict(renderer.stats)
    moved = renderer.render(request.replace(inspect=INSPECT.replace(slice_offset=-0.1), extras=ALL))
    assert moved.error is None and np.array_equal(first.image, moved.image)
    for stage in ("ws", "trigrid", "view"):
        assert renderer.stats[f"{stage}_misses"] == stats[f"{stage}_misses"], stage
    assert renderer.stats["view_hits"] == stats["view_hits"] + 1
    assert moved.timings_ms["rendering"] == 0.0


def test_bad_inspect_input_gives_clear_errors_and_keeps_the_render(renderer):
    result = renderer.render(BASE.replace(extras=("ray_profile", "planes"),
                                          inspect=INSPECT.replace(ray_pixel=(500, 0))))
    assert result.ok and "planes" in result.extras
    assert "outside the shown 64x64 image" in result.extras["errors"]["ray_profile"]
    with pytest.raises(ValueError, match="slice_axis.*choose one of x, y, z"):
        InspectOptions(slice_axis="w")
    with pytest.raises(ValueError, match="low < high"):
        InspectOptions(slice_value_range=(1.0, 0.0))


def test_coarse_shell_is_scaled_up_by_nearest_pixel_centre():
    from renderer.inspect_products import nearest_upsampled

    mask = np.array([[True, False], [False, True]])
    assert np.array_equal(nearest_upsampled(mask, 4), np.kron(mask, np.ones((2, 2), bool)))
    assert np.array_equal(nearest_upsampled(mask, 2), mask)
    odd = nearest_upsampled(np.eye(3, dtype=bool), 7)
    # Fine pixel centres (i + 0.5) * 3 / 7 = 0.21, 0.64, 1.07, 1.5, 1.93, 2.36, 2.79 fall in coarse pixels:
    coarse = np.array([0, 0, 1, 1, 1, 2, 2])
    assert np.array_equal(odd, coarse[:, None] == coarse[None, :])
