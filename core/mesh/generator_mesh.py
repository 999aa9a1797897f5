"""Meshes of a generator's density: canonical or posed shape, iso-level on raw sigma, vertex colours, smoothing.

Units: the iso-level applies to the decoder's RAW density sigma_raw, before the renderer's activation
density = softplus(sigma_raw + density_bias) (density_bias = -1, so density is in 1/world-unit). The
reference exports at raw level 10 (EG3D's usual level; about density 9, i.e. 10% opacity per 0.01 world
units of ray): that is our default. Untrained models have no such scale; pick a level from the grid's
value range (the CLI prints it) or use `median_level`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from core.config import RenderingConfig
from core.mesh.grid import (
    DEFAULT_CHUNK, Bounds, DensityFn, MeshCancelled, density_grid, extract_mesh,
)
from core.generator import TriGridGenerator
from core.mesh.separable import separable_density_grid
from core.mesh.smoothing import smooth_grid, taubin_smooth
from core.rendering.volume import CROPPED_SIGMA

PointWarp = Callable[[torch.Tensor], torch.Tensor]  # observation points [B, N, 3] -> canonical [B, N, 3]
DEFAULT_LEVEL = 10.0  # raw sigma of the surface, the reference's export level
# x and z stop at the renderer's crop (box/2 - triplane_crop = 0.4); y spans the whole box (no crop in y).
DEFAULT_MESH_BOUNDS: Bounds = ((-0.4, -0.5, -0.4), (0.4, 0.5, 0.4))
COLOR_CHUNK = 1 << 16  # vertices per colour lookup: bounded memory for the decoder's activations


@dataclass(frozen=True)
class MeshOptions:
    """What to extract and how; the defaults give the renderer's view of a trained model."""

    resolution: int = 256  # grid samples per side (64-512 are sensible; the cost grows with the cube)
    level: float = DEFAULT_LEVEL  # iso-level on raw sigma (see the module docstring for the unit)
    bounds: Bounds = DEFAULT_MESH_BOUNDS  # crop box (low xyz, high xyz) in world units, observation space
    crop: bool = True  # apply the renderer's canonical-space side-wall crop to the field
    close_boundary: bool = True  # force the grid's outer layer below the level so the mesh is closed
    grid_smoothing: float = 0.0  # Gaussian sigma in voxels applied to the grid before marching cubes
    taubin_steps: int = 0  # Taubin smoothing steps applied to the mesh after marching cubes
    colors: bool = True  # colour vertices with the generator's raw ToRGB (needs ws)
    chunk: int = DEFAULT_CHUNK  # points per decoder call
    memory_budget: int | None = None  # bytes the extraction may take at its peak (None: default_memory_budget())


@dataclass
class GeneratorMesh:
    """One extracted mesh in world units (observation space for posed shapes)."""

    vertices: np.ndarray  # [V, 3] float32
    faces: np.ndarray  # [F, 3] int64, counter-clockwise seen from outside
    colors: np.ndarray | None  # [V, 3] uint8 raw-ToRGB colours, or None when not asked for
    grid: np.ndarray  # [N, N, N] float32 raw sigma indexed [x, y, z] over `bounds` (before smoothing)
    level: float  # the iso-level used
    bounds: Bounds  # the box the grid spans
    timings_ms: dict[str, float] = field(default_factory=dict)  # grid, marching_cubes, smoothing, colors


def generator_density_field(generator, planes: torch.Tensor, rendering: RenderingConfig | None = None,
                            crop: bool = True) -> DensityFn:
    """field(points [P, 3] canonical) -> raw sigma [P] of `planes: [1, 3, C*D, H, W]`.

    With `crop`, points beyond the renderer's side walls (|x| or |z| > box/2 - triplane_crop) get the
    renderer's cropped value, so the mesh shows what the renders show.
    """
    options = rendering or generator.config.rendering
    limit = options.box_warp / 2 - options.triplane_crop

    def field_of(points: torch.Tensor) -> torch.Tensor:
        sigma = generator.sample_density(planes, points.unsqueeze(0), options)[0][0, :, 0]
        if crop:
            outside = (points[:, 0].abs() > limit) | (points[:, 2].abs() > limit)
            sigma = sigma.masked_fill(outside, CROPPED_SIGMA)
        return sigma

    return field_of


def vertex_colors(generator, planes: torch.Tensor, ws: torch.Tensor, vertices: np.ndarray,
                  point_warp: PointWarp | None = None, rendering: RenderingConfig | None = None,
                  chunk: int = COLOR_CHUNK) -> np.ndarray:
    """uint8 colours [V, 3]: features at each vertex -> raw ToRGB with ws[:, -1] -> [-1, 1] -> [0, 255].

    vertices: [V, 3] world units; posed vertices are carried to canonical space by `point_warp` first.
    """
    device = planes.device
    colors = np.zeros((len(vertices), 3), np.uint8)
    options = rendering or generator.config.rendering
    with torch.no_grad():
        for start in range(0, len(vertices), chunk):
            points = torch.as_tensor(vertices[start:start + chunk], dtype=torch.float32, device=device)[None]
            if point_warp is not None:
                points = point_warp(points)
            features = generator.sample_density(planes, points, options)[1]  # [1, P, C]
            # ToRGB is a 1x1 convolution: the vertices ride along the image's height axis.
            rgb = generator.torgb(features.transpose(1, 2).unsqueeze(-1), ws[:, -1])[0, :3, :, 0].T  # [P, 3]
            colors[start:start + chunk] = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()
    return colors


def generator_mesh(
    generator,
    planes: torch.Tensor,
    ws: torch.Tensor | None,
    options: MeshOptions = MeshOptions(),
    point_warp: PointWarp | None = None,
    rendering: RenderingConfig | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> GeneratorMesh:
    """The iso-surface of raw sigma of `planes: [1, 3, C*D, H, W]` (made from `ws: [1, num_ws, w_dim]`).

    point_warp None gives the canonical shape; a render's observation -> canonical warp gives the posed
    shape (the grid lies in observation space). `progress(fraction)` runs from 0 to 1 (the grid is 90%
    of it); `cancel()` returning True stops with MeshCancelled. A grid over the memory budget raises
    GridTooLargeError before any work.
    """
    if planes.ndim != 5 or planes.shape[0] != 1:
        raise ValueError(f"generator_mesh takes one tri-grid, planes [1, 3, C*D, H, W]; got {list(planes.shape)}")
    if options.colors and ws is None:
        raise ValueError("vertex colours need the ws the planes were made from; pass ws or colors=False")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[stage] = (now - clock) * 1e3
        clock = now

    grid_progress = (lambda fraction: progress(0.9 * fraction)) if progress else None
    if point_warp is None and rendering is None and isinstance(generator, TriGridGenerator):
        # Canonical grids are axis-aligned: separable resampling of the planes is several times faster.
        grid = separable_density_grid(generator, planes, options.resolution, options.bounds, options.crop,
                                      options.chunk, grid_progress, cancel, options.memory_budget)
    else:
        grid = density_grid(
            generator_density_field(generator, planes, rendering, options.crop), options.resolution, options.bounds,
            chunk=options.chunk, device=planes.device, progress=grid_progress, cancel=cancel,
            memory_budget=options.memory_budget, point_warp=point_warp,
        )
    lap("grid")
    surface_grid = smooth_grid(grid, options.grid_smoothing)
    if options.close_boundary:
        surface_grid = closed_boundary(surface_grid, options.level)
    vertices, faces = extract_mesh(surface_grid, options.level, options.bounds)
    lap("marching_cubes")
    vertices = taubin_smooth(vertices, faces, options.taubin_steps)
    lap("smoothing")
    colors = None
    if options.colors:
        if cancel is not None and cancel():
            raise MeshCancelled("mesh extraction cancelled before the vertex colours")
        colors = vertex_colors(generator, planes, ws, vertices, point_warp, rendering)
    lap("colors")
    if progress is not None:
        progress(1.0)
    return GeneratorMesh(vertices, faces, colors, grid, float(options.level), options.bounds, timings)


def closed_boundary(grid: np.ndarray, level: float) -> np.ndarray:
    """A copy of `grid` whose outermost layer lies below `level`, so surfaces cut by the box close on its walls."""
    closed = grid.copy()
    outside = min(float(grid.min()), level) - 1.0
    closed[[0, -1]] = outside
    closed[:, [0, -1]] = outside
    closed[:, :, [0, -1]] = outside
    return closed


def median_level(grid: np.ndarray) -> float:
    """The grid's median raw sigma: a level that always cuts an untrained model's field (half inside)."""
    return float(np.median(grid))
