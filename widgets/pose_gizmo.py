"""A rotation gizmo (ImGuizmo) on the neck or head joint of the mesh view that edits the Pose panel's angles.

The pose is two SMPL-style axis-angle vectors in degrees (x nod, y turn, z tilt); the head's is relative to
the neck. The gizmo works on the joint's world rotation: neck R_n, head R_n R_h; after a drag the new world
rotation is turned back into the local axis-angle and clamped to the pose limits.
"""
from __future__ import annotations

import math

import numpy as np
from imgui_bundle import imguizmo

from viz.gl.orbit import OrbitCamera
from viz.state import POSE_LIMIT_DEG, PoseState

GIZMO_JOINTS = ("off", "neck", "head")
_gizmo = imguizmo.im_guizmo


def rotation_from_axis_angle_deg(axis_angle_deg) -> np.ndarray:
    """Rotation matrix [3, 3] of an axis-angle vector whose length is the angle in degrees (Rodrigues)."""
    vector = np.radians(np.asarray(axis_angle_deg, dtype=np.float64))
    angle = float(np.linalg.norm(vector))
    if angle < 1e-12:
        return np.eye(3)
    x, y, z = vector / angle
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def axis_angle_deg_from_rotation(rotation: np.ndarray) -> np.ndarray:
    """The axis-angle vector [3] in degrees of a rotation matrix (angle in [0, 180])."""
    rotation = np.asarray(rotation, dtype=np.float64)
    cosine = float(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))
    angle = math.acos(cosine)
    if angle < 1e-9:
        return np.zeros(3)
    if math.pi - angle < 1e-6:
        # Half-turn: the axis is the eigenvector of eigenvalue 1 (sin(angle) ~ 0 loses it).
        values, vectors = np.linalg.eigh((rotation + rotation.T) / 2.0)
        return np.degrees(vectors[:, int(np.argmax(values))] * angle)
    axis = np.array([rotation[2, 1] - rotation[1, 2], rotation[0, 2] - rotation[2, 0], rotation[1, 0] - rotation[0, 1]])
    return np.degrees(axis / (2.0 * math.sin(angle)) * angle)


def joint_world_rotation(pose: PoseState, joint: str) -> np.ndarray:
    """World rotation [3, 3] of the neck or head joint for the pose's angles."""
    neck = rotation_from_axis_angle_deg(pose.neck_deg)
    return neck if joint == "neck" else neck @ rotation_from_axis_angle_deg(pose.head_deg)


def set_joint_world_rotation(pose: PoseState, joint: str, rotation: np.ndarray) -> None:
    """Writes the pose angles that give `joint` the world `rotation` (the other joint's local angles stay)."""
    if joint == "neck":
        local = rotation
    else:
        local = rotation_from_axis_angle_deg(pose.neck_deg).T @ rotation
    degrees = np.clip(axis_angle_deg_from_rotation(local), -POSE_LIMIT_DEG, POSE_LIMIT_DEG)
    value = tuple(round(float(v), 3) for v in degrees)
    if joint == "neck":
        pose.neck_deg = value
    else:
        pose.head_deg = value


def draw_gizmo(pose: PoseState, joint: str, position: np.ndarray, camera: OrbitCamera, rect: tuple[float, ...],
               draw_list) -> bool:
    """Draws the rotation gizmo at `position` [3] inside `rect` (x, y, width, height); True when it moved the pose."""
    x, y, width, height = rect
    _gizmo.set_drawlist(draw_list)
    _gizmo.set_rect(x, y, width, height)
    matrix = np.eye(4)
    matrix[:3, :3] = joint_world_rotation(pose, joint)
    matrix[:3, 3] = position
    # ImGuizmo takes OpenGL's column-major order: the transpose's rows.
    object_matrix = _gizmo.Matrix16(matrix.T.reshape(-1).tolist())
    view = _gizmo.Matrix16(camera.view().T.reshape(-1).astype(np.float64).tolist())
    projection = _gizmo.Matrix16(camera.projection(width / max(height, 1.0)).T.reshape(-1).astype(np.float64).tolist())
    if not _gizmo.manipulate(view, projection, _gizmo.OPERATION.rotate, _gizmo.MODE.local, object_matrix):
        return False
    moved = np.asarray(object_matrix.values, dtype=np.float64).reshape(4, 4).T
    rotation = moved[:3, :3] / np.linalg.norm(moved[:3, :3], axis=0, keepdims=True)
    set_joint_world_rotation(pose, joint, rotation)
    return True


def gizmo_over() -> bool:
    """True while the mouse is over a gizmo handle or drags one (the view must not orbit then)."""
    return bool(_gizmo.is_over() or _gizmo.is_using())


def gizmo_in_use() -> bool:
    """True while a gizmo handle is being dragged."""
    return bool(_gizmo.is_using())


def begin_gizmo_frame() -> None:
    """Once per frame before `draw_gizmo`."""
    _gizmo.begin_frame()
