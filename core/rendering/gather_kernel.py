"""The tri-grid gather's corner rows and weights as one compiled loop (numba), for renders on a CPU.

`core.rendering.trigrid.gather_mean_features` turns each point into 24 (row, weight) pairs, 3 planes x 8 corners,
that embedding_bag sums. In torch that takes some twenty whole-array operations over [9, n] coordinates and two
transposing copies into embedding_bag's [n, 24] layout (a third of a `small` frame's lookup); here one pass per
point writes both [n, 24] arrays directly, with the same float32 arithmetic in the same order (tests compare the
two paths to the bit, and both to grid_sample).
"""
from __future__ import annotations

import math
import threading

import numpy as np

from core.compiled import available, built_once, compile_loop, run_split

__all__ = ["available", "corners", "prepare", "ready"]


def _corner_range(start, end, points, axes, sizes, strides, plane_rows, scale, rows, weights):
    """rows, weights [n, 24] of points [n, 3] in [start, end): column plane * 8 + z * 4 + y * 2 + x."""
    one, half, third = np.float32(1.0), np.float32(0.5), np.float32(3.0)
    low_offset = np.zeros(3, np.int32)
    high_offset = np.zeros(3, np.int32)
    low_weight = np.zeros(3, np.float32)
    high_weight = np.zeros(3, np.float32)
    for n in range(start, end):
        for plane in range(3):
            for axis in range(3):  # the plane's (W, H, D) axes, as grid_sample unnormalises (align_corners=False)
                size = sizes[plane, axis]
                pixel = (points[n, axes[plane, axis]] * scale + one) * (np.float32(size) * half) - half
                low = np.float32(math.floor(pixel))
                fraction = pixel - low
                index = int(low)
                # An off-grid neighbour weighs 0; its row is clamped onto the grid like the torch path's.
                low_weight[axis] = (one - fraction) if 0 <= index < size else np.float32(0.0)
                high_weight[axis] = fraction if 0 <= index + 1 < size else np.float32(0.0)
                low_offset[axis] = min(max(index, 0), size - 1) * strides[axis]
                high_offset[axis] = min(max(index + 1, 0), size - 1) * strides[axis]
            column = plane * 8
            for z in range(2):
                weight_z = low_weight[2] if z == 0 else high_weight[2]
                offset_z = low_offset[2] if z == 0 else high_offset[2]
                for y in range(2):
                    weight_zy = weight_z * (low_weight[1] if y == 0 else high_weight[1])
                    offset_zy = offset_z + (low_offset[1] if y == 0 else high_offset[1])
                    for x in range(2):
                        weight_x = (low_weight[0] if x == 0 else high_weight[0]) / third
                        offset_x = (low_offset[0] if x == 0 else high_offset[0]) + plane_rows[plane]
                        weights[n, column] = weight_zy * weight_x
                        rows[n, column] = offset_zy + offset_x
                        column += 1


_ready = threading.Event()  # set once prepare() has compiled or loaded the loop and run it
# The compiled loop, built on first use (and kept in numba's on-disk cache for later processes).
_kernel = built_once(lambda: compile_loop(_corner_range))


def ready() -> bool:
    """True once prepare() finished in this process: lookups then take the loop. Until then they take the torch
    operations (equal to the bit), so that a process that renders once (a command-line still, a test) does not
    wait ~1 s for numba's import and cache load, or ~3 s for its first compilation on a machine."""
    return _ready.is_set()


def corners(points: np.ndarray, plane_axes: np.ndarray, sizes: np.ndarray, strides: np.ndarray,
            plane_rows: np.ndarray, scale: float, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (int32) and weights (float32), [n, 24], of points [n, 3] (float32, C order), split over threads.

    plane_axes [3, 3]: each plane's world axes for grid (W, H, D); sizes [3, 3] their extents; strides [3]: the
    table's row steps along W, H, D; plane_rows [3]: each plane's first row; scale: 2 / box_warp."""
    count = len(points)
    rows = np.empty((count, 24), np.int32)
    weights = np.empty((count, 24), np.float32)
    args = (points, plane_axes, sizes, strides, plane_rows, np.float32(scale), rows, weights)
    run_split(_kernel(), count, args, threads)  # the loop releases the GIL: the parts use separate cores
    return rows, weights


def prepare() -> None:
    """Compile the loop now, or load it from numba's on-disk cache (numba loads a cached loop at its first call,
    so this runs it on one point), and let lookups use it (`ready`): the render worker's warm-up thread calls it."""
    if not available():
        return
    index = np.array([[0, 1, 2]] * 3, np.int32)
    corners(np.zeros((1, 3), np.float32), index, index + 1, np.ones(3, np.int32), np.zeros(3, np.int32), 1.0, 1)
    _ready.set()
