"""Tri-grid features on a regular world grid by separable interpolation: the fast path for canonical meshes.

On an axis-aligned grid, trilinear lookup with align_corners=False and zero padding factors into one
small interpolation matrix per axis, so each plane's thin volume is resampled with three matrix
products instead of 8 scattered reads per point and channel (grid_sample). The results equal
`sample_trigrid` at the same points up to float rounding; the decoder then runs on the mean features.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from core.mesh.grid import DEFAULT_CHUNK, DEFAULT_MEMORY_BUDGET, Bounds, MeshCancelled, check_grid_budget, grid_axes
from core.rendering.trigrid import PLANE_AXES
from core.rendering.volume import CROPPED_SIGMA


def interpolation_matrix(coordinates: torch.Tensor, size: int, box_warp: float) -> torch.Tensor:
    """[N, size] weights that resample `size` texels at world `coordinates: [N]` like grid_sample.

    align_corners=False: texel t's centre sits at ((2t + 1) / size - 1) * box_warp / 2; texels beyond the
    edge count as zero (zero padding).
    """
    position = ((coordinates * (2.0 / box_warp) + 1) * size - 1) / 2
    lower = torch.floor(position)
    fraction = position - lower
    lower = lower.long()
    matrix = torch.zeros(len(coordinates), size + 2, dtype=coordinates.dtype, device=coordinates.device)
    rows = torch.arange(len(coordinates), device=coordinates.device)
    # Shifted by one column so that texels -1 and `size` land in padding columns that are dropped.
    matrix[rows, (lower + 1).clamp(0, size + 1)] += 1 - fraction
    matrix[rows, (lower + 2).clamp(0, size + 1)] += fraction
    return matrix[:, 1:size + 1]


def _plane_on_grid(volume: torch.Tensor, plane: int, matrices: Sequence[torch.Tensor]) -> torch.Tensor:
    """One plane's volume [C, D, H, W] resampled at grid points -> [Sx, Ny, Nz, C] (world order x, y, z)."""
    along_w, along_h, along_d = (matrices[axis] for axis in PLANE_AXES[plane])
    # Letters: x y z are world grid axes; the plane's (w, h, d) texel axes map onto them per PLANE_AXES.
    letters = "xyz"
    out_w, out_h, out_d = (letters[axis] for axis in PLANE_AXES[plane])
    expression = f"cdhw,{out_w}w,{out_h}h,{out_d}d->xyzc"
    return torch.einsum(expression, volume, along_w, along_h, along_d)


def decode_sigma(decoder, features: torch.Tensor) -> torch.Tensor:
    """Raw sigma [P] of the OSG decoder for mean features [P, C], skipping its C feature outputs.

    Only output row 0 of the last layer is computed: the decoder's cost nearly halves and the result
    equals `decoder(features)[0]`.
    """
    first, activation, last = decoder.net
    hidden = activation(first(features))
    weight = last.weight[:1].to(hidden.dtype) * last.weight_gain
    bias = last.bias[:1].to(hidden.dtype) * last.bias_gain
    return torch.addmm(bias.unsqueeze(0), hidden, weight.t())[:, 0]


def separable_density_grid(
    generator,
    planes: torch.Tensor,
    resolution: int | Sequence[int],
    bounds: Bounds,
    crop: bool = True,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> np.ndarray:
    """Raw sigma [Nx, Ny, Nz] of a TriGridGenerator's `planes: [1, 3, C*D, H, W]` on the grid of `density_grid`.

    Same samples, order, crop and progress/cancel behaviour as `density_grid(generator_density_field(...))`,
    evaluated in slabs of constant x of about `chunk` points.
    """
    check_grid_budget(resolution, memory_budget)
    options = generator.config.rendering
    depth = generator.config.triplane_depth
    device = planes.device
    axes = [torch.tensor(axis, dtype=torch.float32, device=device) for axis in grid_axes(resolution, bounds)]
    sizes = [len(axis) for axis in axes]
    _, _, channels_depth, height, width = planes.shape
    volumes = planes[0].reshape(3, channels_depth // depth, depth, height, width)
    texels = {0: width, 1: height, 2: depth}  # texel count of each (w, h, d) slot
    matrices = [
        [interpolation_matrix(axes[axis], texels[slot], options.box_warp) for axis in range(3)]
        for slot in range(3)
    ]  # matrices[slot][world axis]: [N_axis, texels of slot]
    limit = options.box_warp / 2 - options.triplane_crop
    side_ok = (axes[0].abs()[:, None] <= limit) & (axes[2].abs()[None, :] <= limit)  # [Nx, Nz]
    grid = np.empty(sizes, dtype=np.float32)
    slab = max(1, chunk // (sizes[1] * sizes[2]))
    with torch.no_grad():
        for start in range(0, sizes[0], slab):
            if cancel is not None and cancel():
                raise MeshCancelled(f"density grid cancelled after {start} of {sizes[0]} x-slices")
            stop = min(start + slab, sizes[0])
            features = 0
            for plane in range(3):
                per_axis = [matrices[PLANE_AXES[plane].index(axis)][axis] for axis in range(3)]
                per_axis[0] = per_axis[0][start:stop]
                features = features + _plane_on_grid(volumes[plane], plane, per_axis)
            sigma = decode_sigma(generator.decoder, (features / 3).reshape(-1, volumes.shape[1]))
            sigma = sigma.reshape(stop - start, sizes[1], sizes[2])
            if crop:
                sigma = sigma.masked_fill(~side_ok[start:stop, None, :], CROPPED_SIGMA)
            grid[start:stop] = sigma.float().cpu().numpy()
            if progress is not None:
                progress(stop / sizes[0])
    return grid
