"""Orbit cameras, intrinsics and the left/right mirror of cameras and body poses (reference-spec.md §2, §1.6, §1.10).

A camera is the reference's 25-number label: 16 row-major cam2world numbers in OpenCV camera axes
(+x right, +y down, +z forward) followed by 9 row-major intrinsics normalised by the image size.
The world is y-up and the subject faces +z. Unlike the reference sampler, the camera orbits the
look-at point itself (not the world origin), and yaw 0 is the frontal view; `reference_camera` builds the
authors' cameras from the same yaw/pitch (docs/released-checkpoints.md "Cameras").
All functions are pure torch, batch-first, float32, on the device of their inputs.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from core.names import DEFAULT_FOCAL, DEFAULT_RADIUS, LOOKAT_PIVOT  # noqa: F401 (re-exported)


# Flat cam2world indices that change sign when the scene is reflected across x = 0: R01, R02, t_x, R10, R20.
MIRROR_CAMERA_INDICES = (1, 2, 3, 4, 8)
# Axis-angle components that change sign under the same reflection: y and z of neck and head.
MIRROR_POSE_INDICES = (1, 2, 4, 5)

Scalar = float | torch.Tensor


def _as_batch(value: Scalar, device: torch.device | None) -> torch.Tensor:
    """A float or tensor as a float32 tensor of shape [B] (B = 1 for scalars)."""
    tensor = torch.as_tensor(value, dtype=torch.float32, device=device)
    return tensor.reshape(-1)


def intrinsics_from_focal(focal: Scalar, device: torch.device | None = None) -> torch.Tensor:
    """Normalised intrinsics [3, 3] (fx = fy = focal, cx = cy = 0.5); a focal tensor [B] gives [B, 3, 3]."""
    focal_tensor = torch.as_tensor(focal, dtype=torch.float32, device=device)
    batch_shape = focal_tensor.shape
    matrix = torch.zeros(*batch_shape, 3, 3, dtype=torch.float32, device=focal_tensor.device)
    matrix[..., 0, 0] = focal_tensor
    matrix[..., 1, 1] = focal_tensor
    matrix[..., 0, 2] = 0.5
    matrix[..., 1, 2] = 0.5
    matrix[..., 2, 2] = 1.0
    return matrix


def focal_from_fov(fov_deg: float) -> float:
    """Normalised focal of a full field of view in degrees: f = 1 / (2 tan(fov / 2)), exactly."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view must lie in (0, 180) degrees, got {fov_deg}")
    return 1.0 / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


def fov_from_focal(focal: float) -> float:
    """Full field of view in degrees of a normalised focal (inverse of `focal_from_fov`)."""
    if focal <= 0.0:
        raise ValueError(f"focal must be positive, got {focal}")
    return math.degrees(2.0 * math.atan(1.0 / (2.0 * focal)))


def look_at(
    camera_position: torch.Tensor, target: torch.Tensor, world_up: Sequence[float] = (0.0, 1.0, 0.0),
    fallback_right: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cam2world rotations [B, 3, 3] in OpenCV axes of cameras at `camera_position: [B, 3]` facing `target: [B, 3]`.

    Columns are (right, down, forward): right = -unit(up_w x forward), down = unit(forward x right).
    Where forward is (anti)parallel to `world_up` the cross product vanishes; there `fallback_right: [B, 3]`
    (or world +x) is used instead, so looking straight down or up still gives a proper rotation.
    """
    forward = torch.nn.functional.normalize(target - camera_position, dim=-1)
    up = torch.as_tensor(world_up, dtype=forward.dtype, device=forward.device).expand_as(forward)
    right_raw = -torch.linalg.cross(up, forward, dim=-1)
    if fallback_right is None:
        fallback_right = torch.tensor([1.0, 0.0, 0.0], dtype=forward.dtype, device=forward.device).expand_as(forward)
    degenerate = right_raw.norm(dim=-1, keepdim=True) < 1e-6
    right = torch.nn.functional.normalize(torch.where(degenerate, fallback_right, right_raw), dim=-1)
    down = torch.nn.functional.normalize(torch.linalg.cross(forward, right, dim=-1), dim=-1)
    return torch.stack([right, down, forward], dim=-1)


def orbit_camera(
    yaw_deg: Scalar,
    pitch_deg: Scalar,
    radius: Scalar = DEFAULT_RADIUS,
    lookat: Sequence[float] | torch.Tensor = LOOKAT_PIVOT,
    focal: Scalar = DEFAULT_FOCAL,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Camera labels [B, 25] on the sphere of `radius` around `lookat`, looking at it.

    yaw 0 = front (camera on +z), 90 = camera on +x (the subject's left), 180 = back, 270 = camera on -x;
    pitch > 0 looks from above and is clamped to [-90, 90]. Yaw, pitch, radius and focal may be floats
    or tensors [B]; lookat is [3] or [B, 3]. B is the largest of their batch sizes.
    """
    if device is None:
        device = next((v.device for v in (yaw_deg, pitch_deg, radius, focal, lookat) if torch.is_tensor(v)), None)
    yaw = torch.deg2rad(_as_batch(yaw_deg, device))
    pitch = torch.deg2rad(_as_batch(pitch_deg, device).clamp(-90.0, 90.0))
    radius_t = _as_batch(radius, device)
    focal_t = _as_batch(focal, device)
    target = torch.as_tensor(lookat, dtype=torch.float32, device=device).reshape(-1, 3)
    batch = max(yaw.shape[0], pitch.shape[0], radius_t.shape[0], focal_t.shape[0], target.shape[0])
    yaw, pitch, radius_t, focal_t = (t.expand(batch) for t in (yaw, pitch, radius_t, focal_t))
    target = target.expand(batch, 3)

    offset = torch.stack([torch.cos(pitch) * torch.sin(yaw), torch.sin(pitch), torch.cos(pitch) * torch.cos(yaw)], -1)
    position = target + radius_t[:, None] * offset
    # The look-at right vector of an orbit camera is (cos yaw, 0, -sin yaw); it keeps the poles well defined.
    yaw_right = torch.stack([torch.cos(yaw), torch.zeros_like(yaw), -torch.sin(yaw)], -1)
    rotation = look_at(position, target, fallback_right=yaw_right)

    cam2world = torch.eye(4, dtype=torch.float32, device=position.device).repeat(batch, 1, 1)
    cam2world[:, :3, :3] = rotation
    cam2world[:, :3, 3] = position
    intrinsics = intrinsics_from_focal(focal_t)
    return torch.cat([cam2world.reshape(batch, 16), intrinsics.reshape(batch, 9)], dim=1)


def angle_between_deg(first: float, second: float) -> float:
    """The smaller angle between two directions given in degrees, in [0, 180] (350 and 10 are 20 apart)."""
    return abs((first - second + 180.0) % 360.0 - 180.0)


def camera_yaw_pitch_deg(camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Yaw in (-180, 180] and pitch in [-90, 90] degrees [B] of cameras [B, 25] (inverse of `orbit_camera`).

    Read from the rotation alone, so it does not depend on radius or look-at point: pitch from the
    forward axis, yaw from the right axis (which stays horizontal for orbit cameras, even at the poles).
    """
    rotation = camera[:, :16].reshape(-1, 4, 4)[:, :3, :3]
    right, forward = rotation[:, :, 0], rotation[:, :, 2]
    pitch = torch.rad2deg(torch.asin((-forward[:, 1]).clamp(-1.0, 1.0)))
    yaw = torch.rad2deg(torch.atan2(-right[:, 2], right[:, 0]))
    return yaw, pitch


def mirror_camera(camera: torch.Tensor) -> torch.Tensor:
    """Cameras [B, 25] reflected across the world plane x = 0 (with the image mirrored left-right).

    Reflection S = diag(-1, 1, 1) maps cam2world (R, t) to (S R S, S t): exactly flat indices 1, 2, 3, 4, 8
    change sign. Intrinsics with cx = 0.5 are unchanged.
    """
    signs = torch.ones(camera.shape[-1], dtype=camera.dtype, device=camera.device)
    signs[list(MIRROR_CAMERA_INDICES)] = -1.0
    return camera * signs


def mirror_pose(pose: torch.Tensor) -> torch.Tensor:
    """Body poses [B, 6] (neck and head axis-angle) reflected across x = 0: y and z components change sign."""
    signs = torch.ones(pose.shape[-1], dtype=pose.dtype, device=pose.device)
    signs[list(MIRROR_POSE_INDICES)] = -1.0
    return pose * signs


def is_left(camera: torch.Tensor, test: str = "project") -> torch.Tensor:
    """[B] bool: the camera is on the subject's left, the side the pose branch sees mirrored.

    `test` "project": t_x >= 0. "reference": the authors' float32 atan2(t_z, t_x) in [-pi/2, pi/2], which
    agrees everywhere except on the mirror plane: at an exact back view t_x is a rounding residue such as
    -2.4e-7, and the float32 angle rounds onto -pi/2, so the reference mirrors where t_x >= 0 does not.
    """
    if test == "reference":
        angle = torch.atan2(camera[:, 11].float(), camera[:, 3].float())
        half_pi = torch.tensor(math.pi / 2, dtype=torch.float32, device=camera.device)
        return (angle >= -half_pi) & (angle <= half_pi)
    if test != "project":
        raise ValueError(f"unknown mirror test {test!r}: use project or reference")
    return camera[:, 3] >= 0.0


def reference_camera(
    yaw_deg: Scalar, pitch_deg: Scalar, radius: Scalar = DEFAULT_RADIUS,
    lookat: Sequence[float] | torch.Tensor = LOOKAT_PIVOT, focal: Scalar = DEFAULT_FOCAL,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Camera labels [B, 25] as the authors' look-at sampler builds them from the same yaw/pitch as
    `orbit_camera`: on the sphere of `radius` around the world origin (not the look-at point), aimed at
    `lookat`, with h = pi/2 + yaw, v = pi/2 - pitch and the polar angle arccos(1 - 2v/pi), so the camera
    height r * 2 pitch / pi is linear in the pitch. Yaw 0 is the front, 90 the subject's left, as in
    `orbit_camera`; the two agree when `lookat` is the origin and the pitch is 0 or +-90.
    """
    if device is None:
        device = next((v.device for v in (yaw_deg, pitch_deg, radius, focal, lookat) if torch.is_tensor(v)), None)
    h = math.pi / 2 + torch.deg2rad(_as_batch(yaw_deg, device))
    v = math.pi / 2 - torch.deg2rad(_as_batch(pitch_deg, device).clamp(-90.0, 90.0))
    v = v.clamp(1e-5, math.pi - 1e-5)  # the sampler keeps the camera off the poles
    polar = torch.arccos(1.0 - 2.0 * v / math.pi)
    radius_t, focal_t = _as_batch(radius, device), _as_batch(focal, device)
    target = torch.as_tensor(lookat, dtype=torch.float32, device=device).reshape(-1, 3)
    batch = max(h.shape[0], v.shape[0], radius_t.shape[0], focal_t.shape[0], target.shape[0])
    h, polar, radius_t, focal_t = (t.expand(batch) for t in (h, polar, radius_t, focal_t))
    direction = torch.stack([-torch.sin(polar) * torch.cos(h), torch.cos(polar), torch.sin(polar) * torch.sin(h)], -1)
    position = radius_t[:, None] * direction
    cam2world = torch.eye(4, dtype=torch.float32, device=position.device).repeat(batch, 1, 1)
    cam2world[:, :3, :3] = look_at(position, target.expand(batch, 3))
    cam2world[:, :3, 3] = position
    return torch.cat([cam2world.reshape(batch, 16), intrinsics_from_focal(focal_t).reshape(batch, 9)], dim=1)


def camera_from_angles(convention: str, yaw_deg: Scalar, pitch_deg: Scalar, radius: Scalar = DEFAULT_RADIUS,
                       lookat: Sequence[float] | torch.Tensor = LOOKAT_PIVOT, focal: Scalar = DEFAULT_FOCAL,
                       device: torch.device | None = None) -> torch.Tensor:
    """`orbit_camera` ("project") or `reference_camera` ("reference") of the same arguments: [B, 25]."""
    if convention == "reference":
        return reference_camera(yaw_deg, pitch_deg, radius, lookat, focal, device)
    if convention != "project":
        raise ValueError(f"unknown camera convention {convention!r}: use project or reference")
    return orbit_camera(yaw_deg, pitch_deg, radius, lookat, focal, device)


def reference_focal_from_fov(fov_deg: float) -> float:
    """The authors' FOV_to_intrinsics: f = 1 / (1.414 tan(fov 3.14159 / 360)); their visualizer's default
    12.447863 degrees gives 6.485, near the dataset's 6.5104 (`focal_from_fov` is the exact formula)."""
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view must lie in (0, 180) degrees, got {fov_deg}")
    return 1.0 / (1.414 * math.tan(fov_deg * 3.14159 / 360.0))
