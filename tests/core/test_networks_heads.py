"""The OSG decoder and the pose branch with its explicit left/right symmetry."""
from __future__ import annotations

import pytest
import torch

from core.camera import is_left, mirror_camera, mirror_pose, orbit_camera
from core.networks.heads import OSGDecoder, PoseBranch


def test_decoder_splits_raw_sigma_from_features(device):
    decoder = OSGDecoder(feature_channels=4, hidden=8).to(device)
    mean_features = torch.randn(2, 5, 4, device=device)
    sigma, features = decoder(mean_features)
    assert sigma.shape == (2, 5, 1) and features.shape == (2, 5, 4)
    first, second = decoder.net[0], decoder.net[2]
    hidden = torch.nn.functional.softplus(mean_features @ (first.weight * first.weight_gain).t() + first.bias)
    raw = hidden @ (second.weight * second.weight_gain).t() + second.bias
    torch.testing.assert_close(torch.cat([sigma, features], dim=-1), raw, atol=1e-5, rtol=1e-5)
    squashed = decoder(mean_features * 100, activation="sigmoid")[1]
    assert squashed.min() >= -0.001 and squashed.max() <= 1.001
    torch.testing.assert_close(squashed, torch.sigmoid(decoder(mean_features * 100)[1]) * 1.002 - 0.001)
    with pytest.raises(ValueError, match="decoder_activation"):
        decoder(mean_features, activation="tanh")


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
