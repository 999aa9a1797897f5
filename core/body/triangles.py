"""Triangle geometry for the body warp: per-face frames, rigid maps, exact point-triangle distances.

Distances are computed from four dot products per (point, face) pair and per-face constants, so that
the cost is a handful of fused element-wise operations on [M] pair tensors (no branches per pair).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

EPS = 1e-20  # guards divisions on degenerate (zero-area or zero-length) triangles and edges


def triangle_frames(triangles: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Local frame of each triangle (reference-spec.md §1.8 step 3).

    triangles: [..., 3, 3] (corner, xyz). Returns origin v0 [..., 3] and basis [..., 3, 3] whose rows are
    e_x = unit(v1 - v0), e_y = unit((v1 - v0) x (v2 - v0)) (the normal), e_z = e_x x e_y.
    """
    v0, v1, v2 = triangles.unbind(dim=-2)
    edge = v1 - v0
    e_x = edge / edge.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    normal = torch.cross(edge, v2 - v0, dim=-1)
    e_y = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    e_z = torch.cross(e_x, e_y, dim=-1)
    return v0, torch.stack([e_x, e_y, e_z], dim=-2)


def rigid_face_maps(posed: torch.Tensor, canonical: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rigid map of each posed triangle onto its canonical twin: p_c = rotation @ p + translation.

    posed: [..., F, 3, 3], canonical: [F, 3, 3] -> rotation [..., F, 3, 3], translation [..., F, 3].
    Local coordinates l = E_p (p - o_p) are carried over as p_c = o_c + E_c^T l.
    """
    origin_p, basis_p = triangle_frames(posed)
    origin_c, basis_c = triangle_frames(canonical)
    rotation = basis_c.transpose(-1, -2) @ basis_p
    translation = origin_c - (rotation @ origin_p[..., None])[..., 0]
    return rotation, translation


@dataclass
class FaceConstants:
    """Per-face numbers that make a point-triangle distance cheap. All tensors [F] or [F, 3]."""

    v0: torch.Tensor  # first corner
    e0: torch.Tensor  # v1 - v0
    e1: torch.Tensor  # v2 - v0
    normal: torch.Tensor  # unit normal
    aa: torch.Tensor  # e0 . e0
    bb: torch.Tensor  # e0 . e1
    cc: torch.Tensor  # e1 . e1
    det: torch.Tensor  # aa * cc - bb^2 (twice the area, squared)
    centroid: torch.Tensor  # mean of the corners: a point on the triangle
    radius: torch.Tensor  # largest corner distance from the centroid: every point of the face is this close
    packed: torch.Tensor  # [F, 16] v0, e0, e1, normal, aa, bb, cc, det side by side (one gather per pair)

    @staticmethod
    def from_triangles(triangles: torch.Tensor) -> "FaceConstants":
        """triangles: [F, 3, 3]."""
        v0, v1, v2 = triangles.unbind(dim=1)
        e0, e1 = v1 - v0, v2 - v0
        normal = torch.cross(e0, e1, dim=-1)
        normal = normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        aa, bb, cc = (e0 * e0).sum(-1), (e0 * e1).sum(-1), (e1 * e1).sum(-1)
        centroid = triangles.mean(dim=1)
        radius = (triangles - centroid[:, None]).norm(dim=-1).amax(dim=1)
        det = aa * cc - bb * bb
        packed = torch.cat([v0, e0, e1, normal, torch.stack([aa, bb, cc, det], dim=-1)], dim=-1).contiguous()
        return FaceConstants(v0, e0, e1, normal, aa, bb, cc, det, centroid, radius, packed)


def pair_squared_distance(points: torch.Tensor, faces: FaceConstants, face_ids: torch.Tensor) -> torch.Tensor:
    """Exact squared distance between points [M, 3] and triangles face_ids [M] (one pair per row) -> [M]."""
    return squared_distance(points, torch.index_select(faces.packed, 0, face_ids))  # one gather per pair


def squared_distance(points: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """Exact squared point-triangle distance; points [..., 3] and packed face constants [..., 16] broadcast."""
    w = points - packed[..., 0:3]
    d1 = (w * packed[..., 3:6]).sum(-1)
    d2 = (w * packed[..., 6:9]).sum(-1)
    height = (w * packed[..., 9:12]).sum(-1)
    ww = (w * w).sum(-1)
    aa, bb, cc, det = packed[..., 12], packed[..., 13], packed[..., 14], packed[..., 15]
    # Barycentric coordinates of the projection onto the plane decide "inside the triangle".
    s = (cc * d1 - bb * d2) / det.clamp_min(EPS)
    t = (aa * d2 - bb * d1) / det.clamp_min(EPS)
    inside = (s >= 0) & (t >= 0) & (s + t <= 1) & (det > EPS)
    # Outside, the nearest point lies on one of the three edges: |w - u e|^2 = ww - 2 u (w.e) + u^2 |e|^2.
    u0 = (d1 / aa.clamp_min(EPS)).clamp(0, 1)
    edge0 = ww - 2 * u0 * d1 + u0 * u0 * aa
    u1 = (d2 / cc.clamp_min(EPS)).clamp(0, 1)
    edge1 = ww - 2 * u1 * d2 + u1 * u1 * cc
    ff = aa - 2 * bb + cc  # |v2 - v1|^2
    uf = d2 - d1 - bb + aa  # (p - v1) . (v2 - v1)
    u2 = (uf / ff.clamp_min(EPS)).clamp(0, 1)
    edge2 = (ww - 2 * d1 + aa) - 2 * u2 * uf + u2 * u2 * ff
    outside = torch.minimum(torch.minimum(edge0, edge1), edge2)
    return torch.where(inside, height * height, outside).clamp_min(0)


def brute_force_nearest(points: torch.Tensor, triangles: torch.Tensor,
                        chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest triangle of every point by testing all faces: (distance [N], face index [N]).

    points: [N, 3], triangles: [F, 3, 3]. The plain reference the pruned search is checked against.
    """
    faces = FaceConstants.from_triangles(triangles)
    distances, indices = [], []
    for start in range(0, points.shape[0], chunk):
        squared = squared_distance(points[start:start + chunk, None], faces.packed[None])  # [chunk, F]
        best, index = squared.min(dim=1)
        distances.append(best.sqrt())
        indices.append(index)
    return torch.cat(distances), torch.cat(indices)
