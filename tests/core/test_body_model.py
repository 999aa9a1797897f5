"""The body model: the shipped stand-in, neck alignment, posing against analytic rotations, bad files."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core.body import BodyModelFileError, load_body_model, pose_from_degrees
from core.body.model import STANDIN_PATH
from core.body.standin import SMPL_PARENTS, build_standin_arrays, write_standin


@pytest.fixture(scope="module")
def body():
    return load_body_model()


def rotation_about(axis: str, angle: float) -> torch.Tensor:
    """Right-handed rotation matrix [3, 3] about a coordinate axis."""
    c, s = math.cos(angle), math.sin(angle)
    matrices = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
                "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}
    return torch.tensor(matrices[axis], dtype=torch.float32)


def test_standin_is_a_small_smpl_format_bust(body):
    assert body.is_standin
    assert body.skinning_weights.shape == (body.canonical_vertices.shape[0], 24)
    assert 2000 < body.canonical_vertices.shape[0] < 8000
    assert body.faces.max() < body.canonical_vertices.shape[0]
    assert torch.equal(body.parents.cpu(), torch.as_tensor(SMPL_PARENTS))
    assert torch.allclose(body.skinning_weights.sum(1), torch.ones(1), atol=1e-5)
    assert STANDIN_PATH.stat().st_size < 1_000_000
    # A bust: the head reaches ~0.27 above the neck and the shoulders are wider than the head.
    vertices = body.canonical_vertices
    assert 0.22 < vertices[:, 1].max() < 0.32
    assert vertices[:, 0].max() > 0.25 and vertices[:, 0].min() < -0.25


def test_standin_regenerates_identically(tmp_path):
    shipped = np.load(STANDIN_PATH)
    rebuilt = np.load(write_standin(tmp_path / "standin.npz"))
    assert sorted(shipped.files) == sorted(rebuilt.files)
    for key in shipped.files:
        assert np.array_equal(shipped[key], rebuilt[key]), key


def test_joint_regressor_reproduces_the_rest_joints():
    arrays = build_standin_arrays()
    joints = arrays["J_regressor"] @ arrays["v_template"]
    head_minus_neck = joints[15] - joints[12]
    assert np.allclose(head_minus_neck, [0.0, 0.065, 0.05], atol=1e-4)
    assert np.allclose(joints[16], -joints[17] * [1, -1, -1], atol=1e-4)  # mirror-symmetric shoulders


def test_alignment_puts_the_neck_at_the_origin_and_the_face_toward_plus_z(body):
    assert torch.allclose(body.neck_joint, torch.zeros(3), atol=1e-5)
    assert torch.allclose(body.head_joint, torch.tensor([0.0, 0.065, 0.05]), atol=1e-4)
    head_vertices = body.canonical_vertices[body.skinning_weights[:, 15] > 0.99]
    nose = head_vertices[head_vertices[:, 2].argmax()]
    assert abs(float(nose[0])) < 0.01 and float(nose[2]) > 0.12  # the most forward head point is the nose


def test_zero_pose_is_the_canonical_mesh(body):
    posed = body.pose_vertices(torch.zeros(3, 6))
    assert torch.allclose(posed, body.canonical_vertices.expand(3, -1, -1), atol=1e-6)
    transforms = body.joint_transforms(torch.zeros(1, 6))
    assert torch.allclose(transforms, torch.eye(4).expand(1, 24, 4, 4), atol=1e-6)


@pytest.mark.parametrize("axis,index", [("x", 3), ("y", 4), ("z", 5)])
def test_head_rotation_rotates_the_head_rigidly_about_the_head_joint(body, axis, index):
    angle = 0.6
    pose = torch.zeros(1, 6)
    pose[0, index] = angle
    rigid = body.skinning_weights[:, 15] == 1
    expected = (body.canonical_vertices[rigid] - body.head_joint) @ rotation_about(axis, angle).T + body.head_joint
    assert torch.allclose(body.pose_vertices(pose)[0, rigid], expected, atol=1e-5)
    torso = body.skinning_weights[:, 9] == 1
    assert torch.allclose(body.pose_vertices(pose)[0, torso], body.canonical_vertices[torso], atol=1e-6)


def test_neck_rotation_moves_the_head_joint_and_transforms_agree(body):
    pose = pose_from_degrees((20, 0, 0), (0, 35, 0))[None]
    rotation_neck = rotation_about("x", math.radians(20))
    joints = body.joints(pose)[0]
    expected_head = rotation_neck @ (body.head_joint - body.neck_joint) + body.neck_joint
    assert torch.allclose(joints[15], expected_head, atol=1e-5)
    transforms = body.joint_transforms(pose)[0]
    composed = rotation_neck @ rotation_about("y", math.radians(35))
    assert torch.allclose(transforms[15, :3, :3], composed, atol=1e-5)
    carried = transforms[15, :3, :3] @ body.head_joint + transforms[15, :3, 3]
    assert torch.allclose(carried, joints[15], atol=1e-5)


def test_any_batch_size_gives_the_same_per_sample_result(body):
    poses = torch.randn(5, 6) * 0.3
    batched = body.pose_vertices(poses)
    for index in range(5):
        assert torch.allclose(batched[index], body.pose_vertices(poses[index:index + 1])[0], atol=1e-6)


def test_first_beta_scales_the_body_about_the_neck(body):
    betas = torch.zeros(1, 10)
    betas[0, 0] = 1.0
    joints = body.joints(torch.zeros(1, 6), betas)[0]
    rest = body.joints(torch.zeros(1, 6))[0]
    assert torch.allclose(joints, rest * 1.05, atol=1e-4)


def test_pose_from_degrees_is_radians_in_neck_then_head_order():
    pose = pose_from_degrees((90, 0, -45), (0, 180, 0))
    assert torch.allclose(pose, torch.tensor([math.pi / 2, 0, -math.pi / 4, 0, math.pi, 0]))
    with pytest.raises(ValueError, match="3 neck and 3 head"):
        pose_from_degrees((1, 2), (3, 4, 5))


def test_bad_pose_shape_is_refused(body):
    with pytest.raises(ValueError, match=r"\[B, 6\]"):
        body.pose_vertices(torch.zeros(2, 5))


def test_missing_file_says_where_to_put_it(tmp_path):
    missing = tmp_path / "SMPL_NEUTRAL.pkl"
    with pytest.raises(BodyModelFileError) as error:
        load_body_model(missing)
    assert str(missing) in str(error.value) and "smpl_path" in str(error.value)


def test_broken_file_names_the_file(tmp_path):
    broken = tmp_path / "SMPL_NEUTRAL.pkl"
    broken.write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00")  # a truncated pickle
    with pytest.raises(BodyModelFileError, match="SMPL_NEUTRAL.pkl"):
        load_body_model(broken)


def test_smpl_format_npz_loads_as_a_real_model(tmp_path):
    arrays = build_standin_arrays()
    arrays.pop("standin_version")
    np.savez(tmp_path / "custom.npz", **arrays)
    model = load_body_model(tmp_path / "custom.npz")
    assert not model.is_standin
    assert torch.allclose(model.canonical_vertices, load_body_model().canonical_vertices, atol=1e-6)


def test_smpl_sized_model_is_aligned_at_the_reference_neck_point(tmp_path):
    arrays = build_standin_arrays()
    arrays.pop("standin_version")
    extra = 6890 - arrays["v_template"].shape[0]  # pad to SMPL's vertex count with unused copies
    rng = np.random.default_rng(0)
    padding = arrays["v_template"][rng.integers(0, arrays["v_template"].shape[0], extra)]
    arrays["v_template"] = np.concatenate([arrays["v_template"], padding])
    for key in ("weights", "shapedirs", "posedirs"):
        arrays[key] = np.concatenate([arrays[key], np.repeat(arrays[key][:1], extra, axis=0)])
    arrays["J_regressor"] = np.concatenate([arrays["J_regressor"], np.zeros((24, extra), np.float32)], axis=1)
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    model = load_body_model(tmp_path / "SMPL_NEUTRAL.npz")
    neck_ids = torch.tensor([570, 573, 813, 3059, 3470, 4059, 4292, 4315])
    neck_weights = torch.tensor([0.0781, 0.0219, 0.1777, 0.2548, 0.0648, 0.0300, 0.1218, 0.2509])
    neck_point = (neck_weights[:, None] * model.canonical_vertices[neck_ids]).sum(0) / neck_weights.sum()
    assert torch.allclose(neck_point, torch.zeros(3), atol=1e-6)
    assert not torch.allclose(model.neck_joint, torch.zeros(3), atol=1e-3)  # joint 12 is elsewhere now


def test_posing_a_few_vertices_equals_the_full_kinematics_with_correctives(tmp_path):
    """pose_subset against forward_kinematics on a body whose neck/head pose correctives are not zero (the
    stand-in's are): positions, neck and head transforms and the pose gradient agree."""
    arrays = build_standin_arrays()
    arrays.pop("standin_version")
    rng = np.random.default_rng(1)
    arrays["posedirs"] = (rng.standard_normal(arrays["posedirs"].shape) * 0.01).astype(np.float32)
    np.savez(tmp_path / "correctives.npz", **arrays)
    model = load_body_model(tmp_path / "correctives.npz")
    ids = torch.tensor([0, 7, 100, 250, model.canonical_vertices.shape[0] - 1])
    subset = model.vertex_subset(ids)
    poses = pose_from_degrees((12, -20, 5), (-15, 30, 10))[None].repeat(2, 1) * torch.tensor([[1.0], [-1.7]])
    poses.requires_grad_(True)
    vertices, joints, transforms = model.forward_kinematics(poses)
    few, neck_head = model.pose_subset(poses, subset)
    assert float((vertices[:, ids] - model.canonical_vertices[ids]).norm(dim=-1).max()) > 0.01  # they move
    assert torch.allclose(few, vertices[:, ids], atol=1e-6)
    assert torch.allclose(neck_head, transforms[:, [12, 15]], atol=1e-6)
    weights = torch.randn(few.shape, generator=torch.Generator().manual_seed(0))
    full_grad, = torch.autograd.grad((vertices[:, ids] * weights).sum(), poses)
    few_grad, = torch.autograd.grad((few * weights).sum(), poses)
    assert float(full_grad.abs().max()) > 1e-3
    assert torch.allclose(few_grad, full_grad, atol=1e-5)
