"""Camera rays of every pixel (reference-spec.md §1.6)."""
from __future__ import annotations

import torch


def generate_rays(camera: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Origins [B, R*R, 3] and unit directions [B, R*R, 3] of the pixels of cameras [B, 25], R = `resolution`.

    Rays are row-major (row i, column j); the pixel centre is u = (j + 0.5) / R, v = (i + 0.5) / R in the
    normalised image. The camera-space direction (x, y, 1) inverts the intrinsics K = [[fx, s, cx], [0, fy, cy],
    [0, 0, 1]] including skew s, then cam2world rotates it into the world.
    """
    if camera.ndim != 2 or camera.shape[1] != 25:
        raise ValueError(f"camera must have shape [B, 25], got {list(camera.shape)}")
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    batch = camera.shape[0]
    cam2world = camera[:, :16].reshape(batch, 4, 4)
    intrinsics = camera[:, 16:].reshape(batch, 3, 3)
    fx, fy = intrinsics[:, 0, 0, None], intrinsics[:, 1, 1, None]
    cx, cy = intrinsics[:, 0, 2, None], intrinsics[:, 1, 2, None]
    skew = intrinsics[:, 0, 1, None]

    centres = (torch.arange(resolution, dtype=camera.dtype, device=camera.device) + 0.5) / resolution
    v, u = torch.meshgrid(centres, centres, indexing="ij")
    u, v = u.reshape(1, -1), v.reshape(1, -1)
    # Inverse of K: y from the second row, then x from the first row with the skew term removed.
    y_cam = (v - cy) / fy
    x_cam = (u - cx - skew * y_cam) / fx
    directions_cam = torch.stack([x_cam, y_cam, torch.ones_like(x_cam)], dim=-1)
    directions = torch.nn.functional.normalize(directions_cam @ cam2world[:, :3, :3].transpose(1, 2), dim=-1)
    origins = cam2world[:, None, :3, 3].expand(batch, resolution * resolution, 3).contiguous()
    return origins, directions
