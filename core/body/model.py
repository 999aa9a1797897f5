"""SMPL-format body models through smplx, neck-aligned as the reference, posed by the 6 neck/head numbers.

World frame (reference-spec.md §1.8): origin at the rest-pose neck point, y up, the face toward +z.
The 6 pose numbers are axis-angle (radians) of SMPL joint 12 (neck) and joint 15 (head); every other
joint stays at rest. No batch size is baked in: any batch poses through smplx's LBS functions.
"""
from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import smplx
import smplx.lbs as lbs
import torch
from smplx.utils import Struct

from core.body.smpl_pickle import BodyModelFileError, read_smpl_file
from core.body.standin import HEAD, NECK, STANDIN_VERSION, write_standin
from core.shipped import STANDIN_BODY

STANDIN_PATH = STANDIN_BODY
NUM_BETAS = 10
# The reference's neck point on real SMPL: row 12 of its I2L-MeshNet-style regressor (vertex: weight).
SMPL_NECK_REGRESSOR = {570: 0.0781, 573: 0.0219, 813: 0.1777, 3059: 0.2548,
                       3470: 0.0648, 4059: 0.0300, 4292: 0.1218, 4315: 0.2509}
SMPL_VERTEX_COUNT = 6890


def pose_from_degrees(neck_xyz_deg: Sequence[float], head_xyz_deg: Sequence[float]) -> torch.Tensor:
    """The 6 pose numbers [6] in radians from neck and head axis-angles in degrees (x nod, y turn, z tilt)."""
    degrees = [float(v) for v in neck_xyz_deg] + [float(v) for v in head_xyz_deg]
    if len(degrees) != 6:
        raise ValueError(f"pose_from_degrees needs 3 neck and 3 head angles, got {len(degrees)} numbers")
    return torch.tensor([math.radians(v) for v in degrees], dtype=torch.float32)


def _landmark_vertex_ids(vertices: np.ndarray) -> dict[str, int]:
    """smplx's extra-joint vertex ids for a non-SMPL mesh: the vertex nearest each rough landmark."""
    landmarks = {"nose": (0, 0.42, 0.16), "reye": (-0.03, 0.45, 0.12), "leye": (0.03, 0.45, 0.12),
                 "rear": (-0.08, 0.43, 0.0), "lear": (0.08, 0.43, 0.0)}
    ids = {name: int(np.argmin(np.linalg.norm(vertices - np.array(point), axis=1)))
           for name, point in landmarks.items()}
    lowest, leftmost, rightmost = (int(np.argmin(vertices[:, 1])), int(np.argmax(vertices[:, 0])),
                                   int(np.argmin(vertices[:, 0])))
    for name in ("LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"):
        ids[name] = lowest
    for finger in ("thumb", "index", "middle", "ring", "pinky"):
        ids["l" + finger], ids["r" + finger] = leftmost, rightmost
    return ids


@dataclass(frozen=True)
class VertexSubset:
    """What posing a few vertices by the neck and head needs (BodyModel.vertex_subset)."""

    ids: torch.Tensor  # [K] vertex indices
    template: torch.Tensor  # [K, 3] rest positions, SMPL frame
    weights: torch.Tensor  # [K, M] skinning weights of the joints the neck and head move (BodyModel.moving_joints)
    posedirs: torch.Tensor  # [18, K * 3] the neck and head pose correctives of these vertices


def descendants(parents: list[int], joint: int) -> list[int]:
    """The joint and every joint below it in SMPL's kinematic table (parents listed before their children)."""
    found = [joint]
    for index, parent in enumerate(parents):
        if parent in found and index not in found:
            found.append(index)
    return sorted(found)


class BodyModel:
    """A neck-aligned SMPL-format body posed by 6 numbers. All tensors live on `device`.

    Attributes: `faces` LongTensor [F, 3]; `canonical_vertices` [V, 3] (rest pose, zero betas, aligned);
    `skinning_weights` [V, 24]; `head_joint` [3]; `neck_joint` [3]; `box_face_mask` [F] bool (faces whose
    three canonical vertices lie strictly inside the unit box); `is_standin`; `source` (the file).
    """

    def __init__(self, data: dict, source: Path, is_standin: bool, device=None):
        device = torch.device(device or "cpu")
        vertex_count = int(np.asarray(data["v_template"]).shape[0])
        vertex_ids = None if vertex_count == SMPL_VERTEX_COUNT else _landmark_vertex_ids(np.asarray(data["v_template"]))
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning about 10 betas
                layer = smplx.SMPL(model_path=str(source), data_struct=Struct(**data), vertex_ids=vertex_ids,
                                   num_betas=NUM_BETAS, batch_size=1)
        except Exception as error:
            raise BodyModelFileError(f"{source}: smplx cannot build an SMPL model from this file ({error})") from error
        self.source, self.is_standin, self.device = source, is_standin, device
        self.v_template = layer.v_template.to(device)  # [V, 3] SMPL frame
        self.shapedirs = layer.shapedirs.to(device)  # [V, 3, betas]
        self.posedirs = layer.posedirs.to(device)  # [207, V * 3]
        # Every joint but the neck and head stays at rest (R - I = 0 exactly): only their 18 corrective rows count.
        self.neck_head_posedirs = self.posedirs.reshape(23, 9, -1)[[NECK - 1, HEAD - 1]].reshape(18, -1).contiguous()
        self.J_regressor = layer.J_regressor.to(device)  # [24, V]
        self.parents = layer.parents.to(device)  # [24]
        self.skinning_weights = layer.lbs_weights.to(device)  # [V, 24]
        self.faces = layer.faces_tensor.to(device)  # [F, 3]
        self.num_betas = self.shapedirs.shape[-1]
        rest_joints = self.J_regressor @ self.v_template  # [24, 3]
        if vertex_count == SMPL_VERTEX_COUNT and not is_standin:
            ids = torch.tensor(list(SMPL_NECK_REGRESSOR), device=device)
            weights = torch.tensor(list(SMPL_NECK_REGRESSOR.values()), device=device)
            self.align_offset = (weights[:, None] * self.v_template[ids]).sum(0) / weights.sum()
        else:
            self.align_offset = rest_joints[NECK].clone()
        self.canonical_vertices = self.v_template - self.align_offset  # [V, 3]
        self.rest_joints = rest_joints - self.align_offset  # [24, 3]
        self.head_joint = self.rest_joints[HEAD].clone()  # [3]
        self.neck_joint = self.rest_joints[NECK].clone()  # [3]
        self.box_face_mask = self.faces_inside_box(1.0)  # [F]
        self.moving_joints = descendants(self.parents.tolist(), NECK)  # the neck, the head and below: posed

    def faces_inside_box(self, box_warp: float) -> torch.Tensor:
        """[F] bool: faces whose 3 canonical vertices lie strictly inside [-box_warp/2, box_warp/2]^3."""
        inside = (self.canonical_vertices.abs() < box_warp / 2).all(dim=1)
        return inside[self.faces].all(dim=1)

    def full_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """[B, 6] neck/head axis-angles -> [B, 24, 3] SMPL pose with every other joint at rest."""
        pose = self._check_pose(pose)
        full = pose.new_zeros(pose.shape[0], 24, 3)
        full[:, NECK] = pose[:, :3]
        full[:, HEAD] = pose[:, 3:]
        return full

    def _check_pose(self, pose: torch.Tensor) -> torch.Tensor:
        pose = torch.as_tensor(pose, dtype=torch.float32, device=self.device)
        if pose.ndim == 1:
            pose = pose[None]
        if pose.ndim != 2 or pose.shape[1] != 6:
            raise ValueError(f"pose must be [B, 6] (neck xyz, head xyz axis-angle), got {tuple(pose.shape)}")
        return pose

    def _betas(self, betas: torch.Tensor | None, batch: int, dtype) -> torch.Tensor:
        if betas is None:
            return torch.zeros(batch, self.num_betas, dtype=dtype, device=self.device)
        betas = torch.as_tensor(betas, dtype=dtype, device=self.device).reshape(-1, betas.shape[-1])
        if betas.shape[-1] != self.num_betas:
            raise ValueError(f"betas must be [B, {self.num_betas}], got {tuple(betas.shape)}")
        return betas.expand(batch, -1)

    def forward_kinematics(self, pose: torch.Tensor, betas: torch.Tensor | None = None):
        """LBS in the aligned frame: (vertices [B, V, 3], joints [B, 24, 3], transforms [B, 24, 4, 4]).

        Samples are posed one at a time: batched matrix products round differently with the batch size,
        and the nearest-face warp is discontinuous, so batch 1 and batch B must give identical bits.
        """
        full = self.full_pose(pose)
        betas = self._betas(betas, full.shape[0], full.dtype)
        results = [self._forward_one(full[i:i + 1], betas[i:i + 1]) for i in range(full.shape[0])]
        return tuple(torch.cat(parts) for parts in zip(*results))

    def _forward_one(self, full: torch.Tensor, betas: torch.Tensor):
        """One sample: full pose [1, 24, 3], betas [1, num_betas]."""
        batch = 1
        shaped = self.v_template + lbs.blend_shapes(betas, self.shapedirs)
        rest_joints = lbs.vertices2joints(self.J_regressor, shaped)  # [B, 24, 3]
        rotations = lbs.batch_rodrigues(full.reshape(-1, 3)).reshape(batch, 24, 3, 3)
        eye = torch.eye(3, dtype=full.dtype, device=self.device)
        pose_feature = (rotations[:, [NECK, HEAD]] - eye).reshape(batch, -1)  # [B, 18] pose-corrective input
        shaped = shaped + (pose_feature @ self.neck_head_posedirs).reshape(batch, -1, 3)
        posed_joints, transforms = lbs.batch_rigid_transform(rotations, rest_joints, self.parents, dtype=full.dtype)
        blended = torch.einsum("vj,bjmn->bvmn", self.skinning_weights, transforms)  # [B, V, 4, 4]
        vertices = (blended[..., :3, :3] @ shaped[..., None])[..., 0] + blended[..., :3, 3]
        # Conjugating by the alignment shift keeps rotations and moves the translation into the aligned frame.
        offset = self.align_offset
        aligned = transforms.clone()
        aligned[..., :3, 3] = transforms[..., :3, 3] + transforms[..., :3, :3] @ offset - offset
        return vertices - offset, posed_joints - offset, aligned

    def vertex_subset(self, ids: torch.Tensor) -> VertexSubset:
        """The arrays `pose_subset` needs to pose vertices `ids` [K]."""
        ids = ids.to(self.device)
        columns = (ids[:, None] * 3 + torch.arange(3, device=self.device)).reshape(-1)
        return VertexSubset(ids, self.v_template[ids], self.skinning_weights[ids][:, self.moving_joints].contiguous(),
                            self.neck_head_posedirs[:, columns].contiguous())

    def pose_subset(self, pose: torch.Tensor, subset: VertexSubset) -> tuple[torch.Tensor, torch.Tensor]:
        """`forward_kinematics` (zero betas) for a few vertices only: (their aligned posed positions [B, K, 3],
        the aligned neck and head transforms [B, 2, 4, 4]); equal to it to float rounding, differentiable.

        Every joint but the neck and head is at rest, so its skinning transform is the identity and a vertex
        moves by sum_j w_j (A_j - I) over the moving joints alone; one sample at a time, as forward_kinematics.
        """
        full = self.full_pose(pose)
        results = [self._pose_subset_one(full[i], subset) for i in range(full.shape[0])]
        return tuple(torch.stack(parts) for parts in zip(*results))

    def _pose_subset_one(self, full: torch.Tensor, subset: VertexSubset) -> tuple[torch.Tensor, torch.Tensor]:
        """One sample: full pose [24, 3]."""
        joints = self.rest_joints + self.align_offset  # SMPL frame, zero betas
        rotations = lbs.batch_rodrigues(full[[NECK, HEAD]])  # [2, 3, 3]
        eye = torch.eye(3, dtype=full.dtype, device=self.device)
        shaped = subset.template + ((rotations - eye).reshape(1, 18) @ subset.posedirs).reshape(-1, 3)
        parents = self.parents.tolist()
        world: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # joint -> (rotation, translation)
        relative = []
        for joint in self.moving_joints:
            parent = parents[joint]
            # A parent at rest (outside the moving chain) sits at its rest joint, unrotated.
            parent_rotation, parent_translation = world.get(parent, (eye, joints[parent]))
            local = rotations[0] if joint == NECK else rotations[1] if joint == HEAD else eye
            rotation = parent_rotation @ local
            translation = parent_translation + parent_rotation @ (joints[joint] - joints[parent])
            world[joint] = (rotation, translation)
            relative.append(torch.cat([rotation, (translation - rotation @ joints[joint])[:, None]], dim=1))
        change = torch.stack(relative) - torch.cat([eye, eye.new_zeros(3, 1)], dim=1)  # [M, 3, 4]: A_j - I
        blended = (subset.weights @ change.reshape(len(relative), 12)).reshape(-1, 3, 4)  # [K, 3, 4]
        vertices = shaped + (blended[..., :3] * shaped[:, None]).sum(-1) + blended[..., 3]  # 3x3 bmm: slower
        offset = self.align_offset
        transforms = []
        for joint in (NECK, HEAD):  # conjugated by the alignment shift, as forward_kinematics
            rotation, translation = world[joint]
            aligned = translation - rotation @ joints[joint] + rotation @ offset - offset
            transforms.append(torch.cat([torch.cat([rotation, aligned[:, None]], dim=1),
                                         eye.new_tensor([[0.0, 0.0, 0.0, 1.0]])]))
        return vertices - offset, torch.stack(transforms)

    def pose_vertices(self, pose: torch.Tensor, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Posed, aligned vertices [B, V, 3] for pose [B, 6] (radians) and optional betas [B, 10]."""
        return self.forward_kinematics(pose, betas)[0]

    def joints(self, pose: torch.Tensor, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Posed, aligned joints [B, 24, 3]."""
        return self.forward_kinematics(pose, betas)[1]

    def joint_transforms(self, pose: torch.Tensor, betas: torch.Tensor | None = None) -> torch.Tensor:
        """Rigid rest-to-posed transform of each joint [B, 24, 4, 4] in the aligned frame (p' = R p + t)."""
        return self.forward_kinematics(pose, betas)[2]


def body_file(smpl_path: str | Path) -> Path:
    """The SMPL file a path names: the file itself, or a folder's SMPL_NEUTRAL.* (else its first .pkl)."""
    path = Path(smpl_path).expanduser()
    if path.is_dir():
        candidates = sorted(path.glob("SMPL_NEUTRAL.*")) or sorted(path.glob("*.pkl"))
        if not candidates:
            raise BodyModelFileError(f"{path}: no SMPL_NEUTRAL.pkl in this folder. Put the SMPL file there "
                                     "or pass the file's path.")
        path = candidates[0]
    return path


def load_body_model(smpl_path: str | Path | None = None, device=None) -> BodyModel:
    """A body model from an SMPL file (.pkl/.npz), or the shipped stand-in when `smpl_path` is None.

    The stand-in lives at checkpoints/standin_body.npz and is regenerated deterministically if missing.
    """
    if smpl_path is None:
        path = STANDIN_PATH
        if not path.is_file():
            write_standin(path)
        data = read_smpl_file(path)
        if int(data.get("standin_version", -1)) != STANDIN_VERSION:
            data = read_smpl_file(write_standin(path))
        return BodyModel(data, path, is_standin=True, device=device)
    path = body_file(smpl_path)
    data = read_smpl_file(path)
    return BodyModel(data, path, is_standin="standin_version" in data, device=device)
