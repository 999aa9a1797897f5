"""The project's own stand-in body: a deterministic head-and-shoulders mannequin in SMPL format.

Real SMPL files cannot be shipped (licence). This module builds a bust with the same layout smplx expects
(24 joints on SMPL's kinematic tree, `v_template`, `f`, `weights`, `J_regressor`, `shapedirs` for 10 betas,
`posedirs` for 207 pose features, `kintree_table`) so that everything downstream works without a download.
The surface is the zero level set of a smooth union of ellipsoids and capsules, meshed by marching cubes.
Coordinates are SMPL's (metres, y up, face toward +z, pelvis near the origin); the loader neck-aligns them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from core.atomic import atomic_output

STANDIN_VERSION = 1  # bump when the generator below changes; stored in the file

# SMPL's kinematic tree: parent of each of the 24 joints (-1 = root).
SMPL_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])

# Rest-pose joints close to SMPL's neutral template (x symmetrised). Joint 15 (head) sits at
# neck + (0, 0.065, 0.05), where the reference's default camera looks.
SMPL_REST_JOINTS = np.array([
    [0.0, -0.2233, 0.0282], [0.0687, -0.3142, 0.0229], [-0.0687, -0.3142, 0.0229],
    [0.0, -0.1144, 0.0015], [0.1041, -0.6924, 0.0160], [-0.1041, -0.6924, 0.0160],
    [0.0, 0.0207, 0.0027], [0.0903, -1.0910, -0.0269], [-0.0903, -1.0910, -0.0269],
    [0.0, 0.0736, 0.0280], [0.1239, -1.1479, 0.0944], [-0.1239, -1.1479, 0.0944],
    [0.0, 0.2877, -0.0151], [0.0775, 0.1994, -0.0155], [-0.0775, 0.1994, -0.0155],
    [0.0, 0.3527, 0.0349], [0.1744, 0.2275, -0.0190], [-0.1744, 0.2275, -0.0190],
    [0.4302, 0.2141, -0.0432], [-0.4302, 0.2141, -0.0432], [0.6809, 0.2217, -0.0415],
    [-0.6809, 0.2217, -0.0415], [0.7674, 0.2131, -0.0524], [-0.7674, 0.2131, -0.0524],
])
NECK, HEAD = 12, 15
GRID_SPACING = 0.016  # marching-cubes cell size in metres: about 4k vertices
BLEND_RADIUS = 0.025  # smooth-union radius of the primitives (rounds the joins)


def _ellipsoid(points: np.ndarray, centre, radii) -> np.ndarray:
    """Approximate signed distance to an axis-aligned ellipsoid. points: [..., 3]."""
    radii = np.asarray(radii)
    scaled = np.linalg.norm((points - np.asarray(centre)) / radii, axis=-1)
    return (scaled - 1.0) * radii.min()


def _capsule(points: np.ndarray, start, end, radius: float) -> np.ndarray:
    """Signed distance to a capsule around the segment start-end. points: [..., 3]."""
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    axis = end - start
    t = np.clip(((points - start) @ axis) / (axis @ axis), 0.0, 1.0)
    return np.linalg.norm(points - start - t[..., None] * axis, axis=-1) - radius


def _rounded_box(points: np.ndarray, centre, half_size, rounding: float) -> np.ndarray:
    """Signed distance to a box with rounded edges. points: [..., 3]."""
    q = np.abs(points - np.asarray(centre)) - (np.asarray(half_size) - rounding)
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    inside = np.minimum(q.max(axis=-1), 0.0)
    return outside + inside - rounding


def _smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: joins two shapes with a fillet of size k."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def bust_sdf(points: np.ndarray) -> np.ndarray:
    """Signed distance (approximate) of the bust in the neck-aligned frame. points: [..., 3] -> [...]."""
    parts = [
        _ellipsoid(points, (0, 0.150, 0.030), (0.080, 0.112, 0.098)),  # cranium
        _ellipsoid(points, (0, 0.085, 0.062), (0.058, 0.055, 0.066)),  # jaw and chin
        _ellipsoid(points, (0, 0.128, 0.124), (0.015, 0.028, 0.022)),  # nose
        _ellipsoid(points, (0.080, 0.140, 0.012), (0.013, 0.030, 0.018)),  # left ear
        _ellipsoid(points, (-0.080, 0.140, 0.012), (0.013, 0.030, 0.018)),  # right ear
        _capsule(points, (0, -0.06, -0.014), (0, 0.10, 0.006), 0.058),  # neck
        _capsule(points, (0.0, -0.035, -0.025), (0.17, -0.072, -0.022), 0.055),  # left trapezius
        _capsule(points, (0.0, -0.035, -0.025), (-0.17, -0.072, -0.022), 0.055),  # right trapezius
        _capsule(points, (0.17, -0.075, -0.018), (0.31, -0.085, -0.024), 0.050),  # left upper arm (short)
        _capsule(points, (-0.17, -0.075, -0.018), (-0.31, -0.085, -0.024), 0.050),  # right upper arm (short)
        _rounded_box(points, (0, -0.33, -0.015), (0.155, 0.27, 0.095), 0.07),  # torso
        _ellipsoid(points, (0, -0.175, 0.025), (0.14, 0.11, 0.09)),  # chest
    ]
    distance = parts[0]
    for part in parts[1:]:
        distance = _smooth_union(distance, part, BLEND_RADIUS)
    return distance


def _bust_mesh() -> tuple[np.ndarray, np.ndarray]:
    """Marching-cubes mesh of the bust, cleaned and lightly smoothed: ([V, 3] float64, [F, 3] int64)."""
    # lazy: mcubes and trimesh are needed only to build the stand-in once, not to load it
    import mcubes
    import trimesh

    lower, upper = np.array([-0.45, -0.64, -0.16]), np.array([0.45, 0.30, 0.20])
    counts = np.round((upper - lower) / GRID_SPACING).astype(int) + 1
    axes = [np.linspace(lower[i], upper[i], counts[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    vertices, faces = mcubes.marching_cubes(-bust_sdf(grid), 0.0)
    vertices = lower + vertices * (upper - lower) / (counts - 1)
    mesh = trimesh.Trimesh(vertices, faces.astype(np.int64), process=True)
    mesh.update_faces(mesh.nondegenerate_faces(height=1e-5))
    mesh.remove_unreferenced_vertices()
    trimesh.smoothing.filter_taubin(mesh, lamb=0.5, nu=-0.53, iterations=6)
    if mesh.volume < 0:  # outward normals, as SMPL's faces
        mesh.invert()
    return np.asarray(mesh.vertices, dtype=np.float64), np.asarray(mesh.faces, dtype=np.int64)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 below edge0, 1 above edge1, C1-smooth in between (edges may be given in either order)."""
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _skinning_weights(vertices: np.ndarray) -> np.ndarray:
    """Smooth skinning weights [V, 24] that are exactly 1 inside each region and blend across borders."""
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    # The head region ends at a plane under the jaw that rises toward the back of the skull.
    head_border = 0.040 - 0.10 * (z - 0.03)
    head = _smoothstep(head_border - 0.015, head_border + 0.015, y)
    # The neck region is a column: the tops of the shoulders beside it stay with the torso.
    neck = (1 - head) * _smoothstep(-0.06, -0.015, y) * _smoothstep(0.095, 0.06, np.abs(x))
    body = 1 - head - neck
    upper_body = _smoothstep(-0.28, -0.16, y)
    collar_share = _smoothstep(0.06, 0.10, np.abs(x)) * upper_body
    arm_share = _smoothstep(0.15, 0.20, np.abs(x)) * upper_body
    centre = body * (1 - collar_share)
    upper_spine = _smoothstep(-0.26, -0.18, y)
    lower_spine = _smoothstep(-0.46, -0.38, y)
    left = x > 0  # SMPL's left joints are on +x
    weights = np.zeros((len(vertices), 24))
    weights[:, HEAD] = head
    weights[:, NECK] = neck
    weights[:, 9] = centre * upper_spine
    weights[:, 6] = centre * (1 - upper_spine) * lower_spine
    weights[:, 3] = centre * (1 - lower_spine)
    weights[:, 13] = np.where(left, body * collar_share * (1 - arm_share), 0.0)
    weights[:, 14] = np.where(left, 0.0, body * collar_share * (1 - arm_share))
    weights[:, 16] = np.where(left, body * arm_share, 0.0)
    weights[:, 17] = np.where(left, 0.0, body * arm_share)
    return weights / weights.sum(axis=1, keepdims=True)


def _joint_regressor(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Affine regressor [24, V]: each joint is a locally weighted minimum-norm affine combination of vertices.

    Weights sum to one, so the joints follow any affine change of the template (betas) exactly. Joints
    outside the short mesh (legs, forearms) are extrapolated from a neighbourhood as wide as their
    distance to the mesh, which keeps the weights small; some of them are negative.
    """
    regressor = np.zeros((len(joints), len(vertices)))
    for index, joint in enumerate(joints):
        distance = np.linalg.norm(vertices - joint, axis=1)
        width = max(0.05, distance.min())
        support = np.flatnonzero(distance < distance.min() + 2.5 * width)
        prior = np.exp(-(((distance[support] - distance.min()) / width) ** 2))  # prefer the nearest vertices
        system = np.vstack([vertices[support].T, np.ones(len(support))])  # [4, k]
        target = np.append(joint, 1.0)
        spread = system * prior
        regressor[index, support] = spread.T @ np.linalg.solve(spread @ system.T, target)
    regressor[np.abs(regressor) < 1e-7] = 0.0
    return regressor


def _shape_directions(vertices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Ten smooth shape directions [V, 3, 10] (metres per unit beta), in SMPL's order of importance."""
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    head, neck = weights[:, HEAD], weights[:, NECK]
    body = 1 - head - neck
    head_centre = np.array([0.0, 0.15, 0.03])
    directions = np.zeros((len(vertices), 3, 10))
    directions[:, :, 0] = 0.05 * vertices  # overall size about the neck
    directions[:, 0, 1] = 0.02 * np.sign(x) * _smoothstep(0.05, 0.2, np.abs(x)) * body  # shoulder width
    directions[:, :, 2] = 0.08 * (vertices - head_centre) * head[:, None]  # head size
    directions[:, 1, 3] = 0.015 * (head + 0.5 * neck)  # neck length
    directions[:, 2, 4] = 0.10 * (z + 0.015) * body  # torso depth
    directions[:, 0, 5] = 0.10 * x * head  # head width
    directions[:, 2, 6] = 0.015 * np.exp(-((y + 0.17) / 0.08) ** 2) * _smoothstep(-0.02, 0.05, z) * body  # chest
    directions[:, 0, 7] = 0.08 * x * _smoothstep(-0.2, -0.45, y)  # waist width
    directions[:, 1, 8] = -0.012 * _smoothstep(0.12, 0.04, y) * _smoothstep(0.0, 0.08, z) * head  # chin length
    directions[:, 1, 9] = 0.012 * _smoothstep(0.08, 0.2, np.abs(x)) * body  # shoulder height
    return directions


def build_standin_arrays() -> dict[str, np.ndarray]:
    """All arrays of the stand-in in SMPL's file layout (deterministic: same numbers on every run)."""
    neck_offset = SMPL_REST_JOINTS[NECK]
    aligned_vertices, faces = _bust_mesh()
    weights = _skinning_weights(aligned_vertices)
    vertices = np.round(aligned_vertices + neck_offset, 6)
    return {
        "v_template": vertices.astype(np.float32),
        "f": faces.astype(np.int32),
        "weights": weights.astype(np.float32),
        "J_regressor": _joint_regressor(vertices, SMPL_REST_JOINTS).astype(np.float32),
        "shapedirs": _shape_directions(aligned_vertices, weights).astype(np.float32),
        "posedirs": np.zeros((len(vertices), 3, 207), dtype=np.float32),  # no pose correctives
        "kintree_table": np.stack([SMPL_PARENTS, np.arange(24)]).astype(np.int64),
        "standin_version": np.array(STANDIN_VERSION),
    }


def write_standin(path: Path) -> Path:
    """Generate the stand-in and write it atomically (temporary file + rename) as a compressed npz."""
    path = Path(path)
    arrays = build_standin_arrays()
    with atomic_output(path) as stream:
        np.savez_compressed(stream, **arrays)
    return path
