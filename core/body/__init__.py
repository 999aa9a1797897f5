"""SMPL-format body models, the shipped stand-in bust, and the pose-driven warp (see docs/body.md)."""
from core.body.model import BodyModel, load_body_model, pose_from_degrees
from core.body.smpl_pickle import BodyModelFileError

__all__ = ["BodyModel", "BodyModelFileError", "load_body_model", "pose_from_degrees"]
