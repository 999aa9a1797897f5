"""The observation-to-canonical warp: identity at rest, rigid head motion undone, thickness cut-off,
agreement with a plain brute-force search, grid against exact, batch independence, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from core.body import load_body_model, pose_from_degrees
from core.body.probe_points import render_sample_points
from core.body.triangles import brute_force_nearest, triangle_frames
from core.body.warp import ExactWarp, GridWarp, WarpCache, make_warp

THICKNESS = 0.25
POSE = pose_from_degrees((12, -20, 5), (-15, 30, 10))


@pytest.fixture(scope="module")
def cpu_body():
    return load_body_model()


def body_on(device):
    return load_body_model(device=device)


def random_box_points(count: int, device, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(1, count, 3, generator=generator) - 0.5).to(device)


def brute_force_warp(body, pose: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The reference recipe written out plainly: all masked faces, nearest posed face, frame transfer."""
    faces = body.faces[body.box_face_mask]
    posed = body.pose_vertices(pose[None])[0][faces]
    canonical = body.canonical_vertices[faces]
    distance, nearest = brute_force_nearest(points[0], posed)
    origin_p, basis_p = triangle_frames(posed[nearest])
    origin_c, basis_c = triangle_frames(canonical[nearest])
    local = (basis_p @ (points[0] - origin_p)[..., None])[..., 0]
    carried = origin_c + (basis_c.transpose(1, 2) @ local[..., None])[..., 0]
    return torch.where((distance < THICKNESS)[:, None], carried, points[0])[None]


def test_zero_pose_is_the_identity(device):
    body = body_on(device)
    points = random_box_points(3000, device)
    warped = ExactWarp(body, torch.zeros(6, device=device))(points)
    assert torch.allclose(warped, points, atol=1e-5)
    assert make_warp(body, torch.zeros(6)) is None


def test_point_riding_on_the_rotated_head_maps_back(device):
    body = body_on(device)
    rotation_angle = math.radians(35)
    pose = torch.tensor([0, 0, 0, 0, rotation_angle, 0], device=device)  # head turn about y only
    # Canonical points 1-3 cm outside the crown, where every nearby face follows the head joint rigidly.
    crown = body.canonical_vertices[:, 1] > 0.2
    normals = body.canonical_vertices[crown] - torch.tensor([0.0, 0.15, 0.03], device=device)
    offsets = torch.linspace(0.01, 0.03, int(crown.sum()), device=device)[:, None]
    canonical = body.canonical_vertices[crown] + offsets * normals / normals.norm(dim=1, keepdim=True)
    c, s = math.cos(rotation_angle), math.sin(rotation_angle)
    rotation = torch.tensor([[c, 0, s], [0, 1, 0], [-s, 0, c]], device=device)
    observed = (canonical - body.head_joint) @ rotation.T + body.head_joint
    warped = ExactWarp(body, pose)(observed[None])[0]
    assert (observed - canonical).norm(dim=1).max() > 0.03  # the pose really moved them
    assert torch.allclose(warped, canonical, atol=2e-5)


def test_points_beyond_the_thickness_do_not_move(cpu_body):
    points = random_box_points(1500, "cpu", seed=3) * 2.0  # a box twice the size: many far points
    faces = cpu_body.faces[cpu_body.box_face_mask]
    distance, _ = brute_force_nearest(points[0], cpu_body.pose_vertices(POSE[None])[0][faces])
    far = distance >= THICKNESS
    assert far.sum() > 200
    warped = ExactWarp(cpu_body, POSE)(points)
    assert torch.equal(warped[0, far], points[0, far])


def test_exact_warp_agrees_with_brute_force(cpu_body):
    points = random_box_points(1500, "cpu", seed=1)
    exact = ExactWarp(cpu_body, POSE)
    faces = cpu_body.faces[cpu_body.box_face_mask]
    distance, nearest = brute_force_nearest(points[0], cpu_body.pose_vertices(POSE[None])[0][faces])
    found_distance, found = exact.nearest(points)
    inside = distance < THICKNESS
    assert inside.float().mean() > 0.3
    assert torch.allclose(found_distance[0, inside], distance[inside], atol=1e-6)
    assert (found[0, inside] == nearest[inside]).float().mean() > 0.999
    reference = brute_force_warp(cpu_body, POSE, points)
    assert torch.allclose(exact(points), reference, atol=1e-5)
    assert (reference - points).norm(dim=-1).max() > 0.05  # a real deformation was checked


def test_grid_agrees_with_exact_on_render_samples(cpu_body):
    points = render_sample_points(16, yaw_deg=30.0)
    exact = ExactWarp(cpu_body, POSE)
    grid = GridWarp(cpu_body, POSE)
    distance, _ = exact.nearest(points)
    inside = (distance[0] < THICKNESS) & (points[0].abs() <= 0.5).all(dim=1)
    error = (grid(points) - exact(points))[0, inside].norm(dim=-1)
    assert inside.sum() > 10000
    assert float(error.mean()) <= 0.005
    assert float(error.quantile(0.95)) <= 0.03  # measured 0.018 at 40^3: the field jumps at face borders
    outside = (points[0].abs() > 0.5).any(dim=1)
    assert torch.equal(grid(points)[0, outside], points[0, outside])


@pytest.mark.parametrize("warp_class,options", [(ExactWarp, {}), (GridWarp, {"resolution": 20})])
def test_batch_of_five_equals_five_batches_of_one(warp_class, options, device):
    body = body_on(device)
    poses = torch.randn(5, 6, generator=torch.Generator().manual_seed(4)).to(device) * 0.3
    points = torch.cat([random_box_points(400, device, seed=s) for s in range(5)])
    batched = warp_class(body, poses, **options)(points)
    for index in range(5):
        single = warp_class(body, poses[index], **options)(points[index:index + 1])
        assert torch.allclose(batched[index], single[0], atol=1e-6)


def test_gradient_reaches_the_pose(cpu_body):
    pose = POSE.clone().requires_grad_(True)
    points = random_box_points(500, "cpu", seed=5)
    ExactWarp(cpu_body, pose)(points).sum().backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0


def test_warp_modes_and_cache(cpu_body):
    assert isinstance(make_warp(cpu_body, POSE, "exact"), ExactWarp)
    with pytest.raises(ValueError, match="fast, grid, exact"):
        make_warp(cpu_body, POSE, "quick")
    cache = WarpCache(cpu_body, mode="grid", capacity=2, resolution=16)
    first = cache.get(POSE)
    assert cache.get(POSE.clone()) is first
    assert cache.get(torch.zeros(6)) is None
    cache.get(POSE * 0.5)
    cache.get(POSE * 0.25)
    assert cache.get(POSE) is not first  # evicted after two newer poses


def test_a_box_without_faces_is_a_clear_error(cpu_body):
    with pytest.raises(ValueError, match="inside the box"):
        ExactWarp(cpu_body, POSE, box_warp=0.01)
