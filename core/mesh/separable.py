"""Tri-grid features on a regular world grid by separable interpolation: the fast path for canonical meshes.

On an axis-aligned grid, trilinear lookup with align_corners=False and zero padding factors into one
small interpolation matrix per axis. Each plane is resampled once along its two in-plane axes; every slab
of the grid then only mixes the 3 depth texels with one batched product written in place, instead of 8
scattered reads per point and channel (grid_sample). The results equal `sample_trigrid` at the same points
up to float rounding; only the density row of the decoder is evaluated.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from core.mesh.grid import DEFAULT_CHUNK, Bounds, MeshCancelled, check_grid_budget, grid_axes
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


def _in_plane_resampled(volume: torch.Tensor, plane: int, along_w: torch.Tensor,
                        along_h: torch.Tensor) -> torch.Tensor:
    """A plane's volume [C, D, H, W] resampled at the grid along its two in-plane axes, laid out for the slabs.

    Done once per grid; the slabs then only mix the D (= 3) depth texels, each with one batched product
    that writes straight into the [S, Ny, Nz, C] features. Layouts: plane 0 (x, y | z) -> [Nx, Ny, D, C],
    plane 1 (x, z | y) -> [Nx, D, Nz, C], plane 2 (y, z | x) -> [D, Ny, Nz, C].
    """
    layouts = {0: "xydc", 1: "xdzc", 2: "dyzc"}
    letters = "xyz"
    out_w, out_h = letters[PLANE_AXES[plane][0]], letters[PLANE_AXES[plane][1]]
    return torch.einsum(f"cdhw,{out_h}h,{out_w}w->{layouts[plane]}", volume, along_h, along_w).contiguous()


def _add_slab_features(features: torch.Tensor, resampled: list[torch.Tensor], depth_matrices: list[torch.Tensor],
                       start: int, stop: int) -> None:
    """features [S, Ny, Nz, C] += every plane's features at grid slices x in [start, stop) (in place)."""
    slab, ny, nz, channels = features.shape
    plane0 = resampled[0][start:stop].reshape(slab * ny, -1, channels)  # [S*Ny, D, C]
    along_z = depth_matrices[0].expand(slab * ny, -1, -1)  # [S*Ny, Nz, D]
    features.view(slab * ny, nz, channels).baddbmm_(along_z, plane0)
    plane1 = resampled[1][start:stop].reshape(slab, -1, nz * channels)  # [S, D, Nz*C]
    along_y = depth_matrices[1].expand(slab, -1, -1)  # [S, Ny, D]
    features.view(slab, ny, nz * channels).baddbmm_(along_y, plane1)
    plane2 = resampled[2].reshape(resampled[2].shape[0], -1)  # [D, Ny*Nz*C]
    features.view(slab, -1).addmm_(depth_matrices[2][start:stop], plane2)


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
    memory_budget: int | None = None,
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
        # The decoder sees the mean of the planes: the 1/3 rides on the depth matrices.
        resampled = [_in_plane_resampled(volumes[plane], plane, matrices[0][PLANE_AXES[plane][0]],
                                         matrices[1][PLANE_AXES[plane][1]]) for plane in range(3)]
        depth_matrices = [matrices[2][PLANE_AXES[plane][2]] / 3 for plane in range(3)]
        for start in range(0, sizes[0], slab):
            if cancel is not None and cancel():
                raise MeshCancelled(f"density grid cancelled after {start} of {sizes[0]} x-slices")
            stop = min(start + slab, sizes[0])
            features = planes.new_zeros(stop - start, sizes[1], sizes[2], volumes.shape[1])
            _add_slab_features(features, resampled, depth_matrices, start, stop)
            sigma = decode_sigma(generator.decoder, features.view(-1, volumes.shape[1]))
            sigma = sigma.reshape(stop - start, sizes[1], sizes[2])
            if crop:
                sigma = sigma.masked_fill(~side_ok[start:stop, None, :], CROPPED_SIGMA)
            grid[start:stop] = sigma.float().cpu().numpy()
            if progress is not None:
                progress(stop / sizes[0])
    return grid
