"""The companion .json of a released checkpoint: the settings of pose prediction with the discriminator.

Released files come in pairs (`3DPortraitGAN512-128.pkl` + `3DPortraitGAN512-128.json`); training snapshots
pair `network-snapshot-NNNNNN.pkl` with `pose_predict_kwargs-NNNNNN.json` (reference-spec.md §8), and some
reference scripts look for `<name>-pose_predict_kwargs.json` instead.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

from core.checkpoint import CheckpointError


@dataclass(frozen=True)
class PosePredictionSettings:
    """How a real image is prepared before the discriminator predicts its body pose."""

    blur_sigma: float  # Gaussian blur sigma in pixels applied to image and mask (0 after the blur fade)
    neural_rendering_resolution: int  # image and mask are resized to this before prediction
    resample_filter: tuple[tuple[float, ...], ...]  # 4x4 low-pass filter used by the resize
    filter_mode: str  # resize mode, "antialiased" in the released files

    def to_dict(self) -> dict:
        """Plain values for metadata and JSON."""
        return {
            "blur_sigma": self.blur_sigma,
            "neural_rendering_resolution": self.neural_rendering_resolution,
            "resample_filter": [list(row) for row in self.resample_filter],
            "filter_mode": self.filter_mode,
        }


def companion_json_path(pkl_path: str | os.PathLike) -> Path | None:
    """The companion .json next to a released pickle, or None when there is none."""
    pkl_path = Path(pkl_path)
    candidates = [pkl_path.with_suffix(".json"), pkl_path.with_name(pkl_path.stem + "-pose_predict_kwargs.json")]
    if pkl_path.stem.startswith("network-snapshot-"):
        snapshot = pkl_path.stem.replace("network-snapshot-", "pose_predict_kwargs-")
        candidates.append(pkl_path.with_name(snapshot + ".json"))
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def read_companion_json(path: str | os.PathLike) -> PosePredictionSettings:
    """Parse and check a companion .json; problems raise CheckpointError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(path, f"the companion .json cannot be read ({error}); download it again") from None
    if not isinstance(data, dict):
        raise CheckpointError(path, "the companion .json must hold an object (blur_sigma, neural_rendering_resolution)")
    missing = [key for key in ("blur_sigma", "neural_rendering_resolution") if key not in data]
    if missing:
        raise CheckpointError(path, f"the companion .json lacks {', '.join(missing)}")
    blur_sigma = data["blur_sigma"]
    resolution = data["neural_rendering_resolution"]
    if not isinstance(blur_sigma, (int, float)) or not math.isfinite(blur_sigma) or blur_sigma < 0:
        raise CheckpointError(path, f"blur_sigma must be a non-negative number, not {blur_sigma!r}")
    if isinstance(resolution, float) and resolution.is_integer():
        resolution = int(resolution)
    if not isinstance(resolution, int) or isinstance(resolution, bool) or resolution <= 0:
        raise CheckpointError(path, f"neural_rendering_resolution must be a positive integer, not {resolution!r}")
    rows = data.get("resample_filter", _default_filter())
    if not (isinstance(rows, list) and len(rows) == 4 and all(isinstance(row, list) and len(row) == 4 for row in rows)):
        raise CheckpointError(path, "resample_filter must be a 4x4 list of numbers")
    return PosePredictionSettings(
        blur_sigma=float(blur_sigma),
        neural_rendering_resolution=resolution,
        resample_filter=tuple(tuple(float(value) for value in row) for row in rows),
        filter_mode=str(data.get("filter_mode", "antialiased")),
    )


def _default_filter() -> list[list[float]]:
    """The normalised outer product of [1, 3, 3, 1], what the reference writes."""
    taps = [1.0, 3.0, 3.0, 1.0]
    return [[a * b / 64.0 for b in taps] for a in taps]
