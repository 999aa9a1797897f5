"""A pose warp that is cheap per pose and differentiable: the nearest-face rule on a piecewise rigid body.

Under a neck/head pose almost every in-box face of the body moves rigidly with one of three motion groups:
the static body (identity), the neck (SMPL joint 12's transform) or the head (joint 15's). The nearest posed
face of a rigid group to a point p is the nearest canonical face of that group to the group's inverse image
c_g = T_g^-1 p, so a distance field per group, sampled in canonical space and built once per body, answers
"how far is p from group g" for any pose. The remaining faces blend transforms across the neck (about 8% on
the stand-in); they are posed exactly per pose and searched among a few candidates that a canonical table
proposes. The point then moves by the winner's rigid map, as in the reference (reference-spec.md §1.8):
c_g for a rigid group, the posed-to-canonical triangle map for a blended face. Per pose this costs two
joint transforms and the posed blended faces; gradients reach the pose through both. The error against
`ExactWarp` comes from the trilinear distance fields and the blended candidates; docs/body.md measures it.
"""
from __future__ import annotations

import math
import threading

import torch

from core.body.face_index import NearestFaceIndex
import core.body.warp_kernel as warp_kernel
from core.body.field_store import STORED, fields_key, load_stored, save_stored
from core.body.model import BodyModel, descendants
from core.body.standin import HEAD, NECK
from core.body.triangles import FaceConstants, rigid_face_maps, squared_distance
from core.rendering.point_sampling import sample_volume

FIELD_RESOLUTION = 65  # nodes per side of the canonical fields (odd: every other node makes the bound grid)
STILL_TOLERANCE = 1e-6  # a pose that moves no face farther than this leaves every point in place (as ExactWarp)
RIGID_TOLERANCE = 1e-4  # a vertex whose weights (and pose correctives) differ from one group by less is rigid
# A blended face is searched when its canonical guess is nearer than the rigid winner by more than this. The
# guess errs low, and neighbouring rigid maps differ little from a blended one: measured against ExactWarp
# (three poses), 0.01 gives the lowest error and searches 6x fewer points than accepting every close guess.
BLEND_PREFERENCE = 0.01
CHUNK = 1 << 18  # points carried at a time: bounds the temporaries
GATHER_WORTH = 0.7  # below this share of points that may move, only those are gathered and carried
PROBE_STRIDE = 16  # every this-th point estimates that share before all points are bounded
FIELD_MARGIN = 0.15  # distances beyond thickness + this are clamped (farther points cannot move in a portrait pose)
STATIC, NECK_GROUP, HEAD_GROUP, BLENDED = 0, 1, 2, 3
BLEND_CANDIDATES = 1  # nearest blended faces kept per node; each of a point's three group images proposes them
_FIELD_CACHE: dict[tuple, "CanonicalFields"] = {}
_FIELD_LOCK = threading.Lock()  # a viewer warms the fields on a thread while it renders


def face_groups(body: BodyModel, box_warp: float = 1.0, tolerance: float = RIGID_TOLERANCE):
    """(in-box faces [F', 3], motion group of each [F']): STATIC, NECK_GROUP, HEAD_GROUP or BLENDED."""
    faces = body.faces[body.faces_inside_box(box_warp)]
    parents = body.parents.tolist()
    head_joints = descendants(parents, HEAD)
    neck_joints = sorted(set(descendants(parents, NECK)) - set(head_joints))
    weights = body.skinning_weights
    shares = torch.stack([1 - weights[:, neck_joints + head_joints].sum(1), weights[:, neck_joints].sum(1),
                          weights[:, head_joints].sum(1)], dim=1)  # [V, 3]
    vertex_group = torch.where(shares.max(dim=1).values > 1 - tolerance, shares.argmax(dim=1), BLENDED)
    # Pose correctives of the neck and head rotations bend a vertex away from any rigid motion.
    correctives = body.posedirs.reshape(23, 9, -1, 3)[[NECK - 1, HEAD - 1]].abs().amax(dim=(0, 1, 3))  # [V]
    vertex_group = torch.where(correctives > tolerance, BLENDED, vertex_group)
    corner_groups = vertex_group[faces]  # [F', 3]
    same = (corner_groups == corner_groups[:, :1]).all(dim=1)
    return faces, torch.where(same, corner_groups[:, 0], BLENDED)


def _nearest_faces(nodes: torch.Tensor, triangles: torch.Tensor, wanted: torch.Tensor, count: int,
                   chunk: int = 4096) -> torch.Tensor:
    """The `count` nearest triangles [N, count] of each node where `wanted` [N] (face 0 elsewhere)."""
    packed = FaceConstants.from_triangles(triangles).packed
    count = min(count, len(triangles))
    result = torch.zeros(len(nodes), count, dtype=torch.long, device=nodes.device)
    rows = torch.nonzero(wanted).squeeze(1)
    for start in range(0, len(rows), chunk):
        part = rows[start:start + chunk]
        squared = squared_distance(nodes[part, None], packed[None])  # [chunk, F]
        result[part] = squared.topk(count, dim=1, largest=False).indices
    return result


class CanonicalFields:
    """Per body: distance fields of the rigid groups and the blended faces, and blended-face candidates.

    Fields span [-extent, extent]^3, extent = box/2 + thickness, at `resolution` nodes per side (grid_sample
    layout: depth z, height y, width x). `groups_at_images` [3, 2, G, G, G] holds (group, blended) distances for
    the static, neck and head groups, each read at the point's image under that group (the point itself for the
    static group); `bounds`, at every other node, the distance to any face, for skipping work. Values are clamped
    at thickness + FIELD_MARGIN + a cell diagonal; outside the span a sample reads the border, at least the
    thickness from every in-box face.
    `candidates` [G^3, K]: the nearest blended faces of each node.
    """

    def __init__(self, body: BodyModel, thickness: float = 0.25, box_warp: float = 1.0,
                 resolution: int = FIELD_RESOLUTION, stored: dict[str, torch.Tensor] | None = None):
        """stored: `groups_at_images`, `bounds` and `candidates` of an earlier build (core.body.field_store)."""
        self.thickness, self.box_warp, self.resolution = float(thickness), float(box_warp), int(resolution)
        self.extent = box_warp / 2 + thickness
        self.spacing = 2 * self.extent / (resolution - 1)
        self.diagonal = self.spacing * math.sqrt(3)  # trilinear values of a 1-Lipschitz field are this close
        self.bound_diagonal = 2 * self.diagonal
        self.faces, self.groups = face_groups(body, box_warp)
        if len(self.faces) == 0:
            raise ValueError(f"no face of the body model ({body.source}) lies inside the box of side {box_warp}")
        self.blended_faces = self.faces[self.groups == BLENDED]  # [Fb, 3]
        self.face_vertices = torch.unique(self.faces)  # [V'] the corners of the in-box faces
        self.posed_vertices = body.vertex_subset(self.face_vertices)  # what a pose moves of them
        self.blended_corners = torch.searchsorted(self.face_vertices, self.blended_faces)  # [Fb, 3] into V'
        self._channels_last = None
        if stored is not None:
            self.groups_at_images, self.bounds, self.candidates = (stored[name] for name in STORED)
        else:
            self._build(body)

    @staticmethod
    def stored_shapes(resolution: int) -> dict[str, tuple]:
        """The shapes the `stored` arrays have at `resolution` nodes per side."""
        nodes, bound_nodes = (resolution,) * 3, ((resolution + 1) // 2,) * 3
        return {"groups_at_images": (3, 2) + nodes, "bounds": (1, 1) + bound_nodes,
                "candidates": (resolution ** 3, BLEND_CANDIDATES)}

    def _build(self, body: BodyModel) -> None:
        resolution = self.resolution
        # Clamped this far out, the fields still bound every point a pose can bring within the thickness.
        reach = self.thickness + FIELD_MARGIN + self.diagonal
        axis = torch.linspace(-self.extent, self.extent, resolution, device=body.device)
        zz, yy, xx = torch.meshgrid(axis, axis, axis, indexing="ij")
        nodes = torch.stack([xx, yy, zz], dim=-1).reshape(-1, 3)
        canonical = body.canonical_vertices[self.faces]  # [F', 3, 3]
        distances = {}
        self.candidates = torch.zeros(len(nodes), BLEND_CANDIDATES, dtype=torch.long, device=body.device)
        with torch.no_grad():
            for group in (STATIC, NECK_GROUP, HEAD_GROUP, BLENDED):
                members = torch.nonzero(self.groups == group).squeeze(1)
                distances[group] = torch.full((len(nodes),), reach, device=body.device)
                if len(members):
                    found, _ = NearestFaceIndex(canonical[members], reach, 1 / 16, 1 / 4).query(nodes)
                    distances[group] = found.clamp_max(reach)
                if group == BLENDED and len(members):
                    self.candidates = _nearest_faces(nodes, canonical[members], found < reach, BLEND_CANDIDATES)
        any_face = torch.stack(list(distances.values())).amin(dim=0)

        def grid(*channels):
            return torch.stack([c.reshape((resolution,) * 3) for c in channels])[None].contiguous()

        # (group, blended) per rigid group, read at the point's image under that group.
        self.groups_at_images = torch.cat([grid(distances[group], distances[BLENDED])
                                           for group in (STATIC, NECK_GROUP, HEAD_GROUP)]).contiguous()
        # Bounds only: every other node (exact values there), small enough to stay in cache when read everywhere.
        self.bounds = grid(any_face)[..., ::2, ::2, ::2].contiguous()

    @staticmethod
    def for_body(body: BodyModel, thickness: float = 0.25, box_warp: float = 1.0,
                 resolution: int = FIELD_RESOLUTION) -> "CanonicalFields":
        """Once per (body, device, thickness, box, resolution) and process: read from the user's cache when an
        earlier process built them (core.body.field_store), else built and kept there."""
        key = (str(body.source), body.faces.shape[0], str(body.device), float(thickness), float(box_warp),
               int(resolution))
        with _FIELD_LOCK:
            if key not in _FIELD_CACHE:
                _FIELD_CACHE[key] = _stored_or_built(body, thickness, box_warp, resolution)
            return _FIELD_CACHE[key]

    def channels_last(self) -> tuple:
        """(groups_at_images [3, G, G, G, 2], bounds [B, B, B, 1]) as numpy, channels last: one cache line holds
        both values of a node (core.body.warp_kernel's layout); made once."""
        if self._channels_last is None:
            self._channels_last = (self.groups_at_images.permute(0, 2, 3, 4, 1).contiguous().numpy(),
                                   self.bounds[0].permute(1, 2, 3, 0).contiguous().numpy())
        return self._channels_last

    def sample(self, grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Trilinear values [M, C] of one of the fields at canonical points [M, 3]."""
        return sample_volume(grid, points / self.extent, mode="bilinear", padding_mode="border", align_corners=True)

    def sample_groups(self, images: torch.Tensor) -> torch.Tensor:
        """(group distance, blended distance) [3, M, 2] of the static, neck and head fields, each read at its own
        images [3, M, 3] (three threaded reads: one batched grid_sample measured no faster and uses fewer threads)."""
        return torch.stack([self.sample(self.groups_at_images[g:g + 1], images[g]) for g in range(3)])

    def nearest_candidates(self, points: torch.Tensor) -> torch.Tensor:
        """Blended-face candidates [..., K] (indices into `blended_faces`) at the node nearest each point [..., 3]."""
        index = ((points + self.extent) / self.spacing).round().long().clamp(0, self.resolution - 1)
        linear = (index[..., 2] * self.resolution + index[..., 1]) * self.resolution + index[..., 0]
        return self.candidates[linear]


def stored_fields_key(body: BodyModel, thickness: float, box_warp: float, resolution: int) -> str:
    """The name of these fields in the user's cache; the builder's constants shape the stored arrays too."""
    return fields_key(body, thickness, box_warp, resolution, (FIELD_MARGIN, RIGID_TOLERANCE, BLEND_CANDIDATES))


def _stored_or_built(body: BodyModel, thickness: float, box_warp: float, resolution: int) -> CanonicalFields:
    disk_key = stored_fields_key(body, thickness, box_warp, resolution)
    stored = load_stored(disk_key, CanonicalFields.stored_shapes(resolution), body.device)
    if stored is not None:
        return CanonicalFields(body, thickness, box_warp, resolution, stored=stored)
    fields = CanonicalFields(body, thickness, box_warp, resolution)
    save_stored(disk_key, fields)
    return fields


class FastWarp:
    """Piecewise-rigid nearest-face warp, `warp(points [B, N, 3]) -> [B, N, 3]`, differentiable in the pose.

    pose: [B, 6] radians (or [6]); a pose batch of 1 serves any point batch. The canonical fields are shared
    by every FastWarp of the same body, so a new pose costs only its joint transforms and blended faces.
    compiled: decide per point in core.body.warp_kernel's compiled loop (default: on a CPU when numba imports),
    else as torch operations (any device).
    """

    def __init__(self, body: BodyModel, pose: torch.Tensor, thickness: float = 0.25, box_warp: float = 1.0,
                 fields: CanonicalFields | None = None, compiled: bool | None = None):
        pose = torch.as_tensor(pose, dtype=torch.float32, device=body.device)
        self.pose = pose[None] if pose.ndim == 1 else pose
        if self.pose.ndim != 2 or self.pose.shape[1] != 6:
            raise ValueError(f"pose must be [B, 6] (neck xyz, head xyz axis-angle, radians), got {tuple(pose.shape)}")
        self.thickness = float(thickness)
        possible = warp_kernel.available() and body.device.type == "cpu"
        self.compiled = possible if compiled is None else compiled
        if self.compiled and not possible:
            raise ValueError("the compiled fast warp needs numba (pip install numba) and a CPU body model")
        self.fields = fields or CanonicalFields.for_body(body, thickness, box_warp)
        vertices, transforms = body.pose_subset(self.pose, self.fields.posed_vertices)  # [B, V', 3], [B, 2, 4, 4]
        # Inverse rigid maps of the neck and head groups: c = R^T (p - t).
        moving = transforms[:, :, :3]  # [B, 2, 3, 4]
        self.inverse_rotation = moving[..., :3].transpose(-1, -2)  # [B, 2, 3, 3]
        self.inverse_translation = -(self.inverse_rotation @ moving[..., 3:])[..., 0]  # [B, 2, 3]
        with torch.no_grad():
            # No in-box face moves farther than its farthest corner: a bound for skipping points.
            moved = vertices.detach() - self.fields.posed_vertices.template + body.align_offset  # [B, V', 3]
            self.max_displacement = moved.norm(dim=-1).amax(dim=1)  # [B]
        posed_blended = vertices[:, self.fields.blended_corners]  # [B, Fb, 3, 3]
        canonical_blended = body.canonical_vertices[self.fields.blended_faces]
        self.blend_rotation, self.blend_translation = rigid_face_maps(posed_blended, canonical_blended)
        self.blend_packed = torch.stack([FaceConstants.from_triangles(t.detach()).packed for t in posed_blended])

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        if points.ndim != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be [B, N, 3], got {tuple(points.shape)}")
        if self.pose.shape[0] not in (1, points.shape[0]):
            raise ValueError(f"points batch {points.shape[0]} does not match the pose batch {self.pose.shape[0]}")
        return torch.stack([self._warp_one(points[b], min(b, self.pose.shape[0] - 1))
                            for b in range(points.shape[0])])

    def _warp_one(self, points: torch.Tensor, index: int) -> torch.Tensor:
        """Points [N, 3] of one sample under pose `index`."""
        # At rest to float rounding nothing moves; a pose being optimised still needs the path for its gradient.
        if float(self.max_displacement[index]) <= STILL_TOLERANCE and not self.pose.requires_grad:
            return points
        if self.compiled and points.dtype == torch.float32:  # one compiled pass bounds every point
            return self._carry_compiled(points, index)
        # A probe of every PROBE_STRIDE-th point: when most may move, carrying all beats bounding each one.
        if self._may_move(points[::PROBE_STRIDE], index).float().mean() > GATHER_WORTH:
            return self._carry_all(points, index)
        rows = torch.nonzero(self._may_move(points, index)).squeeze(1)
        if len(rows) == 0:
            return points
        if len(rows) > GATHER_WORTH * len(points):  # slices beat gathering and scattering
            return self._carry_all(points, index)
        parts = [self._carry(points.index_select(0, part), index) for part in rows.split(CHUNK)]
        return points.index_put((rows,), torch.cat(parts))

    def _may_move(self, points: torch.Tensor, index: int) -> torch.Tensor:
        """[N] bool: False where no face can bring the point within the thickness under pose `index`."""
        with torch.no_grad():
            nearest_any = self.fields.sample(self.fields.bounds, points.detach())[:, 0]
            # The field is 1-Lipschitz and no face moves farther than max_displacement: a lower bound.
            return nearest_any - (self.fields.bound_diagonal + float(self.max_displacement[index])) < self.thickness

    def _carry_all(self, points: torch.Tensor, index: int) -> torch.Tensor:
        return torch.cat([self._carry(points[start:start + CHUNK], index) for start in range(0, len(points), CHUNK)])

    def _carry(self, near: torch.Tensor, index: int) -> torch.Tensor:
        """Canonical positions [M, 3] of points near [M, 3] under pose `index`."""
        fields = self.fields
        neck, head = (torch.einsum("gij,mj->gmi", self.inverse_rotation[index], near)
                      + self.inverse_translation[index][:, None])  # [2, M, 3]
        with torch.no_grad():
            images = torch.stack([near.detach(), neck.detach(), head.detach()])  # [3, M, 3]: static, neck, head
            values = fields.sample_groups(images)  # [3, M, 2]: each group's distance, blended at its image
            rigid_distance, rigid_group = values[..., 0].min(dim=0)
            # Blended faces move between the groups: near one, they lie near some group's image.
            blend_guess = values[..., 1].amin(dim=0)
            test = torch.nonzero(blend_guess + BLEND_PREFERENCE < rigid_distance.clamp_max(self.thickness)).squeeze(1)
            blend_distance = torch.full_like(rigid_distance, math.inf)
            blend_face = torch.zeros_like(rigid_group)
            if len(test) and self.blend_packed.shape[1]:
                proposals = images[:, test].transpose(0, 1)  # [P, 3, 3]
                blend_distance[test], blend_face[test] = self._nearest_blended(images[0, test], proposals, index)
            use_blend = blend_distance < rigid_distance
            moved = torch.minimum(rigid_distance, blend_distance) < self.thickness
        group = rigid_group[:, None]
        carried = torch.where(group == STATIC, near, torch.where(group == NECK_GROUP, neck, head))
        if bool(use_blend.any()):
            which = torch.nonzero(use_blend).squeeze(1)
            face = blend_face[which]
            blend = (self.blend_rotation[index, face] @ near[which, :, None])[..., 0]
            carried = carried.index_put((which,), blend + self.blend_translation[index, face])
        return torch.where(moved[:, None], carried, near)

    def _carry_compiled(self, points: torch.Tensor, index: int) -> torch.Tensor:
        """`_carry` (with `_may_move`'s bound) as core.body.warp_kernel's loop; with gradients, its choices pick
        the same differentiable maps as `_carry`."""
        fields = self.fields

        def array(tensor: torch.Tensor):
            return tensor.detach().contiguous().numpy()

        out, choice = warp_kernel.carry(
            array(points), array(self.inverse_rotation[index]), array(self.inverse_translation[index]),
            *fields.channels_last(), fields.extent, self.thickness,
            fields.bound_diagonal + float(self.max_displacement[index]), BLEND_PREFERENCE, array(fields.candidates),
            array(self.blend_packed[index]), array(self.blend_rotation[index]), array(self.blend_translation[index]),
            torch.get_num_threads())
        tracked = (self.inverse_rotation, self.inverse_translation, self.blend_rotation, self.blend_translation)
        if not torch.is_grad_enabled() or not (points.requires_grad or any(t.requires_grad for t in tracked)):
            return torch.from_numpy(out)
        choice = torch.from_numpy(choice).long()
        neck, head = (torch.einsum("gij,mj->gmi", self.inverse_rotation[index], points)
                      + self.inverse_translation[index][:, None])
        group = choice[:, None]
        carried = torch.where(group == NECK_GROUP, neck, torch.where(group == HEAD_GROUP, head, points))
        which = torch.nonzero(choice >= warp_kernel.BLENDED_CHOICE).squeeze(1)
        if len(which):
            face = choice[which] - warp_kernel.BLENDED_CHOICE
            blend = (self.blend_rotation[index, face] @ points[which, :, None])[..., 0]
            carried = carried.index_put((which,), blend + self.blend_translation[index, face])
        return carried

    def _nearest_blended(self, points, proposals, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact distance [P] to the nearest blended face among those the canonical table proposes at each
        point's three group images [P, 3, 3], and that face's index into `blended_faces` [P]."""
        candidates = self.fields.nearest_candidates(proposals).reshape(len(points), -1)  # [P, 3 * K]
        best, which = squared_distance(points[:, None], self.blend_packed[index][candidates]).min(dim=1)
        return best.sqrt(), torch.gather(candidates, 1, which[:, None])[:, 0]
