"""Realistic warp inputs: the sample points a render of the default camera feeds to `point_warp`."""
from __future__ import annotations

import torch

from core.camera import orbit_camera
from core.config import RenderingConfig
from core.rendering.rays import generate_rays

# Where the fine (importance) samples gather: the depths around the bust seen from the default radius 2.7.
FINE_DEPTH_RANGE = (2.45, 2.85)


def render_sample_points(resolution: int, yaw_deg: float = 0.0, pitch_deg: float = 0.0,
                         rendering: RenderingConfig | None = None, device=None) -> torch.Tensor:
    """Points [1, R*R*(coarse+fine), 3] along the rays of an orbit camera.

    Coarse samples sit at interval midpoints between ray_start and ray_end; the fine samples, which a
    renderer draws from the coarse weights, are stood in for by midpoints over FINE_DEPTH_RANGE.
    """
    rendering = rendering or RenderingConfig()
    camera = orbit_camera(yaw_deg, pitch_deg, device=device)
    origins, directions = generate_rays(camera, resolution)  # [1, R*R, 3] each

    def midpoints(start: float, end: float, count: int) -> torch.Tensor:
        edges = torch.linspace(start, end, count + 1, device=origins.device)
        return (edges[1:] + edges[:-1]) / 2

    depths = torch.cat([midpoints(rendering.ray_start, rendering.ray_end, rendering.depth_resolution),
                        midpoints(*FINE_DEPTH_RANGE, rendering.depth_resolution_importance)])
    points = origins[:, :, None] + directions[:, :, None] * depths[None, None, :, None]
    return points.reshape(1, -1, 3)
