"""What one pixel's ray sees: sample depths, raw density and compositing weights along it."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from core.config import RenderingConfig
from core.rendering import generate_rays, render_rays


@dataclass
class RayProfile:
    """The merged, sorted samples of one ray of the main render."""

    depths: np.ndarray  # [S] sample depths along the ray, world units
    sigma_raw: np.ndarray  # [S] raw density at the samples (after the crop)
    weights: np.ndarray  # [S-1] compositing weight of the interval [depths_i, depths_(i+1)]
    depth: float  # the rendered expected depth of this pixel
    opacity: float  # sum of the weights
    origin: np.ndarray  # [3] camera centre, world units
    direction: np.ndarray  # [3] unit ray direction


def ray_profile(generator, planes: torch.Tensor, camera: torch.Tensor, resolution: int, pixel: tuple[int, int],
                point_warp=None, rendering: RenderingConfig | None = None,
                deterministic: bool = True) -> RayProfile:
    """The ray of `pixel` (row, column) in a `resolution`^2 neural render of `planes: [1, 3, C*D, H, W]`.

    camera: [1, 25]. The samples are those render_rays composites (coarse + importance, crop, warp), so
    the profile explains the rendered pixel; `deterministic` uses midpoint samples (the default of renders
    that should be reproducible).
    """
    row, column = pixel
    if not (0 <= row < resolution and 0 <= column < resolution):
        raise ValueError(f"pixel {pixel} lies outside a {resolution}x{resolution} render")
    options = rendering or generator.config.rendering
    if deterministic:
        options = dataclasses.replace(options, deterministic=True)
    origins, directions = generate_rays(camera, resolution)
    index = row * resolution + column
    origin, direction = origins[:, index:index + 1], directions[:, index:index + 1]
    with torch.no_grad():
        result = render_rays(lambda points: generator.sample_density(planes, points, options), origin, direction,
                             options, point_warp=point_warp, keep_samples=True)
    samples = result.samples
    return RayProfile(
        depths=samples.depths[0, 0].cpu().numpy(), sigma_raw=samples.sigma_raw[0, 0].cpu().numpy(),
        weights=samples.weights[0, 0].cpu().numpy(), depth=float(result.depth[0, 0, 0]),
        opacity=float(result.weights_sum[0, 0, 0]), origin=origin[0, 0].cpu().numpy(),
        direction=direction[0, 0].cpu().numpy(),
    )
