"""Density grids, marching cubes, generator meshes (canonical or posed, coloured, smoothed) and mesh files.

`python -m core.mesh` extracts a mesh from a checkpoint (see docs/inspect.md).
"""
from core.mesh.generator_mesh import (
    DEFAULT_LEVEL, DEFAULT_MESH_BOUNDS, GeneratorMesh, MeshOptions, closed_boundary, generator_density_field,
    generator_mesh, median_level, vertex_colors,
)
from core.mesh.grid import (
    DEFAULT_BOUNDS, DEFAULT_CHUNK, DEFAULT_MEMORY_BUDGET, MESH_FORMATS, Bounds, DensityFn, GridTooLargeError,
    MeshCancelled, density_grid, export_mesh, extract_mesh, grid_axes, grid_bytes, load_grid, save_grid,
)
from core.mesh.smoothing import smooth_grid, taubin_smooth

__all__ = [
    "Bounds", "DEFAULT_BOUNDS", "DEFAULT_CHUNK", "DEFAULT_LEVEL", "DEFAULT_MEMORY_BUDGET", "DEFAULT_MESH_BOUNDS",
    "DensityFn", "GeneratorMesh", "GridTooLargeError", "MESH_FORMATS", "MeshCancelled", "MeshOptions",
    "closed_boundary", "density_grid", "export_mesh", "extract_mesh", "generator_density_field", "generator_mesh",
    "grid_axes", "grid_bytes", "load_grid", "median_level", "save_grid", "smooth_grid", "taubin_smooth",
    "vertex_colors",
]
