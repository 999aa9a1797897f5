"""The pose-driven warp from observation (posed) space to canonical space, as `point_warp` callables.

Reference semantics (reference-spec.md §1.8): among the faces whose three canonical vertices lie strictly
inside the box, find the nearest triangle of the POSED mesh; carry the point's coordinates in that
triangle's local frame over to the same canonical triangle; move only points closer than `thickness`.

- `ExactWarp` does that for every point (pruned exact search, differentiable w.r.t. the pose through the
  posed-triangle frames; the face choice is made without gradients).
- `GridWarp` samples a displacement field built once per pose with the exact method on a regular grid
  over the box, trilinearly; the shell test uses the interpolated distance, so the cut stays sharp.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F

from core.body.face_index import NearestFaceIndex
from core.body.fast_warp import FastWarp
from core.body.model import BodyModel
from core.body.triangles import rigid_face_maps
from core.names import WARP_MODES

STILL_TOLERANCE = 1e-6  # a face whose corners all move less than this counts as unmoved (identity map)
DEFAULT_GRID_RESOLUTION = 40  # nodes per side: mean error ~0.003 box units, build ~0.6 s on one CPU core (docs/body.md)


def _as_pose_batch(pose: torch.Tensor, device) -> torch.Tensor:
    pose = torch.as_tensor(pose, dtype=torch.float32, device=device)
    pose = pose[None] if pose.ndim == 1 else pose
    if pose.ndim != 2 or pose.shape[1] != 6:
        raise ValueError(f"pose must be [B, 6] (neck xyz, head xyz axis-angle, radians), got {tuple(pose.shape)}")
    return pose


def _check_points(points: torch.Tensor, pose_batch: int) -> None:
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be [B, N, 3], got {tuple(points.shape)}")
    if pose_batch not in (1, points.shape[0]):
        raise ValueError(f"points batch {points.shape[0]} does not match the pose batch {pose_batch}")


class ExactWarp:
    """Nearest-posed-face rigid warp, exact for every point. `warp(points [B, N, 3]) -> [B, N, 3]`.

    pose: [B, 6] radians (or [6]); a pose batch of 1 serves any point batch. Gradients reach `pose`
    (if it requires grad) through the posed triangles; the nearest-face search runs under no_grad.
    """

    def __init__(self, body: BodyModel, pose: torch.Tensor, thickness: float = 0.25, box_warp: float = 1.0,
                 betas: torch.Tensor | None = None, finest_cell: float = 1 / 16, coarsest_cell: float = 1 / 4):
        self.pose = _as_pose_batch(pose, body.device)
        self.thickness = float(thickness)
        faces = body.faces[body.faces_inside_box(box_warp)]
        if len(faces) == 0:
            raise ValueError(f"no face of the body model ({body.source}) lies inside the box of side {box_warp}: "
                             "nothing could guide the warp; use the model's box_warp (1.0 for SMPL-sized bodies)")
        posed = body.pose_vertices(self.pose, betas)[:, faces]  # [B, F', 3, 3]
        canonical = body.canonical_vertices[faces]  # [F', 3, 3]
        self.rotation, self.translation = rigid_face_maps(posed, canonical)  # [B, F', 3, 3], [B, F', 3]
        # Faces the pose leaves in place (to float rounding) map points to themselves: no search near them.
        moving = ((posed.detach() - canonical).abs() > STILL_TOLERANCE).flatten(2).any(dim=2)  # [B, F']
        self.indices = [NearestFaceIndex(posed[b], self.thickness, finest_cell, coarsest_cell, moving[b])
                        for b in range(posed.shape[0])]

    def nearest(self, points: torch.Tensor, skip_static: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Distance [B, N] and nearest masked face [B, N] (-1: none within the thickness) of points [B, N, 3].

        skip_static: also -1 (distance +inf) where every candidate face is left in place by the pose.
        """
        _check_points(points, len(self.indices))
        with torch.no_grad():
            results = [self.indices[min(b, len(self.indices) - 1)].query(points[b], skip_static)
                       for b in range(points.shape[0])]
        return torch.stack([r[0] for r in results]), torch.stack([r[1] for r in results])

    def carry_to_canonical(self, points: torch.Tensor, face: torch.Tensor) -> torch.Tensor:
        """Points [B, N, 3] carried rigidly by their faces [B, N] (any distance; face -1 keeps the point)."""
        batch = torch.arange(points.shape[0], device=points.device)[:, None].clamp_max(self.rotation.shape[0] - 1)
        rotation = self.rotation[batch, face.clamp_min(0)]  # [B, N, 3, 3]
        translation = self.translation[batch, face.clamp_min(0)]  # [B, N, 3]
        canonical = (rotation @ points[..., None])[..., 0] + translation
        return torch.where((face >= 0)[..., None], canonical, points)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        distance, face = self.nearest(points, skip_static=True)
        canonical = self.carry_to_canonical(points, face)
        return torch.where((distance < self.thickness)[..., None], canonical, points)


class GridWarp:
    """Warp read from a displacement grid over the box. `warp(points [B, N, 3]) -> [B, N, 3]`.

    The grid holds, at resolution^3 nodes spanning [-box/2, box/2]^3, the exact warp's displacement
    (continued past the thickness shell) and the nearest-face distance. Points outside the box, or whose
    interpolated distance is not below the thickness, are returned unchanged. No gradients.
    """

    def __init__(self, body: BodyModel, pose: torch.Tensor, resolution: int = DEFAULT_GRID_RESOLUTION,
                 thickness: float = 0.25, box_warp: float = 1.0, betas: torch.Tensor | None = None):
        self.thickness, self.box_warp, self.resolution = float(thickness), float(box_warp), int(resolution)
        spacing = box_warp / (resolution - 1)
        # Nodes just beyond the shell need their continued displacement so the shell edge interpolates cleanly.
        reach = self.thickness + spacing * math.sqrt(3)
        with torch.no_grad():
            exact = ExactWarp(body, pose, thickness=reach, box_warp=box_warp, betas=betas)
            axis = torch.linspace(-box_warp / 2, box_warp / 2, resolution, device=body.device)
            # grid_sample order: depth=z, height=y, width=x
            zz, yy, xx = torch.meshgrid(axis, axis, axis, indexing="ij")
            nodes = torch.stack([xx, yy, zz], dim=-1).reshape(1, -1, 3)
            fields = []
            for b in range(exact.rotation.shape[0]):
                exact_b = exact if exact.rotation.shape[0] == 1 else _select(exact, b)
                distance, face = exact_b.nearest(nodes, skip_static=True)
                displacement = exact_b.carry_to_canonical(nodes, face) - nodes
                distance = distance.clamp_max(reach).unsqueeze(-1)
                fields.append(torch.cat([displacement, distance], dim=-1)[0])
            grid = torch.stack(fields).reshape(len(fields), resolution, resolution, resolution, 4)
            self.grid = grid.permute(0, 4, 1, 2, 3).contiguous()  # [B, 4, D, H, W]

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        _check_points(points, self.grid.shape[0])
        batch, count = points.shape[:2]
        grid = self.grid.expand(batch, -1, -1, -1, -1) if self.grid.shape[0] == 1 else self.grid
        normalised = (points / (self.box_warp / 2)).reshape(batch, count, 1, 1, 3)
        sampled = F.grid_sample(grid, normalised.to(grid.dtype), mode="bilinear", padding_mode="border",
                                align_corners=True)  # [B, 4, N, 1, 1]
        sampled = sampled.reshape(batch, 4, count).transpose(1, 2)
        inside_box = (points.abs() <= self.box_warp / 2).all(dim=-1)
        moved = inside_box & (sampled[..., 3] < self.thickness)
        return torch.where(moved[..., None], points + sampled[..., :3], points)


def _select(exact: ExactWarp, index: int) -> ExactWarp:
    """A one-sample view of a batched ExactWarp (shares its tensors)."""
    view = object.__new__(ExactWarp)
    view.pose, view.thickness = exact.pose[index:index + 1], exact.thickness
    view.rotation, view.translation = exact.rotation[index:index + 1], exact.translation[index:index + 1]
    view.indices = [exact.indices[index]]
    return view


POSE_GRADIENT_MODES = ("fast", "exact")  # the modes whose output is differentiable in the pose


def make_warp(body: BodyModel, pose: torch.Tensor, mode: str = "fast", thickness: float = 0.25,
              box_warp: float = 1.0, resolution: int = DEFAULT_GRID_RESOLUTION):
    """A `point_warp` for pose [6] or [B, 6] (radians), or None when every pose value is zero (identity).

    `resolution` is the per-pose grid's (mode "grid" only).
    """
    pose = _as_pose_batch(pose, body.device)
    if not bool(pose.any()):
        return None
    if mode == "fast":
        return FastWarp(body, pose, thickness=thickness, box_warp=box_warp)
    if mode == "exact":
        return ExactWarp(body, pose, thickness=thickness, box_warp=box_warp)
    if mode == "grid":
        return GridWarp(body, pose, resolution=resolution, thickness=thickness, box_warp=box_warp)
    raise ValueError(f"warp mode must be one of {', '.join(WARP_MODES)}, got {mode!r}")


class WarpCache:
    """Build-or-reuse warps keyed by the pose values (a few recent poses, least recently used dropped)."""

    def __init__(self, body: BodyModel, mode: str = "fast", capacity: int = 4, **warp_options):
        self.body, self.mode, self.capacity, self.options = body, mode, capacity, warp_options
        self._warps: OrderedDict[tuple, object] = OrderedDict()

    def get(self, pose: torch.Tensor):
        """The warp for pose [6] or [B, 6] (radians); None for the zero pose."""
        key = tuple(round(float(v), 6) for v in torch.as_tensor(pose, dtype=torch.float32).flatten())
        if key in self._warps:
            self._warps.move_to_end(key)
            return self._warps[key]
        warp = make_warp(self.body, pose, self.mode, **self.options)
        self._warps[key] = warp
        while len(self._warps) > self.capacity:
            self._warps.popitem(last=False)
        return warp
