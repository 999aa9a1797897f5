"""Geometry of the props that dress a body's head: hair, eyes, brows, mouth, nose tip and ears.

Props are built in the canonical (rest-pose, neck-aligned) frame on the surface of the identity's own head,
found by casting rays from the head's centre onto the head faces, so they fit the stand-in and real SMPL
alike. Directions use azimuth (0 = the face, +90 = the subject's left, +x) and elevation (up > 0) around
that centre. A scene moves every prop with the head joint's rest-to-posed transform.
"""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from core.data.appearance import Appearance

HEAD_JOINT = 15  # SMPL's head joint
HEAD_WEIGHT = 0.9  # vertices skinned at least this much to the head count as head
# Elevations (degrees above the head centre) of the face features, tuned on the stand-in bust.
EYE_ELEVATION, BROW_RISE, NOSE_ELEVATION, MOUTH_ELEVATION, EAR_ELEVATION = 6.0, 12.0, -12.0, -33.0, -2.0
HAIR_ROWS, HAIR_COLUMNS = 36, 72  # resolution of the hair shell in elevation and azimuth
HAIR_FACE_HALF_WIDTH = 50.0  # degrees of azimuth on each side of the face that long hair leaves open


@dataclass(frozen=True)
class PropMesh:
    """Triangles of all props of one identity in the canonical frame."""

    vertices: np.ndarray  # [P, 3] float64
    faces: np.ndarray  # [Q, 3] int64, closed props first, then the open hair shell
    colours: np.ndarray  # [P, 3] float64, linear RGB
    open_faces: int = 0  # how many trailing faces belong to open shells (drawn from both sides)


def direction(elevation_deg, azimuth_deg) -> np.ndarray:
    """Unit vectors [..., 3] for elevation/azimuth in degrees (azimuth 0 = +z, 90 = +x)."""
    elevation, azimuth = np.radians(elevation_deg), np.radians(azimuth_deg)
    x = np.cos(elevation) * np.sin(azimuth)
    return np.stack([x, np.sin(elevation) * np.ones_like(azimuth), np.cos(elevation) * np.cos(azimuth)], axis=-1)


def farthest_hits(
    origin: np.ndarray, directions: np.ndarray, triangles: np.ndarray, chunk: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Farthest hit of each unit ray `directions: [R, 3]` from `origin: [3]` on `triangles: [F, 3, 3]`
    (Moller-Trumbore): (distance [R], triangle index [R], barycentric [R, 3]); index -1 where a ray misses."""
    edge1, edge2 = triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]
    to_origin = origin - triangles[:, 0]
    distances = np.full(len(directions), np.nan)
    indices = np.full(len(directions), -1, dtype=np.int64)
    barycentric = np.zeros((len(directions), 3))
    for start in range(0, len(directions), chunk):
        rays = directions[start:start + chunk, None, :]
        p = np.cross(rays, edge2)
        determinant = (p * edge1).sum(-1)
        safe = np.where(np.abs(determinant) < 1e-12, 1e-12, determinant)
        u = (p * to_origin).sum(-1) / safe
        q = np.cross(to_origin, edge1)
        v = (rays * q).sum(-1) / safe
        t = (q * edge2).sum(-1) / safe
        hit = (np.abs(determinant) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (t > 0)
        scores = np.where(hit, t, -np.inf)
        best = scores.argmax(axis=1)
        rows = np.arange(len(best))
        found = np.isfinite(scores[rows, best])
        span = slice(start, start + len(best))
        distances[span] = np.where(found, scores[rows, best], np.nan)
        indices[span] = np.where(found, best, -1)
        chosen_u, chosen_v = u[rows, best], v[rows, best]
        barycentric[span] = np.stack([1 - chosen_u - chosen_v, chosen_u, chosen_v], axis=-1)
    return distances, indices, barycentric


GRID_ELEVATIONS = np.linspace(88.0, -88.0, HAIR_ROWS)  # rows of the head grid, top to bottom
GRID_AZIMUTHS = np.linspace(-180.0, 180.0, HAIR_COLUMNS, endpoint=False)  # columns, wrapping around


@dataclass(frozen=True)
class HeadAnchors:
    """Where rays from the head centre over a fixed elevation/azimuth grid meet the rest-shape head.

    Computed once per body model (a second or so); any body shape then finds its own head surface by
    re-evaluating the same triangles at the same barycentric coordinates.
    """

    triangle_vertices: np.ndarray  # [rows, columns, 3] vertex indices of the hit triangle
    barycentric: np.ndarray  # [rows, columns, 3] weights of those vertices

    @classmethod
    def from_body(cls, vertices: np.ndarray, faces: np.ndarray, skinning_weights: np.ndarray) -> "HeadAnchors":
        """vertices: [V, 3] rest shape (zero betas); faces: [F, 3]; skinning_weights: [V, 24]."""
        is_head = skinning_weights[:, HEAD_JOINT] >= HEAD_WEIGHT
        head_faces = faces[is_head[faces].all(axis=1)]
        if len(head_faces) == 0:
            raise ValueError(f"the body model has no faces skinned to the head joint {HEAD_JOINT}")
        centre = head_centre(vertices, skinning_weights)
        rays = direction(GRID_ELEVATIONS[:, None], GRID_AZIMUTHS[None, :]).reshape(-1, 3)
        _, hit, barycentric = farthest_hits(centre, rays, vertices[head_faces])
        hit = hit.reshape(HAIR_ROWS, HAIR_COLUMNS)
        barycentric = barycentric.reshape(HAIR_ROWS, HAIR_COLUMNS, 3)
        # Rays that miss (under the jaw, into the neck) reuse the nearest hit above them in their column.
        for row in range(1, HAIR_ROWS):
            missing = hit[row] < 0
            hit[row][missing], barycentric[row][missing] = hit[row - 1][missing], barycentric[row - 1][missing]
        if (hit < 0).any():
            raise ValueError("rays from the head centre miss the top of the head; the head faces are not closed")
        return cls(triangle_vertices=head_faces[hit], barycentric=barycentric)

    def surface(self, vertices: np.ndarray) -> "HeadSurface":
        """The head surface of a shaped body (vertices [V, 3], canonical frame)."""
        grid = (vertices[self.triangle_vertices] * self.barycentric[..., None]).sum(axis=-2)
        return HeadSurface(grid=grid, centre=grid.reshape(-1, 3).mean(axis=0))


def head_centre(vertices: np.ndarray, skinning_weights: np.ndarray) -> np.ndarray:
    """[3] the middle of the bounding box of the head's vertices."""
    head = vertices[skinning_weights[:, HEAD_JOINT] >= HEAD_WEIGHT]
    return (head.min(axis=0) + head.max(axis=0)) / 2


@dataclass(frozen=True)
class HeadSurface:
    """The outer head surface of one shaped body, sampled on the elevation/azimuth grid."""

    grid: np.ndarray  # [rows, columns, 3] surface points at GRID_ELEVATIONS x GRID_AZIMUTHS
    centre: np.ndarray  # [3] middle of the head

    def surface(self, elevation_deg, azimuth_deg) -> np.ndarray:
        """Points [..., 3] on the head, bilinear between grid samples (azimuth wraps around)."""
        elevation = np.asarray(elevation_deg, dtype=np.float64)
        azimuth = np.asarray(azimuth_deg, dtype=np.float64)
        row = np.clip((GRID_ELEVATIONS[0] - elevation) / (GRID_ELEVATIONS[0] - GRID_ELEVATIONS[1]), 0,
                      HAIR_ROWS - 1.001)
        column = np.mod((azimuth - GRID_AZIMUTHS[0]) / (GRID_AZIMUTHS[1] - GRID_AZIMUTHS[0]), HAIR_COLUMNS)
        row0, column0 = np.floor(row).astype(int), np.floor(column).astype(int)
        row_t, column_t = (row - row0)[..., None], (column - column0)[..., None]
        row1, column1 = row0 + 1, (column0 + 1) % HAIR_COLUMNS
        column0 = column0 % HAIR_COLUMNS
        top = self.grid[row0, column0] * (1 - column_t) + self.grid[row0, column1] * column_t
        bottom = self.grid[row1, column0] * (1 - column_t) + self.grid[row1, column1] * column_t
        return top * (1 - row_t) + bottom * row_t


@functools.lru_cache(maxsize=4)
def _unit_sphere(rings: int, segments: int) -> tuple[np.ndarray, np.ndarray]:
    """A UV sphere: vertices [rings*segments + 2, 3], faces [F, 3]."""
    elevations = np.linspace(90, -90, rings + 2)[1:-1]
    azimuths = np.linspace(0, 360, segments, endpoint=False)
    grid = direction(elevations[:, None], azimuths[None, :]).reshape(-1, 3)
    vertices = np.concatenate([[[0.0, 1.0, 0.0]], grid, [[0.0, -1.0, 0.0]]])
    faces = []

    def ring(row: int, segment: int) -> int:
        """Vertex index of `segment` (wrapping) on latitude ring `row` (after the north pole)."""
        return 1 + row * segments + segment % segments

    for s in range(segments):
        faces.append((0, ring(0, s), ring(0, s + 1)))
        faces.append((len(vertices) - 1, ring(rings - 1, s + 1), ring(rings - 1, s)))
        for r in range(rings - 1):
            faces += [(ring(r, s), ring(r + 1, s), ring(r, s + 1)),
                      (ring(r, s + 1), ring(r + 1, s), ring(r + 1, s + 1))]
    # Counter-clockwise seen from outside, like the body's faces, so back faces can be culled.
    return vertices, np.asarray(faces, dtype=np.int64)


def rotation_y(degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])


def rotation_z(degrees: float) -> np.ndarray:
    angle = np.radians(degrees)
    return np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])


class _Builder:
    """Collects ellipsoids and free meshes with one colour each."""

    def __init__(self):
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, vertices: np.ndarray, faces: np.ndarray, colour) -> None:
        self.parts.append((vertices, faces, np.broadcast_to(np.asarray(colour, dtype=np.float64), vertices.shape)))

    def ellipsoid(self, centre, radii, colour, rotation=None, rings: int = 6, segments: int = 10) -> None:
        unit, faces = _unit_sphere(rings, segments)
        local = unit * np.asarray(radii)
        vertices = local @ (np.eye(3) if rotation is None else rotation).T + np.asarray(centre)
        self.add(vertices, faces, colour)

    def mesh(self) -> PropMesh:
        if not self.parts:
            return PropMesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), np.zeros((0, 3)))
        offsets = np.cumsum([0] + [len(vertices) for vertices, _, _ in self.parts[:-1]])
        return PropMesh(
            vertices=np.concatenate([vertices for vertices, _, _ in self.parts]),
            faces=np.concatenate([faces + offset for (_, faces, _), offset in zip(self.parts, offsets)]),
            colours=np.concatenate([colours for _, _, colours in self.parts]),
        )


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def hair_shell(head: HeadSurface, look: Appearance) -> tuple[np.ndarray, np.ndarray]:
    """Vertices [H, 3] and faces of the hair: a shell over the scalp whose lower edge follows the hairline."""
    if look.hair_style == "bald":
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    elevation, azimuth = np.meshgrid(GRID_ELEVATIONS, GRID_AZIMUTHS, indexing="ij")
    side = _smoothstep(35.0, 110.0, np.abs(azimuth))  # 0 over the face, 1 at the back
    # The fringe sweeps toward the parting side: higher hairline there, lower on the other.
    front_line = look.hairline_deg - 10.0 * look.hair_part * np.sin(np.radians(azimuth))
    back_line = {"short": -30.0, "bun": -22.0, "bob": -55.0, "long": -88.0}[look.hair_style]
    hairline = front_line * (1 - side) + back_line * side
    # Rows below the hairline are pulled up onto it, so the edge is a smooth curve, not grid steps.
    clamped = elevation < hairline
    shell_elevation = np.maximum(elevation, hairline)
    shell = head.surface(shell_elevation, azimuth) + direction(shell_elevation, azimuth) * look.hair_thickness
    if look.hair_style == "long":
        # Long hair hangs straight down from the widest ring, beside and behind the face.
        widest = head.surface(0.0, GRID_AZIMUTHS) + direction(0.0, GRID_AZIMUTHS) * (look.hair_thickness + 0.004)
        hanging = (elevation < 0) & (np.abs(azimuth) > HAIR_FACE_HALF_WIDTH)
        hang = np.broadcast_to(widest, shell.shape).copy()
        hang[..., 1] -= look.hair_length * (-elevation / 88.0)
        shell = np.where(hanging[..., None], hang, shell)
        clamped &= ~hanging
    index = np.arange(HAIR_ROWS * HAIR_COLUMNS).reshape(HAIR_ROWS, HAIR_COLUMNS)
    right = np.roll(index, -1, axis=1)
    quads = np.stack([index[:-1], right[:-1], index[1:], right[1:]], axis=-1).reshape(-1, 4)
    quads = quads[~clamped.ravel()[quads].all(axis=1)]  # quads wholly on the hairline have no area
    faces = np.concatenate([quads[:, [0, 1, 2]], quads[:, [1, 3, 2]]])
    vertices = shell.reshape(-1, 3)
    corners = vertices[faces]
    normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    inward = (normal * (corners.mean(axis=1) - head.centre)).sum(axis=1) < 0
    faces[inward] = faces[inward][:, ::-1]  # outward, so vertex normals point away from the scalp
    return vertices, faces


def build_props(head: HeadSurface, look: Appearance) -> PropMesh:
    """All props of one identity on its head (canonical frame)."""
    builder = _Builder()
    if look.hair_style == "bun":
        bun_centre = head.surface(35.0, 180.0) + direction(35.0, 180.0) * (look.hair_thickness + 0.02)
        builder.ellipsoid(bun_centre, (0.034, 0.03, 0.03), look.hair_colour, rings=8, segments=12)
    forward = np.array([0.0, 0.0, 1.0])
    scale = look.feature_scale
    eye_size, brow_radii = look.eye_size * scale, np.array([0.017, 0.0045, 0.006]) * scale
    for sign in (-1.0, 1.0):
        azimuth = sign * look.eye_spacing_deg
        # Eyes look straight ahead (+z); the eyeball sits mostly inside the face.
        eye_centre = head.surface(EYE_ELEVATION, azimuth) - forward * eye_size * 0.55
        builder.ellipsoid(eye_centre, [eye_size] * 3, (0.92, 0.92, 0.9))
        iris_radii = (eye_size * 0.55, eye_size * 0.55, eye_size * 0.15)
        builder.ellipsoid(eye_centre + forward * eye_size * 0.92, iris_radii, look.eye_colour)
        brow_rotation = rotation_y(azimuth) @ rotation_z(-sign * look.brow_tilt_deg)
        brow_centre = head.surface(EYE_ELEVATION + BROW_RISE, azimuth * 1.05)
        builder.ellipsoid(brow_centre, brow_radii, look.hair_colour, rotation=brow_rotation)
        ear_centre = head.surface(EAR_ELEVATION, sign * 90.0) - direction(0.0, sign * 90.0) * 0.006
        ear_radii = (0.018 * look.ear_size, 0.03 * look.ear_size, 0.007)
        builder.ellipsoid(ear_centre, ear_radii, np.asarray(look.skin) * 0.92, rotation=rotation_y(sign * 90.0))
    nose_centre = head.surface(NOSE_ELEVATION, 0.0) - forward * 0.006
    builder.ellipsoid(nose_centre, np.array([0.012, 0.011, 0.012]) * look.nose_size * scale, look.skin)
    mouth_centre = head.surface(MOUTH_ELEVATION, 0.0) - forward * 0.003
    builder.ellipsoid(mouth_centre, np.array([look.mouth_width, 0.0055, 0.007]) * scale, look.lip_colour)
    # The hair shell is open (from below, its inside shows), so it goes last and is drawn two-sided.
    hair_vertices, hair_faces = hair_shell(head, look)
    if len(hair_faces):
        builder.add(hair_vertices, hair_faces, look.hair_colour)
    return dataclasses.replace(builder.mesh(), open_faces=len(hair_faces))


def neckline_distance(canonical_vertices: np.ndarray, look: Appearance) -> np.ndarray:
    """[V] height of each body vertex above the clothing's neckline (negative = clothed), canonical frame.

    The renderer interpolates it across triangles and decides per pixel, so the neckline is a clean curve.
    """
    x, y, z = canonical_vertices[:, 0], canonical_vertices[:, 1], canonical_vertices[:, 2]
    neckline = -look.neckline - look.v_neck * np.clip(1 - np.abs(x) / 0.07, 0, 1) * _smoothstep(-0.01, 0.03, z)
    return y - neckline
