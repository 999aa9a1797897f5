"""The "body_mesh" extra: the body model's surface and skeleton, at rest and in the request's pose.

The GUI draws them in the mesh view (SMPL overlay) without importing torch, so everything is numpy.
Both poses come in one product, so switching the view between canonical and posed needs no new render.
"""
from __future__ import annotations

import numpy as np
import torch

from core.body.model import HEAD, NECK
from core.scene import pose_radians
from renderer.products import BODY_MESH, BodyMeshProduct


def body_mesh_product(renderer, scene, request) -> BodyMeshProduct:
    """The body at rest and in the request's pose, cached per body, device and pose."""
    key = (BODY_MESH, str(renderer.body_path(scene.model)), str(scene.device), tuple(request.pose_deg))
    return renderer.inspect_cache.get_or_create(key, lambda: _build(renderer, scene, request.pose_deg))


def _build(renderer, scene, pose_deg: tuple[float, ...]) -> BodyMeshProduct:
    body = renderer.body(scene.device, scene.model)
    pose = pose_radians(pose_deg, scene.device)
    rest = torch.zeros_like(pose)
    with torch.inference_mode():
        posed_vertices = body.pose_vertices(pose)[0]
        joints = body.joints(rest)[0]
        posed_joints = body.joints(pose)[0]
    return BodyMeshProduct(
        vertices=body.canonical_vertices.detach().cpu().numpy().astype(np.float32),
        posed_vertices=posed_vertices.cpu().numpy().astype(np.float32),
        faces=body.faces.cpu().numpy().astype(np.int32),
        joints=joints.cpu().numpy().astype(np.float32),
        posed_joints=posed_joints.cpu().numpy().astype(np.float32),
        parents=body.parents.cpu().numpy().astype(np.int64),
        neck_index=int(NECK), head_index=int(HEAD), pose_deg=tuple(pose_deg),
    )
