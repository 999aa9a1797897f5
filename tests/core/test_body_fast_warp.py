"""The fast warp: rigid groups undone exactly, agreement with the exact warp, identity at rest, batch
independence, and pose gradients that reach G's pose branch (where the per-pose grid carries none)."""
from __future__ import annotations

import pytest
import torch

from core.body import load_body_model, pose_from_degrees, warp_kernel
from core.body.fast_warp import BLENDED, HEAD_GROUP, NECK_GROUP, STATIC, CanonicalFields, FastWarp, face_groups
from core.body.probe_points import render_sample_points
from core.body.standin import HEAD, NECK
from core.body.warp import ExactWarp, GridWarp, make_warp

POSE = pose_from_degrees((12, -20, 5), (-15, 30, 10))
# Both ways of deciding per point: torch operations, and core.body.warp_kernel's compiled loop (CPU, numba).
PATHS = [False, pytest.param(True, marks=pytest.mark.skipif(not warp_kernel.available(), reason="numba missing"))]


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture(scope="module")
def fields(body):
    return CanonicalFields.for_body(body)


def test_groups_cover_the_box_faces_and_most_are_rigid(body):
    faces, groups = face_groups(body)
    assert len(faces) == int(body.box_face_mask.sum())
    counts = {group: int((groups == group).sum()) for group in (STATIC, NECK_GROUP, HEAD_GROUP, BLENDED)}
    assert min(counts.values()) > 0, counts
    assert counts[BLENDED] < 0.15 * len(faces), counts  # about 8% on the stand-in: the blended neck band
    # A rigid face's three corners all follow its group's joint exactly under any pose.
    vertices, _, transforms = body.forward_kinematics(POSE[None])
    for group, joint in ((NECK_GROUP, NECK), (HEAD_GROUP, HEAD)):
        corners = body.canonical_vertices[faces[groups == group]].reshape(-1, 3)
        moved = corners @ transforms[0, joint, :3, :3].T + transforms[0, joint, :3, 3]
        assert torch.allclose(moved, vertices[0][faces[groups == group]].reshape(-1, 3), atol=1e-5)


@pytest.mark.parametrize("compiled", PATHS)
def test_points_off_the_head_map_back_by_the_head_transform(body, fields, compiled):
    """Canonical points 2 cm off head faces, moved rigidly with the head: the warp returns them exactly."""
    canonical = _points_off_the_head(body)
    transform = body.joint_transforms(POSE[None])[0, HEAD]
    posed = canonical @ transform[:3, :3].T + transform[:3, 3]
    warped = FastWarp(body, POSE, fields=fields, compiled=compiled)(posed[None])[0]
    assert torch.allclose(warped, canonical, atol=1e-4)


@pytest.mark.parametrize("compiled", PATHS)
def test_zero_pose_is_the_identity(body, fields, compiled):
    points = render_sample_points(12, yaw_deg=20.0)
    assert torch.equal(FastWarp(body, torch.zeros(6), fields=fields, compiled=compiled)(points), points)
    assert make_warp(body, torch.zeros(6), mode="fast") is None


@pytest.mark.parametrize("compiled", PATHS)
def test_agrees_with_the_exact_warp_inside_the_shell(body, fields, compiled):
    points = render_sample_points(24, yaw_deg=30.0)
    exact = ExactWarp(body, POSE)
    distance, _ = exact.nearest(points)
    inside = (distance[0] < exact.thickness) & (points[0].abs() <= 0.5).all(dim=1)
    error = (FastWarp(body, POSE, fields=fields, compiled=compiled)(points) - exact(points))[0, inside].norm(dim=-1)
    moved = (exact(points) - points)[0, inside].norm(dim=-1)
    assert float(moved.mean()) > 0.02  # the pose really moves these points: the test can fail
    assert float(error.mean()) <= 0.005
    assert float(torch.quantile(error, 0.95)) <= 0.03


@pytest.mark.parametrize("compiled", PATHS)
def test_batched_poses_equal_one_at_a_time(body, fields, compiled):
    other = pose_from_degrees((-8, 15, 0), (10, -25, 5))
    points = render_sample_points(10, yaw_deg=-40.0).expand(2, -1, -1).contiguous()
    together = FastWarp(body, torch.stack([POSE, other]), fields=fields, compiled=compiled)(points)
    apart = [FastWarp(body, pose, fields=fields, compiled=compiled)(points[:1])[0] for pose in (POSE, other)]
    assert torch.equal(together[0], apart[0]) and torch.equal(together[1], apart[1])


@pytest.mark.skipif(not warp_kernel.available(), reason="numba missing")
@pytest.mark.parametrize("pose", [POSE, pose_from_degrees((20, 40, -10), (25, -40, 15)), -0.5 * POSE])
def test_the_compiled_loop_moves_points_as_the_torch_operations(body, fields, pose):
    """Same rules, same constants: the two paths agree except where two distances tie to float rounding."""
    points = torch.cat([render_sample_points(24, yaw_deg=yaw) for yaw in (30.0, 150.0, -90.0)], dim=1)
    by_torch = FastWarp(body, pose, fields=fields, compiled=False)(points)
    compiled = FastWarp(body, pose, fields=fields, compiled=True)(points)
    differ = (by_torch - compiled).norm(dim=-1)[0]
    assert float((by_torch - points).norm(dim=-1).mean()) > 0.01  # the pose moves these points
    assert int((differ > 1e-5).sum()) <= 2e-3 * differ.numel()  # ties decided the other way: rare
    assert float(differ[differ <= 1e-5].max()) <= 1e-5


@pytest.mark.skipif(not warp_kernel.available(), reason="numba missing")
def test_the_compiled_loop_gives_the_torch_gradient(body, fields):
    points = render_sample_points(12, yaw_deg=20.0)
    weights = torch.randn(points.shape, generator=torch.Generator().manual_seed(1))
    gradients = []
    for compiled in (False, True):
        pose = POSE.clone().requires_grad_(True)
        (FastWarp(body, pose, fields=fields, compiled=compiled)(points) * weights).sum().backward()
        gradients.append(pose.grad)
    assert float(gradients[0].abs().min()) > 1e-3
    assert torch.allclose(gradients[0], gradients[1], rtol=1e-3, atol=1e-4)


def test_the_compiled_loop_needs_numba_on_a_cpu(body, fields, monkeypatch):
    monkeypatch.setattr(warp_kernel, "available", lambda: False)
    assert FastWarp(body, POSE, fields=fields).compiled is False  # the default falls back to torch operations
    with pytest.raises(ValueError, match="numba"):
        FastWarp(body, POSE, fields=fields, compiled=True)


@pytest.mark.parametrize("compiled", PATHS)
def test_skipping_far_points_changes_no_result(body, fields, compiled):
    warp = FastWarp(body, POSE, fields=fields, compiled=compiled)
    near = render_sample_points(12, yaw_deg=20.0)[0]  # mostly within the shell: every point is carried
    far = torch.rand(4 * len(near), 3, generator=torch.Generator().manual_seed(3)) * 0.1 + 0.62  # a box corner
    mixed = torch.cat([near, far])[None]  # mostly far: only the points that may move are gathered and carried
    assert float(warp._may_move(mixed[0], 0).float().mean()) < 0.5  # the gathering path really runs
    assert not bool(warp._may_move(far, 0).any())
    carried = warp._carry_all(mixed[0], 0) if not compiled else warp(near[None])[0]
    assert torch.equal(warp(mixed)[0][:len(near)], carried[:len(near)])
    assert torch.equal(warp(near[None])[0], carried[:len(near)])
    assert torch.equal(warp(mixed)[0][len(near):], far)  # nothing near them: they stay where they are
    assert float((carried[:len(near)] - near).norm(dim=-1).max()) > 0.05  # while the near ones move


def _points_off_the_head(body) -> torch.Tensor:
    """Canonical points [K, 3] 2 cm off head faces, well above the blended neck band."""
    faces, groups = face_groups(body)
    triangles = body.canonical_vertices[faces[groups == HEAD_GROUP]]
    normal = torch.linalg.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    canonical = triangles.mean(dim=1) + 0.02 * normal / normal.norm(dim=-1, keepdim=True)
    return canonical[(canonical[:, 1] > body.head_joint[1] + 0.05)]


@pytest.mark.parametrize("compiled", PATHS)
def test_gradient_reaches_the_pose_and_matches_finite_differences(body, fields, compiled):
    transform = body.joint_transforms(POSE[None])[0, HEAD]
    posed = (_points_off_the_head(body) @ transform[:3, :3].T + transform[:3, 3])[None]
    weights = torch.randn(posed.shape, generator=torch.Generator().manual_seed(0))

    def objective(pose):
        return (FastWarp(body, pose, fields=fields, compiled=compiled)(posed) * weights).sum()

    pose = POSE.clone().requires_grad_(True)
    objective(pose).backward()
    assert bool((pose.grad.abs() > 1e-3).all())  # every neck and head angle moves the head's points
    for axis in range(6):
        step = torch.zeros(6)
        step[axis] = 1e-2
        with torch.no_grad():
            numeric = (float(objective(POSE + step)) - float(objective(POSE - step))) / 2e-2
        assert numeric == pytest.approx(float(pose.grad[axis]), rel=0.02, abs=1e-3)


def test_gradient_reaches_g_pose_branch_through_the_warp_only(body):
    """The mapping gets a detached pose, so any gradient on the branch came through the warp."""
    from core.camera import orbit_camera
    from core.config import preset
    from core.generator import TriGridGenerator

    torch.manual_seed(0)
    generator = TriGridGenerator(preset("tiny"))
    z = torch.randn(1, generator.config.z_dim)
    camera = orbit_camera(20.0, 0.0)
    branch = [p for name, p in generator.named_parameters() if name.startswith("pose_branch.")]

    def branch_gradient(mode: str) -> float:
        generator.zero_grad(set_to_none=True)
        pose = generator.predict_pose(z, camera) + POSE  # a clearly posed neck and head
        ws = generator.mapping(z, camera, pose.detach())
        planes = generator.synthesize_trigrid(ws)
        warp = make_warp(body, pose, mode=mode)
        output = generator.render(ws, planes, camera, neural_resolution=12, point_warp=warp, outputs=("image_raw",))
        output.image_raw.square().mean().backward()
        return sum(float(p.grad.abs().sum()) for p in branch if p.grad is not None)

    assert branch_gradient("fast") > 0
    assert branch_gradient("grid") == 0  # the control: a grid built under no_grad carries nothing
    assert isinstance(make_warp(body, POSE, mode="grid"), GridWarp)


@pytest.mark.skipif(not warp_kernel.available(), reason="numba missing")
def test_preparing_the_loop_leaves_no_compilation_for_the_first_pose(body, fields):
    """prepare() (the viewer's warm thread) must compile the very signature a real warp calls, or the first
    pose would still wait for numba."""
    warp_kernel.prepare()
    before = list(warp_kernel._kernel().signatures)
    FastWarp(body, POSE, fields=fields, compiled=True)(render_sample_points(8, yaw_deg=10.0))
    assert list(warp_kernel._kernel().signatures) == before and len(before) == 1
