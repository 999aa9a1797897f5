"""The OSG decoder and the pose branch with its explicit left/right symmetry."""
from __future__ import annotations

import pytest
import torch

from core.camera import is_left, mirror_camera, mirror_pose, orbit_camera
from core.networks.heads import OSGDecoder, PoseBranch


def test_decoder_averages_planes_and_splits_sigma_from_features(device):
    decoder = OSGDecoder(feature_channels=4, hidden=8).to(device)
    plane_features = torch.randn(2, 3, 5, 4, device=device)
    sigma, features = decoder(plane_features)
    assert sigma.shape == (2, 5, 1) and features.shape == (2, 5, 4)
    # Only the mean of the planes matters: a different split with the same mean decodes identically.
    shifted = plane_features + torch.tensor([1.0, -2.0, 1.0], device=device).reshape(1, 3, 1, 1)
    torch.testing.assert_close(decoder(shifted)[0], sigma, atol=1e-5, rtol=1e-5)
    first, second = decoder.net[0], decoder.net[2]
    hidden = torch.nn.functional.softplus(plane_features.mean(1) @ (first.weight * first.weight_gain).t() + first.bias)
    raw = hidden @ (second.weight * second.weight_gain).t() + second.bias
    torch.testing.assert_close(torch.cat([sigma, features], dim=-1), raw, atol=1e-5, rtol=1e-5)
    squashed = decoder(plane_features * 100, activation="sigmoid")[1]
    assert squashed.min() >= -0.001 and squashed.max() <= 1.001
    with pytest.raises(ValueError, match="decoder_activation"):
        decoder(plane_features, activation="tanh")


def test_pose_branch_is_mirror_symmetric(device):
    branch = PoseBranch(z_dim=8, c_dim=25, hidden=(16, 8)).to(device)
    # Cameras on both sides, none exactly on the symmetry plane.
    yaws = torch.tensor([35.0, -35.0, 120.0, -80.0, 170.0], device=device)
    camera = orbit_camera(yaws, torch.tensor([10.0, -5.0, 0.0, 20.0, 3.0], device=device), device=device)
    z = torch.randn(5, 8, device=device)
    pose = branch(z, camera)
    assert pose.shape == (5, 6)
    torch.testing.assert_close(branch(z, mirror_camera(camera)), mirror_pose(pose), atol=1e-5, rtol=1e-5)
    # The MLP itself only ever sees right-side cameras: a left camera gives the mirrored right prediction.
    left = is_left(camera)
    assert left.any() and (~left).any()
    right_side = torch.where(left.unsqueeze(1), mirror_camera(camera), camera)
    raw = branch.net(torch.cat([z, right_side], dim=1))
    torch.testing.assert_close(pose, torch.where(left.unsqueeze(1), mirror_pose(raw), raw))
    assert not torch.allclose(pose[left], raw[left])
