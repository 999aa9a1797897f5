"""Axis-aligned density slices of a generator, with the body surface's cross-section and thickness shell.

Slice pictures are seen from the positive end of the slice axis, as the matching orbit camera sees them:
- axis "z" (front, yaw 0):  columns -> +x, rows -> -y (top row is the highest y)
- axis "x" (yaw 90, the subject's left): columns -> -z, rows -> -y
- axis "y" (from above):  columns -> +x, rows -> +z (the face at the bottom)
Pixel (row i, column j) is centred at the world coordinate sign * (-h + (index + 0.5) * 2h / R) along
its axis (h = half extent, R = resolution). Overlay coordinates are in the same index space: pixel
(i, j)'s centre is at (row i, column j); add 0.5 for image coordinates whose pixels span [j, j + 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.config import RenderingConfig
from core.inspect.colormaps import apply_colormap
from core.rendering.volume import CROPPED_SIGMA

# axis -> ((world axis, sign) along columns, (world axis, sign) along rows)
SLICE_FRAMES = {"x": ((2, -1.0), (1, -1.0)), "y": ((0, 1.0), (2, 1.0)), "z": ((0, 1.0), (1, -1.0))}
AXIS_INDEX = {"x": 0, "y": 1, "z": 2}
QUANTITIES = ("sigma_raw", "density", "opacity")
SLICE_CHUNK = 1 << 18  # points per decoder call


@dataclass(frozen=True)
class SliceOptions:
    """Which slice, of what, in which space."""

    axis: str = "z"  # axis orthogonal to the slice: x | y | z
    offset: float = 0.0  # world coordinate of the slice along `axis`
    resolution: int = 256  # pixels per side
    half_extent: float | None = None  # the slice spans [-h, h] on both in-plane axes; None = box_warp / 2
    quantity: str = "sigma_raw"  # sigma_raw | density (softplus(raw + bias), 1/world unit) | opacity
    step: float | None = None  # world length of the opacity's step; None = the coarse ray sample spacing
    crop: bool = False  # apply the renderer's side-wall crop (canonical space) as the renders do
    colormap: str = "magma"  # colour map of the picture
    value_range: tuple[float, float] | None = None  # colour map range; None = the slice's min and max


@dataclass
class DensitySlice:
    """One slice: values, its picture and what is needed for a colour bar."""

    values: np.ndarray  # [R, R] float32 of the chosen quantity, row-major as described in the module
    image: np.ndarray  # [R, R, 3] uint8 through the colour map
    value_range: tuple[float, float]  # the colour map's (low, high)
    options: SliceOptions  # what was asked for
    half_extent: float  # the resolved half extent


def _check_axis(axis: str) -> None:
    if axis not in SLICE_FRAMES:
        raise ValueError(f"slice axis must be 'x', 'y' or 'z', got {axis!r}")


def slice_pixel_to_world(axis: str, offset: float, row, column, resolution: int, half_extent: float) -> np.ndarray:
    """World points [..., 3] of slice pixels (index space: pixel centres at integer row, column)."""
    _check_axis(axis)
    row, column = np.broadcast_arrays(np.asarray(row, np.float64), np.asarray(column, np.float64))
    world = np.zeros(row.shape + (3,))
    world[..., AXIS_INDEX[axis]] = offset
    for index, (world_axis, sign) in zip((column, row), SLICE_FRAMES[axis]):
        world[..., world_axis] = sign * (-half_extent + (index + 0.5) * 2 * half_extent / resolution)
    return world


def world_to_slice_pixel(axis: str, points, resolution: int, half_extent: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) in index space of world points [..., 3] projected onto the slice plane."""
    _check_axis(axis)
    points = np.asarray(points, np.float64)
    (u_axis, u_sign), (v_axis, v_sign) = SLICE_FRAMES[axis]
    column = (u_sign * points[..., u_axis] + half_extent) * resolution / (2 * half_extent) - 0.5
    row = (v_sign * points[..., v_axis] + half_extent) * resolution / (2 * half_extent) - 0.5
    return row, column


def density_slice(generator, planes: torch.Tensor, options: SliceOptions = SliceOptions(), point_warp=None,
                  rendering: RenderingConfig | None = None) -> DensitySlice:
    """The slice of `planes: [1, 3, C*D, H, W]`'s density described by `options`.

    point_warp None: canonical space. A render's observation -> canonical warp: posed space (each slice
    point is warped before it is decoded).
    """
    _check_axis(options.axis)
    if options.quantity not in QUANTITIES:
        raise ValueError(f"slice quantity must be one of {QUANTITIES}, got {options.quantity!r}")
    render = rendering or generator.config.rendering
    half = options.half_extent if options.half_extent is not None else render.box_warp / 2
    size = options.resolution
    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    world = slice_pixel_to_world(options.axis, options.offset, rows, columns, size, half)
    points = torch.tensor(world.reshape(1, -1, 3), dtype=torch.float32, device=planes.device)
    parts = []
    with torch.no_grad():
        for start in range(0, points.shape[1], SLICE_CHUNK):
            chunk = points[:, start:start + SLICE_CHUNK]
            if point_warp is not None:
                chunk = point_warp(chunk)
            sigma = generator.sample_density(planes, chunk, render)[0][0, :, 0]
            if options.crop:
                limit = render.box_warp / 2 - render.triplane_crop
                sigma = sigma.masked_fill((chunk[0, :, 0].abs() > limit) | (chunk[0, :, 2].abs() > limit),
                                          CROPPED_SIGMA)
            parts.append(sigma)
        raw = torch.cat(parts)
        if options.quantity == "sigma_raw":
            values = raw
        else:
            values = F.softplus(raw + render.density_bias)
            if options.quantity == "opacity":
                step = options.step or (render.ray_end - render.ray_start) / render.depth_resolution
                values = 1 - torch.exp(-values * step)
    values = values.reshape(size, size).float().cpu().numpy()
    low, high = options.value_range or (float(values.min()), float(values.max()))
    return DensitySlice(values, apply_colormap(values, low, high, options.colormap), (low, high), options, half)


def body_cross_section(vertices, faces, axis: str, offset: float, resolution: int,
                       half_extent: float) -> np.ndarray:
    """Segments [K, 2, 2] (two (row, column) ends, slice index space) where triangles cross the slice plane.

    vertices: [V, 3] (canonical_vertices, or pose_vertices(pose)[0] for posed space), faces: [F, 3].
    """
    _check_axis(axis)
    vertices = np.asarray(torch.as_tensor(vertices).detach().cpu(), np.float64)
    faces = np.asarray(torch.as_tensor(faces).detach().cpu(), np.int64)
    corners = vertices[faces]  # [F, 3, 3]
    distance = corners[..., AXIS_INDEX[axis]] - offset  # [F, 3]
    above = distance > 0
    ends = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        crosses = above[:, a] != above[:, b]
        with np.errstate(divide="ignore", invalid="ignore"):
            t = distance[:, a] / (distance[:, a] - distance[:, b])
        point = corners[:, a] + np.nan_to_num(t)[:, None] * (corners[:, b] - corners[:, a])
        ends.append((crosses, point))
    crossing = np.stack([c for c, _ in ends], 1)  # [F, 3]; a triangle crosses on 0 or 2 edges
    hit = crossing.sum(1) == 2
    points = np.stack([p for _, p in ends], 1)[hit]  # [K, 3 edges, 3]
    pairs = points[crossing[hit]].reshape(-1, 2, 3)
    row, column = world_to_slice_pixel(axis, pairs, resolution, half_extent)
    return np.stack([row, column], -1).astype(np.float32)


def thickness_shell(body, pose: torch.Tensor | None, options: SliceOptions, thickness: float = 0.25,
                    box_warp: float = 1.0) -> np.ndarray:
    """bool [R, R]: slice pixels closer than `thickness` to the (posed) body surface, i.e. those the warp moves.

    Distances are to the faces the warp uses (inside the box), posed by `pose: [6]` radians (None = canonical).
    """
    from core.body.warp import ExactWarp  # late: the body model is only needed for this overlay

    half = options.half_extent if options.half_extent is not None else box_warp / 2
    size = options.resolution
    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    world = slice_pixel_to_world(options.axis, options.offset, rows, columns, size, half)
    pose = torch.zeros(6) if pose is None else torch.as_tensor(pose, dtype=torch.float32)
    warp = ExactWarp(body, pose.reshape(1, 6), thickness=thickness, box_warp=box_warp)
    points = torch.tensor(world.reshape(1, -1, 3), dtype=torch.float32, device=body.device)
    distance, _ = warp.nearest(points)
    return (distance[0] < thickness).reshape(size, size).cpu().numpy()


def mask_outline(mask: np.ndarray) -> np.ndarray:
    """bool [R, R]: pixels of `mask` with a 4-neighbour outside it (the contour to draw)."""
    padded = np.pad(mask, 1, mode="edge")
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner
