"""CPU side of the GL mesh view (numpy only): checked arrays, smooth vertex normals, interleaved vertex data."""
from __future__ import annotations

import numpy as np

DEFAULT_COLOR = (0.78, 0.74, 0.70)  # light clay for meshes without vertex colours
FLOATS_PER_VERTEX = 9  # position xyz, normal xyz, colour rgb


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit normals [V, 3] as the area-weighted sum of the normals of the faces around each vertex.

    `vertices: [V, 3]`, `faces: [F, 3]` counter-clockwise seen from outside; isolated vertices get (0, 0, 1).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    corners = vertices[faces]
    # The cross product's length is twice the triangle's area, which weights large faces more.
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for corner in range(3):
        np.add.at(normals, faces[:, corner], face_normals)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(lengths > 1e-20, normals / np.maximum(lengths, 1e-20), np.array([0.0, 0.0, 1.0]))
    return normals.astype(np.float32)


def check_mesh(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None, name: str = "mesh") -> None:
    """Raises ValueError naming `name` when the arrays cannot be drawn."""
    vertices, faces = np.asarray(vertices), np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"{name}: vertices must be [V, 3], got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f"{name}: faces must be [F, 3], got {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f"{name}: face indices must lie in 0..{len(vertices) - 1}, got {faces.min()}..{faces.max()}")
    if colors is not None and np.asarray(colors).shape != vertices.shape:
        raise ValueError(f"{name}: colors must be [V, 3] like the vertices, got {np.asarray(colors).shape}")


def interleave(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None) -> np.ndarray:
    """Vertex data [V, 9] float32: position, smooth normal, colour in [0, 1] (uint8 colours are scaled)."""
    check_mesh(vertices, faces, colors)
    if colors is None:
        rgb = np.broadcast_to(np.asarray(DEFAULT_COLOR, dtype=np.float32), (len(vertices), 3))
    else:
        colors = np.asarray(colors)
        rgb = colors.astype(np.float32) / 255.0 if colors.dtype == np.uint8 else colors.astype(np.float32)
    data = np.concatenate([np.asarray(vertices, dtype=np.float32), vertex_normals(vertices, faces), rgb], axis=1)
    return np.ascontiguousarray(data, dtype=np.float32)


def bounds(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower [3], upper [3]) corners of the axis-aligned box around `vertices: [V, 3]`."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if len(vertices) == 0:
        return np.full(3, -0.5), np.full(3, 0.5)
    return vertices.min(axis=0), vertices.max(axis=0)


def segment_vertices(points: np.ndarray, pairs: np.ndarray, color: tuple[float, float, float]) -> np.ndarray:
    """Line vertex data [2 * K, 9] for segments between `points: [N, 3]` given as index `pairs: [K, 2]`."""
    ends = np.asarray(points, dtype=np.float32)[np.asarray(pairs).reshape(-1)]
    data = np.zeros((len(ends), FLOATS_PER_VERTEX), dtype=np.float32)
    data[:, 0:3] = ends
    data[:, 5] = 1.0  # lines are unlit: the normal only has to be valid
    data[:, 6:9] = color
    return data
