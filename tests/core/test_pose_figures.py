"""The pose figures on known answers: baselines, per-axis errors and correlations, Wasserstein distances,
spread ratios of a collapsed and of a matching distribution, and the canonical head-yaw registration."""
from __future__ import annotations

import math

import pytest
import torch

from core.train.pose_figures import (AXES, baseline_figures, correlation, cylinder_points, distribution_figures,
                                     head_yaw_offsets, per_axis_figures, wasserstein_1d)


def _poses(count: int = 400, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(count, 6, generator=generator) * torch.tensor([0.1, 0.3, 0.05, 0.1, 0.25, 0.05]) + 0.02


def test_baselines_are_the_mean_absolute_pose_and_its_deviation_from_the_mean():
    poses = _poses()
    mean = poses.mean(dim=0, keepdim=True)
    figures = baseline_figures(poses, mean)
    assert figures["Eval/baseline/zero_pose/neck_deg"] == pytest.approx(float(poses[:, :3].abs().rad2deg().mean()))
    assert figures["Eval/baseline/mean_pose/head_turn_deg"] == pytest.approx(
        float((poses[:, 4] - mean[0, 4]).abs().rad2deg().mean()))
    assert figures["Eval/baseline/mean_pose/head_deg"] < figures["Eval/baseline/zero_pose/head_deg"]  # biased data


def test_correlations_and_per_axis_errors():
    a = torch.linspace(-1, 1, 50)
    assert correlation(a, 3 * a + 1) == pytest.approx(1.0)
    assert correlation(a, -a) == pytest.approx(-1.0)
    assert correlation(a, torch.zeros(50)) == 0.0
    poses = _poses()
    perfect = per_axis_figures(poses, poses, "P")
    assert all(perfect[f"P/{axis}_deg"] == 0 and perfect[f"P/{axis}_corr"] == pytest.approx(1.0) for axis in AXES)
    shuffled = per_axis_figures(poses[torch.randperm(len(poses), generator=torch.Generator().manual_seed(1))],
                                poses, "P")
    assert abs(shuffled["P/head_turn_corr"]) < 0.2  # an unrelated prediction correlates with nothing


def test_wasserstein_of_a_shift_is_the_shift():
    sample = torch.randn(2000, generator=torch.Generator().manual_seed(2))
    assert wasserstein_1d(sample, sample) == pytest.approx(0.0, abs=1e-9)
    assert wasserstein_1d(sample + 0.5, sample) == pytest.approx(0.5, abs=1e-6)


def test_a_collapsed_pose_distribution_scores_as_the_mean_pose_baseline():
    data = _poses(seed=3)
    matching = distribution_figures(_poses(seed=4), data)
    collapsed = distribution_figures(data.mean(dim=0, keepdim=True).expand_as(data), data)
    for axis in AXES:
        assert matching[f"Eval/G_pose_dist/{axis}_spread_ratio"] == pytest.approx(1.0, abs=0.15)
        assert collapsed[f"Eval/G_pose_dist/{axis}_spread_ratio"] == pytest.approx(0.0, abs=1e-6)
        baseline = collapsed[f"Eval/baseline/mean_pose/{axis}_w1_deg"]
        assert collapsed[f"Eval/G_pose_dist/{axis}_w1_deg"] == pytest.approx(baseline, rel=1e-6)
        assert matching[f"Eval/G_pose_dist/{axis}_w1_deg"] < 0.3 * baseline


def _rotate_y(points: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate [N, 3] about the vertical axis (right-handed, +y up): +90 takes +z (the face) to +x."""
    angle = math.radians(degrees)
    rotation = torch.tensor([[math.cos(angle), 0.0, math.sin(angle)], [0.0, 1.0, 0.0],
                             [-math.sin(angle), 0.0, math.cos(angle)]])
    return points @ rotation.T


def test_head_yaw_registration_recovers_known_turns():
    """Heads with a nose bump turned by known yaws about the vertical axis through their centre."""
    centre = torch.tensor([0.0, 0.17, 0.05])
    points = cylinder_points(centre)
    turns = [-12.0, -4.0, 0.0, 8.0, 20.0]
    nose, ear = torch.tensor([0.0, 0.0, 0.09]), torch.tensor([0.08, 0.02, 0.0])
    heads = []
    for turn in turns:
        local = points - centre
        density = sum(torch.exp(-(local - _rotate_y(bump[None], turn)).square().sum(-1) / 0.03 ** 2)
                      for bump in (nose, ear))
        heads.append(density.reshape(90, -1))
    offsets = head_yaw_offsets(torch.stack(heads))
    relative = offsets - offsets[2]  # against the unturned head
    assert relative.tolist() == pytest.approx(turns, abs=4.01)  # one angular bin is 4 degrees
    assert float(torch.tensor(turns).std()) == pytest.approx(float(offsets.std()), rel=0.2)
