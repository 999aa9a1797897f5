"""The body warp of the fakes, and which body poses them: `--body PATH`, else the body a synthetic dataset
records, else the stand-in.

A synthetic dataset's synth.json names the body its images were rendered with (`settings.body_path`, None for
the shipped stand-in). Training with another body would pose the fakes differently from the reals, so a
mismatch is an error that names both.
"""
from __future__ import annotations

from pathlib import Path

import torch

from core.body import BodyModel, BodyModelFileError, load_body_model
from core.body.model import STANDIN_PATH, body_file
from core.body.warp import POSE_GRADIENT_MODES, make_warp
from core.config import GeneratorConfig
from core.data.records import RECORD_FILE, read_record
from core.data.storage import DatasetError
from core.train.config import TrainingError

STANDIN_NAME = "the shipped stand-in body"


def _canonical(path: str | Path | None) -> str | None:
    """A comparable form of a body path: resolved, the stand-in's own file counted as None."""
    if path is None or str(path) == "standin":
        return None
    try:
        resolved = body_file(path).resolve()
    except BodyModelFileError:  # a folder without a body file: loading it later says so
        resolved = Path(path).expanduser().resolve()
    return None if resolved == STANDIN_PATH.resolve() else str(resolved)


def dataset_body(data_path: Path) -> tuple[bool, str | None]:
    """(whether the dataset records its body, the recorded body path or None for the stand-in)."""
    root = Path(data_path)
    if not (root / RECORD_FILE).is_file():
        return False, None
    try:
        return True, _canonical(read_record(root).settings.get("body_path"))
    except DatasetError as error:
        raise TrainingError(str(error)) from error


def describe(path: str | None) -> str:
    return STANDIN_NAME if path is None else path


def training_body_path(requested: str | Path | None, data_path: Path) -> str | None:
    """The body file to train with (None = the stand-in); raises TrainingError on a mismatch or a bad file."""
    recorded_known, recorded = dataset_body(data_path)
    chosen = _canonical(requested) if requested is not None else recorded
    if recorded_known and requested is not None and chosen != recorded:
        raise TrainingError(f"--body {requested} ({describe(chosen)}) is not the body {data_path} was rendered with "
                            f"({describe(recorded)}); leave --body out to use the dataset's body, or pass "
                            f"--body {recorded or 'standin'}")
    if chosen is not None and not Path(chosen).exists():
        raise TrainingError(f"--body {requested}: no such file; pass an SMPL .pkl/.npz file or folder, or 'standin'")
    return chosen


def load_training_body(body_path: str | None, device):
    """The BodyModel for `body_path` (None = stand-in); an unreadable file becomes a TrainingError."""
    try:
        return load_body_model(body_path, device=device)
    except BodyModelFileError as error:
        raise TrainingError(f"--body: {error}") from error


def make_warp_factory(mode: str, device: torch.device, generator_config: GeneratorConfig,
                      body: BodyModel | None = None, pose_gradient: bool = True):
    """pose [B, 6] -> point_warp of `body` (None: the stand-in), or None when the warp is switched off.

    The fast and exact warps are differentiable in the pose, so G's pose branch also learns from the
    adversarial loss; a warp without that gradient is refused while the branch trains (`pose_gradient`).
    """
    if mode == "none":
        return None
    if pose_gradient and mode not in POSE_GRADIENT_MODES:
        raise TrainingError(f"--warp {mode} carries no gradient to G's pose branch (its field is built without "
                            f"gradients), so the branch could not learn from the images; use --warp "
                            f"{' or '.join(POSE_GRADIENT_MODES)}, or add --freeze-g-pose-branch")
    body = body if body is not None else load_training_body(None, device)
    thickness, box_warp = generator_config.thickness, generator_config.rendering.box_warp
    return lambda pose: make_warp(body, pose, mode=mode, thickness=thickness, box_warp=box_warp)
