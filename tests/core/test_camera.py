"""Orbit cameras, intrinsics, rays and the left/right mirror, against analytic answers."""
import math

import pytest
import torch

from core.camera import (
    DEFAULT_FOCAL, DEFAULT_RADIUS, LOOKAT_PIVOT, camera_yaw_pitch_deg, focal_from_fov, fov_from_focal,
    intrinsics_from_focal, is_left, look_at, mirror_camera, mirror_pose, orbit_camera,
)
from core.rendering.rays import generate_rays


def _cam2world(camera):
    return camera[:, :16].reshape(-1, 4, 4)


@pytest.mark.parametrize("yaw, expected_direction", [(0.0, (0, 0, 1)), (90.0, (1, 0, 0)), (180.0, (0, 0, -1)),
                                                     (270.0, (-1, 0, 0)), (-90.0, (-1, 0, 0))])
def test_yaw_places_camera_around_the_pivot(device, yaw, expected_direction):
    camera = orbit_camera(yaw, 0.0, device=device)
    assert camera.shape == (1, 25) and camera.device.type == device.type
    position = _cam2world(camera)[0, :3, 3].cpu()
    pivot = torch.tensor(LOOKAT_PIVOT)
    expected = pivot + DEFAULT_RADIUS * torch.tensor(expected_direction, dtype=torch.float32)
    torch.testing.assert_close(position, expected, atol=1e-5, rtol=0)
    # The optical axis (third column) points from the camera straight at the pivot.
    forward = _cam2world(camera)[0, :3, 2].cpu()
    torch.testing.assert_close(position + DEFAULT_RADIUS * forward, pivot, atol=1e-5, rtol=0)


def test_cam2world_is_a_proper_opencv_rotation(device):
    yaws = torch.linspace(-180, 180, 13, device=device)
    pitches = torch.linspace(-90, 90, 13, device=device)
    camera = orbit_camera(yaws, pitches, device=device)
    rotation = _cam2world(camera)[:, :3, :3]
    identity = torch.eye(3, device=device).expand_as(rotation)
    torch.testing.assert_close(rotation.transpose(1, 2) @ rotation, identity, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rotation), torch.ones(13, device=device), atol=1e-5, rtol=0)
    # Image right stays horizontal, image down points towards world -y whenever the horizon is visible.
    assert rotation[:, 1, 0].abs().max() < 1e-6
    inner = pitches.abs() < 89
    assert (rotation[inner, 1, 1] < 0).all()


def test_front_camera_sees_subject_left_on_image_right_and_up_as_image_up(device):
    rotation = _cam2world(orbit_camera(0.0, 0.0, device=device))[0, :3, :3].cpu()
    torch.testing.assert_close(rotation, torch.diag(torch.tensor([1.0, -1.0, -1.0])), atol=1e-6, rtol=0)


def test_positive_pitch_looks_from_above(device):
    position = _cam2world(orbit_camera(30.0, 40.0, device=device))[0, :3, 3].cpu()
    height = position[1] - LOOKAT_PIVOT[1]
    assert math.isclose(height.item(), DEFAULT_RADIUS * math.sin(math.radians(40)), abs_tol=1e-5)


def test_yaw_pitch_round_trip(device):
    yaws = torch.tensor([0.0, 45.0, 90.0, 135.0, 179.0, -179.0, -60.0, 12.5], device=device)
    pitches = torch.tensor([0.0, 10.0, -20.0, 45.0, -89.0, 60.0, 89.9, -5.0], device=device)
    camera = orbit_camera(yaws, pitches, radius=1.5, lookat=(0.1, 0.2, -0.3), device=device)
    yaw_back, pitch_back = camera_yaw_pitch_deg(camera)
    torch.testing.assert_close(pitch_back, pitches, atol=2e-3, rtol=0)
    torch.testing.assert_close(yaw_back, yaws, atol=2e-3, rtol=0)
    yaw_wrapped, _ = camera_yaw_pitch_deg(orbit_camera(270.0, 0.0, device=device))
    assert math.isclose(yaw_wrapped.item(), -90.0, abs_tol=1e-4)


def test_poles_keep_the_yaw_and_a_finite_rotation(device):
    for pitch in (90.0, -90.0):
        camera = orbit_camera(torch.tensor([0.0, 90.0], device=device), pitch, device=device)
        assert torch.isfinite(camera).all()
        yaw_back, pitch_back = camera_yaw_pitch_deg(camera)
        torch.testing.assert_close(yaw_back, torch.tensor([0.0, 90.0], device=device), atol=1e-3, rtol=0)
        torch.testing.assert_close(pitch_back.abs(), torch.full((2,), 90.0, device=device), atol=1e-2, rtol=0)


def test_look_at_matches_the_reference_construction():
    position = torch.tensor([[0.7, 0.9, 2.1]])
    target = torch.tensor([[0.0, 0.0649, 0.0]])
    rotation = look_at(position, target)[0]
    forward = torch.nn.functional.normalize(target - position, dim=-1)[0]
    right = -torch.nn.functional.normalize(torch.linalg.cross(torch.tensor([0.0, 1.0, 0.0]), forward), dim=0)
    torch.testing.assert_close(rotation[:, 2], forward)
    torch.testing.assert_close(rotation[:, 0], right)
    torch.testing.assert_close(rotation[:, 1], torch.linalg.cross(forward, right))


def test_intrinsics_and_fov():
    torch.testing.assert_close(intrinsics_from_focal(2.0), torch.tensor([[2.0, 0, 0.5], [0, 2.0, 0.5], [0, 0, 1]]))
    # f = 1 / (2 tan(fov / 2)): a 90-degree view has focal 1/2.
    assert math.isclose(focal_from_fov(90.0), 0.5, rel_tol=1e-12)
    assert math.isclose(fov_from_focal(focal_from_fov(12.447863)), 12.447863, rel_tol=1e-12)
    assert math.isclose(focal_from_fov(fov_from_focal(DEFAULT_FOCAL)), DEFAULT_FOCAL, rel_tol=1e-12)
    with pytest.raises(ValueError, match="field of view"):
        focal_from_fov(0.0)
    label = orbit_camera(0.0, 0.0, focal=3.0)
    torch.testing.assert_close(label[0, 16:].reshape(3, 3), intrinsics_from_focal(3.0))


def test_centre_and_corner_ray_directions(device):
    focal, resolution = 2.0, 5
    camera = orbit_camera(0.0, 0.0, focal=focal, device=device)
    origins, directions = generate_rays(camera, resolution)
    assert origins.shape == directions.shape == (1, resolution * resolution, 3)
    torch.testing.assert_close(directions.norm(dim=-1), torch.ones(1, 25, device=device))
    forward = _cam2world(camera)[0, :3, 2]
    # An odd resolution puts the centre pixel's centre exactly on the optical axis.
    torch.testing.assert_close(directions[0, resolution * resolution // 2], forward, atol=1e-6, rtol=0)
    torch.testing.assert_close(origins[0], _cam2world(camera)[0, :3, 3].expand(25, 3))
    # Corner pixel (0, 0): offset (0.5 - 0.5/R) / f along both image axes.
    offset = (0.5 - 0.5 / resolution) / focal
    angle = torch.acos((directions[0, 0] * forward).sum()).item()
    assert math.isclose(angle, math.atan(math.sqrt(2) * offset), rel_tol=1e-5)
    # Top-left pixel lies towards image left (world -x for the front camera) and image up (world +y).
    assert directions[0, 0, 0] < 0 and directions[0, 0, 1] > 0
    # A wide grid approaches the half field of view atan(0.5 / f) at its horizontal edge.
    _, wide = generate_rays(camera, 2001)
    edge = wide[0, 1000 * 2001]
    assert math.isclose(math.atan2(-edge[0].item(), -edge[2].item()), math.atan(0.5 / focal), rel_tol=1e-3)


def test_skew_shifts_rays_as_the_intrinsics_say(device):
    camera = orbit_camera(0.0, 0.0, focal=2.0, device=device)
    camera[:, 17] = 0.3
    _, directions = generate_rays(camera, 4)
    rotation = _cam2world(camera)[0, :3, :3]
    local = directions[0] @ rotation
    pixels = (local / local[:, 2:]) @ camera[0, 16:].reshape(3, 3).T
    centres = (torch.arange(4, dtype=torch.float32, device=device) + 0.5) / 4
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    torch.testing.assert_close(pixels[:, 0], u.reshape(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(pixels[:, 1], v.reshape(-1), atol=1e-5, rtol=0)


def test_mirror_camera_is_the_reflected_scene(device):
    yaws = torch.tensor([20.0, -75.0, 160.0], device=device)
    camera = orbit_camera(yaws, torch.tensor([15.0, -30.0, 5.0], device=device), device=device)
    mirrored = mirror_camera(camera)
    torch.testing.assert_close(mirror_camera(mirrored), camera)
    # On a pivot with x = 0 the reflected orbit camera is the one at the negated yaw.
    torch.testing.assert_close(mirrored, orbit_camera(-yaws, torch.tensor([15.0, -30.0, 5.0]), device=device),
                               atol=1e-5, rtol=0)
    # Every ray of the mirrored camera is the reflection (x -> -x) of the ray of the left-right mirrored pixel.
    resolution = 6
    origins, directions = generate_rays(camera, resolution)
    origins_m, directions_m = generate_rays(mirrored, resolution)
    reflect = torch.tensor([-1.0, 1.0, 1.0], device=device)

    def flip_columns(rays):
        return rays.reshape(3, resolution, resolution, 3).flip(2).reshape(3, -1, 3)

    torch.testing.assert_close(origins_m, origins * reflect)
    torch.testing.assert_close(directions_m, flip_columns(directions) * reflect, atol=1e-6, rtol=0)


def test_mirror_pose_twice_is_identity_and_flags_left_cameras(device):
    pose = torch.tensor([[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]], device=device)
    torch.testing.assert_close(mirror_pose(pose), torch.tensor([[0.1, -0.2, -0.3, 0.4, -0.5, -0.6]], device=device))
    torch.testing.assert_close(mirror_pose(mirror_pose(pose)), pose)
    left = is_left(orbit_camera(torch.tensor([90.0, -90.0, 0.0, 30.0]), 0.0, device=device))
    assert left.tolist() == [True, False, True, True]
    assert not is_left(mirror_camera(orbit_camera(30.0, 0.0, device=device))).item()
