"""Density grids, marching cubes and mesh files against an analytic sphere."""
import numpy as np
import pytest
import torch
import trimesh

from core.mesh import (
    GridTooLargeError, MeshCancelled, density_grid, export_mesh, extract_mesh, grid_axes, load_grid, save_grid,
)

CENTRE = (0.1, -0.05, 0.15)
RADIUS = 0.3


def sphere_field(points):
    """Positive inside a sphere, zero on its surface: a density-like field in world units."""
    return RADIUS - (points - torch.tensor(CENTRE, device=points.device)).norm(dim=-1)


def _face_normals(vertices, faces):
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return np.cross(b - a, c - a), (a + b + c) / 3


def test_grid_is_indexed_xyz_in_world_orientation(device):
    sizes = (7, 5, 6)
    bounds = ((-0.5, -0.2, 0.0), (0.5, 0.6, 0.9))
    seen_devices = []

    def field(points):
        seen_devices.append(points.device.type)
        return points[:, 0] + 10 * points[:, 1] + 100 * points[:, 2]

    grid = density_grid(field, sizes, bounds, chunk=17, device=device)
    assert grid.shape == sizes and grid.dtype == np.float32
    assert set(seen_devices) == {device.type}
    x, y, z = grid_axes(sizes, bounds)
    assert x[0] == -0.5 and x[-1] == 0.5 and y[-1] == pytest.approx(0.6) and z[0] == 0.0
    expected = x[:, None, None] + 10 * y[None, :, None] + 100 * z[None, None, :]
    np.testing.assert_allclose(grid, expected, atol=1e-4)


def test_sphere_mesh_has_the_right_radius_centre_and_outward_normals(device):
    grid = density_grid(sphere_field, 48, device=device)
    vertices, faces = extract_mesh(grid, level=0.0)
    assert vertices.dtype == np.float32 and faces.dtype == np.int64 and len(faces) > 1000
    distances = np.linalg.norm(vertices - np.array(CENTRE), axis=1)
    assert np.abs(distances - RADIUS).max() < 2e-3
    np.testing.assert_allclose(vertices.mean(0), CENTRE, atol=2e-3)
    normals, centroids = _face_normals(vertices, faces)
    assert (np.einsum("ij,ij->i", normals, centroids - np.array(CENTRE)) > 0).all()
    # A closed, consistently wound surface has a positive volume equal to the sphere's.
    mesh = trimesh.Trimesh(vertices, faces, process=True)
    assert mesh.is_watertight
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * RADIUS**3, rel=0.02)


def test_signed_distance_convention_flips_the_winding():
    grid = -density_grid(sphere_field, 24)
    vertices, faces = extract_mesh(grid, level=0.0, inside_is_above=False)
    normals, centroids = _face_normals(vertices, faces)
    assert (np.einsum("ij,ij->i", normals, centroids - np.array(CENTRE)) > 0).all()


def test_level_outside_the_field_gives_an_empty_mesh_and_bad_grids_are_named():
    vertices, faces = extract_mesh(density_grid(sphere_field, 8), level=5.0)
    assert vertices.shape == (0, 3) and faces.shape == (0, 3)
    bad = np.zeros((4, 4, 4), np.float32)
    bad[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        extract_mesh(bad, 0.0)
    with pytest.raises(ValueError, match="3-D"):
        extract_mesh(np.zeros((4, 4)), 0.0)


def test_progress_reaches_one_and_cancel_stops():
    fractions = []
    density_grid(sphere_field, 10, chunk=300, progress=fractions.append)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) == 4
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(MeshCancelled):
        density_grid(sphere_field, 10, chunk=100, cancel=cancel)
    assert len(calls) == 3


def test_oversized_grid_is_refused_before_allocating():
    with pytest.raises(GridTooLargeError, match=r"at most 377") as raised:
        density_grid(sphere_field, 2048, memory_budget=1 << 30)
    assert isinstance(raised.value, MemoryError)


def test_field_with_wrong_output_is_named():
    with pytest.raises(ValueError, match="must return"):
        density_grid(lambda points: points, 4)


@pytest.mark.parametrize("suffix", [".ply", ".obj", ".glb"])
def test_export_round_trip_keeps_vertices_faces_and_colours(tmp_path, suffix):
    vertices, faces = extract_mesh(density_grid(sphere_field, 12), level=0.0)
    colors = np.random.default_rng(0).integers(0, 256, size=(len(vertices), 3), dtype=np.uint8)
    path = export_mesh(tmp_path / f"sphere{suffix}", vertices, faces, colors)
    loaded = trimesh.load(path, force="mesh", process=False)
    np.testing.assert_allclose(loaded.vertices, vertices, atol=1e-5)
    np.testing.assert_array_equal(loaded.faces, faces)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], colors)
    assert [p.name for p in tmp_path.iterdir()] == [path.name], "no temporary file may be left behind"


def test_export_rejects_unknown_formats_and_bad_colours(tmp_path):
    vertices = np.zeros((3, 3))
    faces = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match=r"mesh\.stl.*\.ply"):
        export_mesh(tmp_path / "mesh.stl", vertices, faces)
    with pytest.raises(ValueError, match="vertex colours"):
        export_mesh(tmp_path / "mesh.ply", vertices, faces, colors=np.zeros((2, 3)))
    float_colours = np.array([[1.0, 0.0, 0.5]] * 3)
    loaded = trimesh.load(export_mesh(tmp_path / "mesh.ply", vertices, faces, float_colours), process=False)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[0], [255, 0, 128, 255])


def test_grid_file_round_trip_and_safe_loading(tmp_path):
    grid = density_grid(sphere_field, (4, 5, 6))
    path = save_grid(tmp_path / "grid.npy", grid)
    np.testing.assert_array_equal(load_grid(path), grid)
    pickled = tmp_path / "objects.npy"
    np.save(pickled, np.array([{"not": "a grid"}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="objects.npy.*save_grid"):
        load_grid(pickled)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        load_grid(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match=r"\.npy"):
        save_grid(tmp_path / "grid.bin", grid)


def test_warped_grid_gives_the_posed_shape():
    # A warp that maps observation points back by -t places the canonical sphere at CENTRE + t.
    shift = torch.tensor([0.05, 0.1, -0.08])
    grid = density_grid(sphere_field, 40, point_warp=lambda points: points - shift)
    vertices, _ = extract_mesh(grid, level=0.0)
    np.testing.assert_allclose(vertices.mean(0), np.array(CENTRE) + shift.numpy(), atol=3e-3)
