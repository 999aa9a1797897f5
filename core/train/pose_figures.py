"""Pose figures that can fail: errors beside trivial baselines, per-axis errors and correlations, how well the
distribution of G's poses matches the data's, and whether the canonical avatar really is at rest.

All take and return plain tensors/floats so they are tested on known answers (tests/core/test_pose_figures.py).
Poses are [N, 6] radians: neck (x nod, y turn, z tilt), then head (x, y, z); figures are in degrees.
"""
from __future__ import annotations

import math

import torch

from core.train.losses import pose_error_deg

AXES = ("neck_nod", "neck_turn", "neck_tilt", "head_nod", "head_turn", "head_tilt")


def baseline_figures(real_pose: torch.Tensor, train_mean_pose: torch.Tensor, prefix: str = "Eval/baseline") -> dict:
    """Errors of predicting the zero pose and of predicting the training set's mean pose for every image."""
    figures = {}
    guesses = (("zero_pose", torch.zeros_like(real_pose)), ("mean_pose", train_mean_pose.expand_as(real_pose)))
    for name, guess in guesses:
        neck, head = pose_error_deg(guess, real_pose)
        figures[f"{prefix}/{name}/neck_deg"], figures[f"{prefix}/{name}/head_deg"] = float(neck), float(head)
        for axis, error in zip(AXES, (guess - real_pose).abs().rad2deg().mean(dim=0)):
            figures[f"{prefix}/{name}/{axis}_deg"] = float(error)
    return figures


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two [N] vectors (0 when either is constant)."""
    a, b = a - a.mean(), b - b.mean()
    denominator = float(a.norm() * b.norm())
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0


def per_axis_figures(predicted: torch.Tensor, target: torch.Tensor, prefix: str) -> dict:
    """Per axis: mean absolute error (degrees) and correlation between prediction and truth."""
    figures = {}
    for index, axis in enumerate(AXES):
        figures[f"{prefix}/{axis}_deg"] = float((predicted[:, index] - target[:, index]).abs().rad2deg().mean())
        figures[f"{prefix}/{axis}_corr"] = correlation(predicted[:, index], target[:, index])
    return figures


def wasserstein_1d(a: torch.Tensor, b: torch.Tensor, quantiles: int = 256) -> float:
    """1-D earth mover's distance between two samples [N] and [M], from their quantile functions."""
    levels = (torch.arange(quantiles, dtype=torch.float64) + 0.5) / quantiles
    return float((torch.quantile(a.double(), levels) - torch.quantile(b.double(), levels)).abs().mean())


def distribution_figures(generated: torch.Tensor, data: torch.Tensor, prefix: str = "Eval/G_pose_dist") -> dict:
    """Per axis: spread ratio std(G) / std(data) (1 is right, 0 is a collapse onto one pose) and the
    Wasserstein-1 distance in degrees; and the same distance for always generating the data's mean pose."""
    figures = {}
    for index, axis in enumerate(AXES):
        g, d = generated[:, index].rad2deg(), data[:, index].rad2deg()
        figures[f"{prefix}/{axis}_spread_ratio"] = float(g.std() / d.std().clamp_min(1e-9))
        figures[f"{prefix}/{axis}_w1_deg"] = wasserstein_1d(g, d)
        figures[f"Eval/baseline/mean_pose/{axis}_w1_deg"] = wasserstein_1d(torch.full_like(d, float(d.mean())), d)
    return figures


def head_yaw_offsets(density: torch.Tensor) -> torch.Tensor:
    """Yaw (degrees) of each head against the mean head, by circular cross-correlation over the angle.

    density: [S, A, K] samples of S heads on A angles evenly around the vertical axis (K samples of radius
    and height at each angle). A head turned by +t degrees about the vertical axis reads +t.
    """
    angles = density.shape[1]
    centred = density - density.mean(dim=1, keepdim=True)
    template = centred.mean(dim=0)  # [A, K]
    spectrum = torch.fft.rfft(centred, dim=1) * torch.fft.rfft(template, dim=0).conj()[None]
    score = torch.fft.irfft(spectrum, n=angles, dim=1).sum(dim=2)  # [S, A]: correlation at each shift
    shift = score.argmax(dim=1).to(torch.float64)
    shift = torch.where(shift > angles / 2, shift - angles, shift)
    return shift * 360.0 / angles


def cylinder_points(centre: torch.Tensor, angles: int = 90, radii=(0.04, 0.07, 0.10),
                    heights=(-0.04, 0.0, 0.04, 0.08)) -> torch.Tensor:
    """Points [A * R * H, 3] on cylinders about the vertical axis through `centre` [3]; angle-major, so
    a reshape to [A, R * H] gives `head_yaw_offsets` its layout. Angle 0 looks along +z (the face)."""
    theta = torch.arange(angles, dtype=torch.float32) * (2 * math.pi / angles)
    radius = torch.tensor(radii, dtype=torch.float32)
    height = torch.tensor(heights, dtype=torch.float32)
    t, r, h = torch.meshgrid(theta, radius, height, indexing="ij")
    points = torch.stack([r * torch.sin(t), h, r * torch.cos(t)], dim=-1).reshape(-1, 3)
    return points + centre.reshape(1, 3).cpu()
