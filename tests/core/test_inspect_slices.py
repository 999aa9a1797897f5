"""Density slices of an analytic ellipsoid, body cross-sections of a known sphere, the thickness shell, ray profiles."""
import dataclasses
import math

import numpy as np
import pytest
import torch
import trimesh

from core.camera import orbit_camera
from core.config import preset
from core.generator import TriGridGenerator
from core.inspect import (
    SliceOptions, body_cross_section, density_slice, mask_outline, ray_profile, slice_pixel_to_world,
    thickness_shell,
)
from tests.core.test_mesh_fakes import CENTRE, PEAK, RADII, EllipsoidGenerator, fake_planes

RESOLUTION = 100  # 0.01 world units per pixel over the unit box


def _pixel_of(world, resolution=RESOLUTION, half=0.5):
    """Index of the pixel whose centre is nearest `world` along an increasing axis."""
    return (world + half) * resolution / (2 * half) - 0.5


# Written out independently of the module: (world axis, sign) of columns and rows for each slice axis.
EXPECTED_FRAMES = {"z": ((0, 1), (1, -1)), "x": ((2, -1), (1, -1)), "y": ((0, 1), (2, 1))}


@pytest.mark.parametrize("axis", ["x", "y", "z"])
def test_slice_shows_the_ellipsoid_in_place_and_orientation(axis):
    axis_index = "xyz".index(axis)
    options = SliceOptions(axis=axis, offset=CENTRE[axis_index], resolution=RESOLUTION)
    result = density_slice(EllipsoidGenerator(), fake_planes(), options)
    inside = result.values > 0
    rows, columns = np.nonzero(inside)
    (u_axis, u_sign), (v_axis, v_sign) = EXPECTED_FRAMES[axis]
    # Centre and extent of the inside region along columns and rows, in pixels.
    assert columns.mean() == pytest.approx(_pixel_of(u_sign * CENTRE[u_axis]), abs=0.6)
    assert rows.mean() == pytest.approx(_pixel_of(v_sign * CENTRE[v_axis]), abs=0.6)
    assert columns.max() - columns.min() + 1 == pytest.approx(2 * RADII[u_axis] * RESOLUTION, abs=2)
    assert rows.max() - rows.min() + 1 == pytest.approx(2 * RADII[v_axis] * RESOLUTION, abs=2)
    assert result.values.max() == pytest.approx(PEAK, rel=0.01)
    assert result.value_range == (float(result.values.min()), float(result.values.max()))
    assert result.image.shape == (RESOLUTION, RESOLUTION, 3) and result.image.dtype == np.uint8


def test_front_slice_puts_high_y_at_the_top_and_positive_x_on_the_right():
    world = slice_pixel_to_world("z", 0.3, row=[0, 99], column=[99, 0], resolution=100, half_extent=0.5)
    np.testing.assert_allclose(world, [[0.495, 0.495, 0.3], [-0.495, -0.495, 0.3]])


def test_density_and_opacity_follow_the_renderer_activation():
    generator = EllipsoidGenerator()
    rendering = generator.config.rendering
    offset = CENTRE[2]
    raw = density_slice(generator, fake_planes(), SliceOptions(offset=offset, resolution=RESOLUTION)).values
    density = density_slice(generator, fake_planes(),
                            SliceOptions(offset=offset, resolution=RESOLUTION, quantity="density")).values
    opacity = density_slice(generator, fake_planes(),
                            SliceOptions(offset=offset, resolution=RESOLUTION, quantity="opacity", step=0.02)).values
    expected_density = np.log1p(np.exp(raw.astype(np.float64) + rendering.density_bias))
    np.testing.assert_allclose(density, expected_density, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(opacity, 1 - np.exp(-expected_density * 0.02), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="quantity"):
        density_slice(generator, fake_planes(), SliceOptions(quantity="alpha"))


def test_posed_slice_evaluates_warped_points():
    shift = torch.tensor([0.1, -0.05, 0.0])
    options = SliceOptions(axis="z", offset=CENTRE[2], resolution=RESOLUTION)
    result = density_slice(EllipsoidGenerator(), fake_planes(), options, point_warp=lambda points: points - shift)
    rows, columns = np.nonzero(result.values > 0)
    assert columns.mean() == pytest.approx(_pixel_of(CENTRE[0] + 0.1), abs=0.6)
    assert rows.mean() == pytest.approx(_pixel_of(-(CENTRE[1] - 0.05)), abs=0.6)


def test_cross_section_of_a_sphere_is_its_circle():
    centre, radius = np.array([0.1, 0.05, -0.02]), 0.25
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=radius)
    vertices = sphere.vertices + centre
    for axis, offset in (("z", -0.02), ("x", 0.2), ("y", 0.0)):
        segments = body_cross_section(vertices, sphere.faces, axis, offset, RESOLUTION, 0.5)
        assert len(segments) > 20
        world = slice_pixel_to_world(axis, offset, segments[..., 0], segments[..., 1], RESOLUTION, 0.5)
        circle = math.sqrt(radius**2 - (offset - centre["xyz".index(axis)]) ** 2)
        distance = np.linalg.norm(world - _projected(centre, axis, offset), axis=-1)
        assert distance.max() <= circle + 1e-5 and distance.min() > 0.97 * circle
    assert len(body_cross_section(vertices, sphere.faces, "y", 0.4, RESOLUTION, 0.5)) == 0


def _projected(centre, axis, offset):
    point = centre.copy()
    point["xyz".index(axis)] = offset
    return point


def test_thickness_shell_holds_the_points_near_the_posed_surface():
    from core.body import load_body_model, pose_from_degrees

    body = load_body_model()
    pose = pose_from_degrees((0, 0, 0), (20, 30, 0))
    options = SliceOptions(axis="x", offset=0.0, resolution=48)
    thickness = 0.05
    shell = thickness_shell(body, pose, options, thickness=thickness)
    rows, columns = np.meshgrid(np.arange(48), np.arange(48), indexing="ij")
    world = slice_pixel_to_world("x", 0.0, rows, columns, 48, 0.5).reshape(-1, 3)
    posed = body.pose_vertices(pose[None])[0].numpy()
    in_box = posed[np.unique(body.faces[body.box_face_mask].numpy())]
    nearest_vertex = np.min(np.linalg.norm(world[:, None] - in_box[None], axis=-1), axis=1).reshape(48, 48)
    faces = body.faces.numpy()
    longest_edge = max(np.linalg.norm(posed[faces[:, a]] - posed[faces[:, b]], axis=1).max()
                       for a, b in ((0, 1), (1, 2), (2, 0)))
    assert shell.any() and not shell.all()
    assert shell[nearest_vertex < thickness].all()  # a vertex that close means a face at least as close
    assert not shell[nearest_vertex > thickness + longest_edge].any()
    outline = mask_outline(shell)
    assert outline.sum() < shell.sum() and not (outline & ~shell).any()


def test_ray_profile_finds_an_opaque_sphere_at_its_known_depth():
    # A steep field: opaque within about 0.01 of its surface, so the expected depth is the surface's.
    generator = EllipsoidGenerator(centre=(0.0, 0.0, 0.0), radii=(0.2, 0.2, 0.2), peak=2000.0)
    camera = orbit_camera(0.0, 0.0, radius=2.7, lookat=(0.0, 0.0, 0.0))
    centre_ray = ray_profile(generator, fake_planes(), camera, 15, (7, 7))
    assert centre_ray.depth == pytest.approx(2.5, abs=0.015)
    assert centre_ray.opacity == pytest.approx(1.0, abs=1e-3)
    peak = np.argmax(centre_ray.weights)
    assert 0.5 * (centre_ray.depths[peak] + centre_ray.depths[peak + 1]) == pytest.approx(2.5, abs=0.03)
    assert np.all(np.diff(centre_ray.depths) >= 0)
    assert len(centre_ray.weights) == len(centre_ray.depths) - 1 == len(centre_ray.sigma_raw) - 1
    np.testing.assert_allclose(centre_ray.direction, [0, 0, -1], atol=1e-6)
    corner = ray_profile(generator, fake_planes(), camera, 15, (0, 0))
    assert corner.opacity < 1e-3
    with pytest.raises(ValueError, match="outside"):
        ray_profile(generator, fake_planes(), camera, 15, (15, 0))


def test_ray_profile_explains_the_rendered_pixel():
    generator = TriGridGenerator(preset("tiny")).eval().requires_grad_(False)
    camera = orbit_camera(30.0, 10.0)
    ws = generator.mapping(torch.randn(1, generator.config.z_dim), camera)
    planes = generator.synthesize_trigrid(ws)
    rendering = dataclasses.replace(generator.config.rendering, deterministic=True)
    with torch.no_grad():
        output = generator.render(ws, planes, camera, neural_resolution=16, rendering=rendering,
                                  outputs=("image_raw",))
    profile = ray_profile(generator, planes, camera, 16, (5, 11))
    assert profile.depth == pytest.approx(float(output.image_depth[0, 0, 5, 11]), abs=1e-5)
    assert profile.opacity == pytest.approx(float(output.image_mask[0, 0, 5, 11] + 0.001) / 1.002, abs=1e-5)
