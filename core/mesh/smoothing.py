"""Cheap smoothing of marching-cubes output: a Gaussian on the density grid, or Taubin steps on the mesh.

Both keep the surface where it is on average: the Gaussian blurs the field (small features fade, a sphere's
radius moves by well under a voxel for sigma <= 1 voxel), Taubin alternates shrinking and inflating steps
so the mesh does not shrink the way plain Laplacian smoothing does.
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage
import scipy.sparse

TAUBIN_LAMBDA = 0.5  # shrinking factor of each Taubin step's first half
TAUBIN_MU = -0.53  # inflating factor of its second half (|mu| > lambda keeps the volume)


def smooth_grid(grid: np.ndarray, sigma_voxels: float) -> np.ndarray:
    """Gaussian blur of a density grid [Nx, Ny, Nz] with a standard deviation in voxels (0 returns the grid)."""
    if sigma_voxels < 0:
        raise ValueError(f"the grid smoothing sigma must be >= 0 voxels, got {sigma_voxels}")
    if sigma_voxels == 0:
        return grid
    # mode="nearest" keeps the box walls from fading toward zero density.
    return scipy.ndimage.gaussian_filter(grid.astype(np.float32), sigma_voxels, mode="nearest", truncate=3.0)


def vertex_neighbour_mean_operator(faces: np.ndarray, vertex_count: int) -> scipy.sparse.csr_matrix:
    """Sparse [V, V] matrix whose product with vertex positions gives each vertex's mean edge neighbour."""
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    adjacency = scipy.sparse.coo_matrix(
        (np.ones(len(edges), np.float32), (edges[:, 0], edges[:, 1])), shape=(vertex_count, vertex_count),
    ).tocsr()
    adjacency.data[:] = 1.0  # an edge shared by two faces counts once
    degree = np.asarray(adjacency.sum(axis=1)).reshape(-1)
    inverse = np.divide(1.0, degree, out=np.zeros_like(degree), where=degree > 0)
    return scipy.sparse.diags(inverse.astype(np.float32)) @ adjacency


def taubin_smooth(vertices: np.ndarray, faces: np.ndarray, steps: int) -> np.ndarray:
    """Vertices [V, 3] after `steps` Taubin steps (lambda 0.5, mu -0.53) over the mesh's edges; faces unchanged."""
    if steps < 0:
        raise ValueError(f"the number of Taubin steps must be >= 0, got {steps}")
    if steps == 0 or len(faces) == 0:
        return vertices
    mean_of_neighbours = vertex_neighbour_mean_operator(np.asarray(faces), len(vertices))
    isolated = np.asarray(mean_of_neighbours.sum(axis=1)).reshape(-1) == 0
    smoothed = np.asarray(vertices, dtype=np.float32).copy()
    for _ in range(steps):
        for factor in (TAUBIN_LAMBDA, TAUBIN_MU):
            delta = mean_of_neighbours @ smoothed - smoothed
            delta[isolated] = 0.0
            smoothed = smoothed + factor * delta
    return smoothed.astype(np.float32)
