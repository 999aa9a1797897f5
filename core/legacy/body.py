"""The SMPL body model inside a released pickle, turned back into an SMPL-format array set.

The reference generator's renderer holds a smplx `SMPL` layer (`renderer.aligned_SMPL.model`) whose buffers
are the neutral SMPL model (reference-spec.md §8). smplx stores them rearranged; this module undoes that so the
arrays can be written as an SMPL-format .npz that `core.body.load_body_model` reads. These arrays are covered by
the SMPL licence: they are written next to the converted checkpoint, never shipped.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from core.atomic import atomic_output
from core.legacy.records import InertRecord

SMPL_LAYER_PATH = "renderer.aligned_SMPL.model"  # where the smplx layer sits in the reference generator
ALIGNMENT_PATH = "renderer.aligned_SMPL"  # AlignedSMPL, which holds the 30-joint neck regressor
ROOT_PARENT = np.iinfo(np.uint32).max  # how SMPL files mark the root joint's missing parent


class BodyArraysMissing(ValueError):
    """The pickle's generator carries no (complete) SMPL layer."""


def body_arrays_from_record(generator: InertRecord) -> dict[str, np.ndarray]:
    """SMPL-format arrays {v_template, f, weights, J_regressor, shapedirs, posedirs, kintree_table} of G_ema.

    Shapes for SMPL: v_template [V, 3], f [F, 3], weights [V, J], J_regressor [J, V], shapedirs [V, 3, 10],
    posedirs [V, 3, 9 (J - 1)], kintree_table [2, J]; plus `smpl_joint_regressor` [30, V] when present.
    """
    layer = generator.submodule(SMPL_LAYER_PATH)
    if not isinstance(layer, InertRecord) or not layer.is_module:
        raise BodyArraysMissing(f"the generator has no SMPL layer at {SMPL_LAYER_PATH}")
    buffers = {name: tensor for name, tensor in layer.buffers.items() if isinstance(tensor, torch.Tensor)}
    needed = ("v_template", "shapedirs", "posedirs", "J_regressor", "parents", "lbs_weights", "faces_tensor")
    missing = [name for name in needed if name not in buffers]
    if missing:
        raise BodyArraysMissing(f"the SMPL layer at {SMPL_LAYER_PATH} lacks {', '.join(missing)}")
    v_template = buffers["v_template"].detach().cpu().numpy()
    vertices = v_template.shape[0]
    joints = buffers["J_regressor"].shape[0]
    posedirs = buffers["posedirs"].detach().cpu().numpy()  # smplx keeps [P, V * 3]
    if posedirs.shape[1] != vertices * 3:
        raise BodyArraysMissing(f"posedirs {tuple(posedirs.shape)} does not fit {vertices} vertices")
    parents = buffers["parents"].detach().cpu().numpy().astype(np.int64)
    kintree = np.stack([np.where(parents < 0, ROOT_PARENT, parents), np.arange(joints)]).astype(np.uint32)
    arrays = {
        "v_template": v_template,
        "f": buffers["faces_tensor"].detach().cpu().numpy().astype(np.int64),
        "weights": buffers["lbs_weights"].detach().cpu().numpy(),
        "J_regressor": buffers["J_regressor"].detach().cpu().numpy(),
        "shapedirs": buffers["shapedirs"].detach().cpu().numpy(),
        "posedirs": posedirs.T.reshape(vertices, 3, posedirs.shape[0]),
        "kintree_table": kintree,
    }
    alignment = generator.submodule(ALIGNMENT_PATH)
    regressor = alignment.buffers.get("smpl_joint_regressor") if isinstance(alignment, InertRecord) else None
    if isinstance(regressor, torch.Tensor):
        arrays["smpl_joint_regressor"] = regressor.detach().cpu().numpy()
    return arrays


def write_body_npz(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write `arrays` as an .npz atomically (temporary file, then rename); returns the path."""
    with atomic_output(path) as stream:
        np.savez(stream, **arrays)
    return Path(path)
