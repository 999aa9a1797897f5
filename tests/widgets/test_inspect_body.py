"""The body overlay: the renderer's "body_mesh" extra against rigid-rotation answers,
and the skeleton lines drawn from it."""
from __future__ import annotations

import math

import numpy as np
import pytest

from renderer.engine import Renderer
from renderer.requests import RenderRequest
from widgets.mesh_widget import BONE_COLOR, HIGHLIGHT_COLOR, skeleton_lines

NOD_DEG = 20.0


@pytest.fixture(scope="module")
def body_product():
    request = RenderRequest(checkpoint="preset:tiny", extras=("body_mesh",), neural_resolution=16,
                            pose_deg=(NOD_DEG, 0.0, 0.0, 0.0, 0.0, 0.0), warp_mode="exact")
    result = Renderer("cpu").render(request)
    assert result.error is None, result.error
    return result.extras["body_mesh"]


def test_neck_nod_turns_the_head_joint_rigidly_about_the_neck(body_product):
    neck, head = body_product.neck_index, body_product.head_index
    rest, posed = body_product.joints, body_product.posed_joints
    assert np.allclose(rest[neck], 0.0, atol=1e-6), "the aligned frame has its origin at the rest-pose neck"
    assert np.allclose(posed[neck], rest[neck], atol=1e-6), "the neck joint stays where it is"
    before, after = rest[head] - rest[neck], posed[head] - posed[neck]
    assert np.linalg.norm(after) == pytest.approx(np.linalg.norm(before), rel=1e-5)
    angle = math.degrees(math.acos(np.dot(before, after) / np.linalg.norm(before) / np.linalg.norm(after)))
    assert angle == pytest.approx(NOD_DEG, abs=0.01)
    assert after[0] == pytest.approx(before[0], abs=1e-6), "a nod turns about the x axis"


def test_rest_vertices_stay_and_posed_head_vertices_move(body_product):
    rest, posed = body_product.vertices, body_product.posed_vertices
    assert rest.shape == posed.shape and body_product.faces.max() < len(rest)
    moved = np.linalg.norm(posed - rest, axis=1)
    above_head = rest[:, 1] > body_product.joints[body_product.head_index, 1]
    assert moved[above_head].min() > 1e-3 and moved[rest[:, 1] < -0.3].max() < 1e-5, "the nod moves the head only"


def test_skeleton_lines_join_each_joint_to_its_parent_and_mark_neck_and_head(body_product):
    joints, parents = body_product.joints, body_product.parents
    highlighted = (body_product.neck_index, body_product.head_index)
    lines = skeleton_lines(joints, parents, highlighted)
    assert lines.shape == (2 * 23, 9)
    bone = list(np.flatnonzero(parents >= 0)).index(body_product.head_index)
    assert np.allclose(lines[2 * bone, :3], joints[parents[highlighted[1]]])
    assert np.allclose(lines[2 * bone + 1, :3], joints[highlighted[1]])
    assert np.allclose(lines[2 * bone, 6:9], HIGHLIGHT_COLOR) and np.allclose(lines[0, 6:9], BONE_COLOR)


def test_axis_angle_round_trip_and_rotation_about_x():
    from widgets.pose_gizmo import axis_angle_deg_from_rotation, rotation_from_axis_angle_deg

    rotation = rotation_from_axis_angle_deg((90.0, 0.0, 0.0))
    assert np.allclose(rotation @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12), "+90 about x takes +y to +z"
    for vector in ((10.0, -20.0, 5.0), (0.0, 0.0, 0.0), (0.0, 179.9, 0.0), (-45.0, 30.0, 60.0)):
        assert np.allclose(axis_angle_deg_from_rotation(rotation_from_axis_angle_deg(vector)), vector, atol=1e-6)
    half_turn = axis_angle_deg_from_rotation(rotation_from_axis_angle_deg((0.0, 0.0, 180.0)))
    assert np.allclose(np.abs(half_turn), (0.0, 0.0, 180.0), atol=1e-6)


def test_gizmo_on_the_head_keeps_the_neck_and_writes_the_head_relative_to_it():
    from viz.state import PoseState
    from widgets.pose_gizmo import joint_world_rotation, rotation_from_axis_angle_deg, set_joint_world_rotation

    pose = PoseState(neck_deg=(15.0, 0.0, 0.0), head_deg=(0.0, 10.0, 0.0))
    target = rotation_from_axis_angle_deg((15.0, 0.0, 0.0)) @ rotation_from_axis_angle_deg((0.0, -25.0, 5.0))
    set_joint_world_rotation(pose, "head", target)
    assert pose.neck_deg == (15.0, 0.0, 0.0)
    assert np.allclose(pose.head_deg, (0.0, -25.0, 5.0), atol=1e-3)
    assert np.allclose(joint_world_rotation(pose, "head"), target, atol=1e-4)
    set_joint_world_rotation(pose, "neck", rotation_from_axis_angle_deg((90.0, 0.0, 0.0)))
    assert pose.neck_deg == (60.0, 0.0, 0.0), "angles are clamped to the pose limits"
