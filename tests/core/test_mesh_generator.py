"""Generator meshes: analytic ellipsoid through the generator path, posed rigid rotation, colours, budget, fast path."""
import dataclasses
import math

import numpy as np
import pytest
import scipy.spatial
import torch
import trimesh

from core.camera import orbit_camera
from core.config import preset
from core.generator import TriGridGenerator
from core.mesh import (
    GridTooLargeError, MeshCancelled, MeshOptions, density_grid, generator_density_field, generator_mesh,
    median_level, smooth_grid, taubin_smooth,
)
from core.mesh.separable import separable_density_grid
from tests.core.test_mesh_fakes import (
    CENTRE, COLOUR_GAIN, RADII, EllipsoidGenerator, ellipsoid_sigma, fake_planes, fake_ws,
)

BOX = ((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))


def _ellipsoid_error(vertices, centre, radii, rotation=None):
    """|sum((R^T (v - c) / r)^2) - 1| per vertex: 0 on the ellipsoid surface."""
    local = vertices - np.asarray(centre)
    if rotation is not None:
        local = local @ rotation  # row vectors: v R = (R^T v^T)^T
    return np.abs(((local / np.asarray(radii)) ** 2).sum(1) - 1)


def test_canonical_mesh_lies_on_the_ellipsoid_in_world_units_and_orientation():
    generator = EllipsoidGenerator()
    mesh = generator_mesh(generator, fake_planes(), fake_ws(), MeshOptions(resolution=64, level=0.0, bounds=BOX))
    assert len(mesh.faces) > 1000
    # Each semi-axis shows up along its own world axis: a transposed or flipped grid would not.
    np.testing.assert_allclose(mesh.vertices.max(0) - mesh.vertices.min(0), 2 * np.array(RADII), atol=0.01)
    np.testing.assert_allclose((mesh.vertices.max(0) + mesh.vertices.min(0)) / 2, CENTRE, atol=0.005)
    assert _ellipsoid_error(mesh.vertices, CENTRE, RADII).max() < 0.05
    assert trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight
    volume = trimesh.Trimesh(mesh.vertices, mesh.faces).volume
    assert volume == pytest.approx(4 / 3 * math.pi * np.prod(RADII), rel=0.03)  # positive: outward winding


def test_vertex_colours_are_the_raw_colour_at_each_vertex():
    generator = EllipsoidGenerator()
    mesh = generator_mesh(generator, fake_planes(), fake_ws(), MeshOptions(resolution=32, level=0.0, bounds=BOX))
    expected = np.round((np.clip(COLOUR_GAIN * mesh.vertices, -1, 1) + 1) * 127.5)
    assert mesh.colors.dtype == np.uint8
    assert np.abs(mesh.colors.astype(int) - expected).max() <= 1


def _rotation_about_x_then_y(nod_deg, turn_deg):
    nod, turn = math.radians(nod_deg), math.radians(turn_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(nod), -math.sin(nod)], [0, math.sin(nod), math.cos(nod)]])
    ry = np.array([[math.cos(turn), 0, math.sin(turn)], [0, 1, 0], [-math.sin(turn), 0, math.cos(turn)]])
    return ry @ rx


def test_posed_extraction_of_a_rigidly_rotated_head_matches_the_rotated_canonical_mesh():
    from core.body import load_body_model

    head = load_body_model().head_joint.numpy().astype(np.float64)
    centre = tuple(head + np.array([0.0, 0.12, 0.04]))  # the ellipsoid sits where a head would
    generator = EllipsoidGenerator(centre=centre)
    rotation = _rotation_about_x_then_y(25.0, 40.0)
    rotation_t = torch.tensor(rotation, dtype=torch.float32)
    head_t = torch.tensor(head, dtype=torch.float32)

    def head_warp(points):  # observation -> canonical: undo the head's rotation about its joint
        return (points - head_t) @ rotation_t + head_t

    options = MeshOptions(resolution=64, level=0.0, bounds=BOX)
    canonical = generator_mesh(generator, fake_planes(), fake_ws(), options)
    posed = generator_mesh(generator, fake_planes(), fake_ws(), options, point_warp=head_warp)
    expected = (canonical.vertices - head) @ rotation.T + head
    assert _ellipsoid_error(posed.vertices, np.asarray(centre) @ rotation.T - head @ rotation.T + head, RADII,
                            rotation).max() < 0.06
    voxel = 1.0 / 63
    distances, _ = scipy.spatial.cKDTree(expected).query(posed.vertices)
    assert distances.max() < voxel
    # The colours follow the canonical point each posed vertex came from.
    source = head_warp(torch.tensor(posed.vertices)).numpy()
    colour = np.round((np.clip(COLOUR_GAIN * source, -1, 1) + 1) * 127.5)
    assert np.abs(posed.colors.astype(int) - colour).max() <= 1


def test_too_large_a_request_is_refused_before_any_work():
    generator = EllipsoidGenerator()
    with pytest.raises(GridTooLargeError, match=r"2048x2048x2048 grid needs 160.00 GiB to extract.*at most 598"):
        generator_mesh(generator, fake_planes(), fake_ws(), MeshOptions(resolution=2048, memory_budget=4 << 30))
    assert generator.calls == 0


def test_progress_ends_at_one_and_cancel_stops_extraction():
    generator = EllipsoidGenerator()
    fractions = []
    generator_mesh(generator, fake_planes(), fake_ws(), MeshOptions(resolution=16, level=0.0, chunk=1000),
                   progress=fractions.append)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) >= 5
    with pytest.raises(MeshCancelled):
        generator_mesh(generator, fake_planes(), fake_ws(), MeshOptions(resolution=16, chunk=1000),
                       cancel=lambda: generator.calls >= 2)
    with pytest.raises(ValueError, match="pass ws or colors=False"):
        generator_mesh(generator, fake_planes(), None, MeshOptions(resolution=8))


def test_crop_matches_the_renderer_and_closing_the_boundary_makes_a_watertight_mesh():
    wide = EllipsoidGenerator(centre=(0.0, 0.0, 0.0), radii=(0.6, 0.3, 0.3))  # wider than the crop in x
    mesh = generator_mesh(wide, fake_planes(), fake_ws(), MeshOptions(resolution=48, level=0.0, bounds=BOX))
    limit = 0.5 - wide.config.rendering.triplane_crop
    assert mesh.vertices[:, 0].max() == pytest.approx(limit, abs=1.5 / 47)
    assert trimesh.Trimesh(mesh.vertices, mesh.faces).is_watertight
    uncropped = generator_mesh(wide, fake_planes(), fake_ws(),
                               MeshOptions(resolution=48, level=0.0, bounds=BOX, crop=False))
    assert uncropped.vertices[:, 0].max() > 0.48  # closed on the box wall instead


def test_smoothing_keeps_the_surface_in_place():
    generator = EllipsoidGenerator(radii=(0.2, 0.2, 0.2))
    options = MeshOptions(resolution=48, level=0.0, bounds=BOX, colors=False)
    mesh = generator_mesh(generator, fake_planes(), fake_ws(), options)

    def radius(vertices):
        return np.linalg.norm(vertices - np.array(CENTRE), axis=1)

    noisy = mesh.vertices + np.random.default_rng(0).normal(0, 0.004, mesh.vertices.shape).astype(np.float32)
    smoothed = taubin_smooth(noisy, mesh.faces, 5)
    assert radius(smoothed).std() < 0.5 * radius(noisy).std()
    assert radius(smoothed).mean() == pytest.approx(0.2, abs=0.003)  # Taubin does not shrink the sphere
    blurred = generator_mesh(generator, fake_planes(), fake_ws(), dataclasses.replace(options, grid_smoothing=1.0))
    assert radius(blurred.vertices).mean() == pytest.approx(0.2, abs=0.5 / 47)
    np.testing.assert_array_equal(smooth_grid(mesh.grid, 0.0), mesh.grid)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(3)
    generator = TriGridGenerator(preset("tiny")).eval().requires_grad_(False)
    ws = generator.mapping(torch.randn(1, generator.config.z_dim), orbit_camera(0.0, 0.0))
    return generator, ws, generator.synthesize_trigrid(ws)


def test_separable_fast_path_equals_pointwise_sampling(tiny):
    generator, _, planes = tiny
    bounds = ((-0.55, -0.5, -0.31), (0.52, 0.47, 0.45))  # past the box edge too: zero padding must match
    fast = separable_density_grid(generator, planes, (21, 18, 15), bounds)
    slow = density_grid(generator_density_field(generator, planes), (21, 18, 15), bounds)
    np.testing.assert_allclose(fast, slow, atol=1e-5)


def test_tiny_generator_mesh_colours_are_its_raw_torgb(tiny):
    generator, ws, planes = tiny
    grid = separable_density_grid(generator, planes, 24, ((-0.4, -0.5, -0.4), (0.4, 0.5, 0.4)))
    mesh = generator_mesh(generator, planes, ws, MeshOptions(resolution=24, level=median_level(grid)))
    assert len(mesh.faces) > 100
    np.testing.assert_array_equal(mesh.grid, grid)
    picked = torch.tensor(mesh.vertices[::97])[None]
    features = generator.sample_density(planes, picked)[1][0]  # [P, C]
    torgb = generator.torgb
    # ToRGB by hand: styles scale the input channels, then a plain matrix product and the bias.
    styles = torgb.affine(ws[:, -1])[0] * torgb.weight_gain
    rgb = features @ (torgb.weight[:, :, 0, 0] * styles).T + torgb.bias
    expected = np.round((rgb.clamp(-1, 1).numpy() + 1) * 127.5)
    assert np.abs(mesh.colors[::97].astype(int) - expected).max() <= 1


def test_ellipsoid_grid_values_are_the_field():
    generator = EllipsoidGenerator()
    grid = density_grid(generator_density_field(generator, fake_planes(), crop=False), 5, BOX)
    axis = np.linspace(-0.5, 0.5, 5)
    point = torch.tensor([[axis[1], axis[2], axis[3]]], dtype=torch.float32)
    assert grid[1, 2, 3] == pytest.approx(float(ellipsoid_sigma(point)[0, 0]), abs=1e-4)
