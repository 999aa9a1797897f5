"""Analytic stand-ins for a generator: an off-centre ellipsoid of known raw density and position-coded colours.

Shared by the mesh and inspect tests (no tests here). The fake has the generator surface those modules use:
`config`, `sample_density(planes, points, rendering)` and `torgb(features [B, C, H, W], w)`.
"""
from __future__ import annotations

import torch

from core.config import preset

CENTRE = (0.12, -0.08, 0.05)  # world centre of the ellipsoid
RADII = (0.22, 0.14, 0.09)  # semi-axes along x, y, z: unequal, so orientation errors show
PEAK = 20.0  # raw sigma at the centre; the surface (raw 0) is where the ellipsoid equation is 1
COLOUR_GAIN = 2.0  # raw colour = clamp(gain * position): a vertex's colour tells where it is


def ellipsoid_sigma(points: torch.Tensor, centre=CENTRE, radii=RADII, peak=PEAK) -> torch.Tensor:
    """Raw sigma [..., 1] = peak * (1 - sum(((p - c) / r)^2)): positive inside, 0 on the surface."""
    scaled = (points - torch.tensor(centre, device=points.device)) / torch.tensor(radii, device=points.device)
    return (peak * (1 - (scaled ** 2).sum(-1)))[..., None]


class IdentityToRGB:
    """ToRGB stand-in: the first three feature channels are the raw colour."""

    def __call__(self, features: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return features[:, :3]


class EllipsoidGenerator:
    """A 'generator' whose density is the analytic ellipsoid and whose features are COLOUR_GAIN * position."""

    def __init__(self, centre=CENTRE, radii=RADII, peak=PEAK):
        self.config = preset("tiny")
        self.centre, self.radii, self.peak = centre, radii, peak
        self.torgb = IdentityToRGB()
        self.calls = 0  # sample_density calls, to check that refused work never starts

    def sample_density(self, planes, points, rendering=None):
        self.calls += 1
        features = torch.cat([COLOUR_GAIN * points, torch.zeros_like(points[..., :1])], dim=-1)
        return ellipsoid_sigma(points, self.centre, self.radii, self.peak), features


def fake_planes() -> torch.Tensor:
    """Planes the fake ignores (one tri-grid, [1, 3, C*D, H, W])."""
    return torch.zeros(1, 3, 3, 4, 4)


def fake_ws() -> torch.Tensor:
    """ws the fake ignores, [1, num_ws, w_dim]."""
    return torch.zeros(1, 2, 4)
