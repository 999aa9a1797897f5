"""SMPL-format body models, the shipped stand-in bust, and the pose-driven warp (see docs/body.md)."""
from core.body.model import BodyModel, load_body_model, pose_from_degrees
from core.body.smpl_pickle import BodyModelFileError
from core.body.fast_warp import FastWarp
from core.body.warp import DEFAULT_GRID_RESOLUTION, WARP_MODES, ExactWarp, GridWarp, make_warp

__all__ = [
    "BodyModel", "BodyModelFileError", "DEFAULT_GRID_RESOLUTION", "ExactWarp", "FastWarp", "GridWarp",
    "load_body_model", "make_warp", "pose_from_degrees", "WARP_MODES",
]
