"""Density grids of a field, marching cubes and mesh export (reference-spec.md §6, done in world orientation).

Unlike the reference's shape export, the grid is indexed [x, y, z] in world orientation (no x-flip),
its sample points come from integer index arithmetic (no sub-voxel shear), and meshes come back in
world units with outward-facing triangles, so they line up with the renders and the body model.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Sequence

import mcubes
import numpy as np
import torch

from core import budget
from core.numpy_files import read_npy

Bounds = tuple[Sequence[float], Sequence[float]]
DEFAULT_BOUNDS: Bounds = ((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))  # the tri-grid's box for box_warp = 1
DEFAULT_CHUNK = 1 << 18  # points per call of the field: bounded memory, few enough calls to stay fast
DEFAULT_MEMORY_BUDGET = 16 << 30  # bytes an extraction may plan to use at most (less where memory is smaller)
# Peak bytes per voxel of an extraction (measured: 13 at 384^3 on 2 cores): the float32 grid, a smoothed copy,
# marching cubes' float64 copy and the finiteness mask.
PEAK_BYTES_PER_VOXEL = 20
MESH_FORMATS = (".ply", ".obj", ".glb")

# field(points: [P, 3] float32) -> densities [P] or [P, 1]; larger means more inside.
DensityFn = Callable[[torch.Tensor], torch.Tensor]


class MeshCancelled(Exception):
    """Raised by `density_grid` when its cancel flag was set; nothing is returned."""


class GridTooLargeError(MemoryError):
    """An extraction would exceed the memory budget; the message names a resolution that fits."""


def grid_axes(resolution: int | Sequence[int], bounds: Bounds = DEFAULT_BOUNDS) -> list[np.ndarray]:
    """World coordinates of the samples along x, y and z: resolution points from low to high bound, both included."""
    sizes = _sizes(resolution)
    low, high = _bounds(bounds)
    return [low[axis] + np.arange(size) * ((high[axis] - low[axis]) / (size - 1)) for axis, size in enumerate(sizes)]


def grid_bytes(resolution: int | Sequence[int]) -> int:
    """Bytes of a float32 density grid of this resolution."""
    return int(np.prod(_sizes(resolution))) * 4


def default_memory_budget() -> int:
    """Bytes an extraction may plan to use: DEFAULT_MEMORY_BUDGET, less where free memory is smaller."""
    return budget.memory_budget(DEFAULT_MEMORY_BUDGET)


def _size(count: int) -> str:
    return f"{count / 2**30:.2f} GiB" if count >= 2**30 else f"{count / 2**20:.1f} MiB"


def check_grid_budget(resolution: int | Sequence[int], memory_budget: int | None = None) -> None:
    """Raise GridTooLargeError, naming a resolution that fits, when extracting a grid of this resolution would
    need more than `memory_budget` bytes at its peak (None: `default_memory_budget()`)."""
    sizes = _sizes(resolution)
    memory_budget = default_memory_budget() if memory_budget is None else memory_budget
    needed = int(np.prod(sizes)) * PEAK_BYTES_PER_VOXEL
    if needed > memory_budget:
        voxels = memory_budget // PEAK_BYTES_PER_VOXEL
        fitting = round(voxels ** (1 / 3))
        # Integer correction: the float cube root of 2**30 is 1023.99..., which must still give 1024.
        while fitting ** 3 > voxels:
            fitting -= 1
        while (fitting + 1) ** 3 <= voxels:
            fitting += 1
        raise GridTooLargeError(
            f"a {'x'.join(map(str, sizes))} grid needs {_size(needed)} to extract, more than the memory budget of "
            f"{_size(memory_budget)}; use a resolution of at most {fitting} (core.mesh --memory-budget raises the "
            f"budget where the machine has the memory)"
        )


def density_grid(
    field: DensityFn,
    resolution: int | Sequence[int],
    bounds: Bounds = DEFAULT_BOUNDS,
    chunk: int = DEFAULT_CHUNK,
    device: torch.device | str | None = None,
    progress: Callable[[float], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    memory_budget: int | None = None,
    point_warp: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> np.ndarray:
    """Field values on a regular grid, float32 [Nx, Ny, Nz] indexed [x, y, z] in world orientation.

    Sample (i, j, k) lies at low + (i, j, k) * (high - low) / (N - 1). The field is called on chunks of
    at most `chunk` points [P, 3] on `device` (x slowest, z fastest), without gradients.
    `progress(fraction)` is called after every chunk; when `cancel()` returns True the evaluation stops
    with MeshCancelled (pass `event.is_set` of a threading.Event from another thread).
    `point_warp(points: [1, P, 3]) -> [1, P, 3]` (a render's observation -> canonical warp) gives the posed
    shape: the field is evaluated at the warped points while the grid stays in observation space.
    """
    sizes = _sizes(resolution)
    check_grid_budget(sizes, memory_budget)
    if chunk < 1:
        raise ValueError(f"chunk must be positive, got {chunk}")
    low, high = _bounds(bounds)
    low_t = torch.tensor(low, dtype=torch.float32, device=device)
    step = torch.tensor([(high[a] - low[a]) / (sizes[a] - 1) for a in range(3)], dtype=torch.float32, device=device)
    total = int(np.prod(sizes))
    grid = np.empty(total, dtype=np.float32)
    with torch.no_grad():
        for start in range(0, total, chunk):
            if cancel is not None and cancel():
                raise MeshCancelled(f"density grid cancelled after {start} of {total} points")
            flat = torch.arange(start, min(start + chunk, total), device=device)
            # Integer division gives exact voxel indices (the reference's float division sheared the grid).
            index = torch.stack([flat // (sizes[1] * sizes[2]), (flat // sizes[2]) % sizes[1], flat % sizes[2]], -1)
            points = low_t + index.to(torch.float32) * step
            if point_warp is not None:
                points = point_warp(points.unsqueeze(0))[0]
            values = torch.as_tensor(field(points))
            if values.numel() != flat.numel():
                raise ValueError(f"the density field returned {list(values.shape)} values for {flat.numel()} points; "
                                 "it must return [P] or [P, 1]")
            grid[start:start + flat.numel()] = values.reshape(-1).float().cpu().numpy()
            if progress is not None:
                progress(min(start + chunk, total) / total)
    return grid.reshape(sizes)


def extract_mesh(
    grid: np.ndarray, level: float, bounds: Bounds = DEFAULT_BOUNDS, inside_is_above: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes iso-surface of `grid: [Nx, Ny, Nz]` (indexed [x, y, z]) at `level`.

    Returns vertices [V, 3] float32 in world units (the grid spans `bounds`) and faces [F, 3] int64 whose
    counter-clockwise winding faces outward, away from the region where grid > level (or < level when
    `inside_is_above` is False, e.g. for signed distances). An empty surface gives empty arrays.
    """
    grid = np.asarray(grid)
    if grid.ndim != 3 or min(grid.shape) < 2:
        raise ValueError(f"the density grid must be 3-D with at least 2 samples per axis, got shape {grid.shape}")
    if not np.isfinite(grid).all():
        raise ValueError("the density grid contains NaN or infinite values; replace them (e.g. np.nan_to_num) first")
    vertices, faces = mcubes.marching_cubes(np.ascontiguousarray(grid, dtype=np.float64), float(level))
    faces = faces.astype(np.int64).reshape(-1, 3)
    # PyMCubes winds triangles counter-clockwise seen from the side where the field is below the level.
    if not inside_is_above:
        faces = faces[:, ::-1].copy()
    low, high = _bounds(bounds)
    scale = (high - low) / (np.array(grid.shape) - 1)
    vertices = (low + vertices.reshape(-1, 3) * scale).astype(np.float32)
    return vertices, faces


def export_mesh(path: str | Path, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> Path:
    """Write a mesh (vertices [V, 3], faces [F, 3], optional vertex colours [V, 3|4] uint8 or floats in [0, 1]).

    The format follows the suffix: .ply, .obj or .glb. The file appears atomically (temporary file + rename).
    """
    import trimesh  # lazy: slow to import, and only writing a mesh file needs it

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_FORMATS:
        raise ValueError(f"{path}: unknown mesh format {suffix!r}; use one of {', '.join(MESH_FORMATS)}")
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{path}: vertices must be [V, 3] and faces [F, 3], got {vertices.shape} and {faces.shape}")
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, vertex_colors=_colors_uint8(colors, len(vertices), path),
                           process=False)
    data = mesh.export(file_type=suffix[1:])
    _write_atomically(path, data.encode() if isinstance(data, str) else data)
    return path


def save_grid(path: str | Path, grid: np.ndarray) -> Path:
    """Write a density grid as .npy (float32, indexed [x, y, z]) atomically."""
    path = Path(path)
    if path.suffix.lower() != ".npy":
        raise ValueError(f"{path}: density grids are saved as .npy; change the suffix")
    with _atomic_file(path) as handle:
        np.save(handle, np.asarray(grid, dtype=np.float32), allow_pickle=False)
    return path


def load_grid(path: str | Path) -> np.ndarray:
    """Read a density grid written by `save_grid`; never unpickles objects."""
    path = Path(path)
    try:
        grid = read_npy(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such density grid file") from None
    except ValueError as error:
        raise ValueError(f"{path}: not a plain .npy density grid ({error}); re-export it with save_grid") from None
    if grid.ndim != 3:
        raise ValueError(f"{path}: a density grid must be 3-D, got shape {grid.shape}")
    return grid


def _sizes(resolution: int | Sequence[int]) -> tuple[int, int, int]:
    sizes = (resolution,) * 3 if isinstance(resolution, (int, np.integer)) else tuple(int(r) for r in resolution)
    if len(sizes) != 3 or min(sizes) < 2:
        raise ValueError(f"resolution must be at least 2 along each of 3 axes, got {resolution}")
    return sizes


def _bounds(bounds: Bounds) -> tuple[np.ndarray, np.ndarray]:
    low, high = (np.asarray(b, dtype=np.float64).reshape(3) for b in bounds)
    if not (high > low).all():
        raise ValueError(f"bounds must be (low xyz, high xyz) with low < high on every axis, got {bounds}")
    return low, high


def _colors_uint8(colors: np.ndarray | None, count: int, path: Path) -> np.ndarray | None:
    if colors is None:
        return None
    colors = np.asarray(colors)
    if colors.ndim != 2 or colors.shape[0] != count or colors.shape[1] not in (3, 4):
        raise ValueError(f"{path}: vertex colours must be [{count}, 3] or [{count}, 4], got {colors.shape}")
    if colors.dtype != np.uint8:
        colors = np.round(np.clip(colors, 0.0, 1.0) * 255).astype(np.uint8)
    if colors.shape[1] == 3:
        colors = np.concatenate([colors, np.full((count, 1), 255, np.uint8)], axis=1)
    return colors


@contextlib.contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `path` that replaces it on success (readers never see half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_atomically(path: Path, data: bytes) -> None:
    with _atomic_file(path) as handle:
        handle.write(data)
