"""The inverted-latent file: ws of one identity with the camera and body pose it was found at (no torch).

A `.npz` (read with allow_pickle=False: loading never runs code) that the viewer (`RenderRequest.latent_file`,
the Latent panel, the state file), keyframe paths (`"latent": {"file": ...}`) and `core.generate --latent`
accept in place of seeds. Arrays:
- `format`: "portrait-latent/1"
- `ws`: float32 [num_ws, w_dim], the per-layer latents (W inversion repeats one w)
- `yaw_pitch_deg`: float32 [2], the camera the photo was matched at (core.camera.orbit_camera convention)
- `pose_deg`: float32 [6], neck xyz and head xyz in degrees
- `checkpoint`: the model file it was found with (the fine-tuned one when there is one)
"""
from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.atomic import write_atomic
from core.numpy_files import read_npz

LATENT_FORMAT = "portrait-latent/1"
LATENT_SUFFIX = ".npz"


class LatentFileError(ValueError):
    """A latent file that cannot be used; the message names the file and the fix."""


@dataclass(frozen=True, eq=False)
class InvertedLatent:
    """The contents of a latent file."""

    ws: np.ndarray  # float32 [num_ws, w_dim]
    yaw_deg: float
    pitch_deg: float
    pose_deg: tuple[float, ...]  # 6 values
    checkpoint: str

    def check_model(self, num_ws: int, w_dim: int, where: str) -> None:
        """Raise LatentFileError unless the ws fit a model with `num_ws` latents of `w_dim` numbers."""
        if self.ws.shape != (num_ws, w_dim):
            raise LatentFileError(f"{where}: its ws are {self.ws.shape[0]}x{self.ws.shape[1]} but this model takes "
                                  f"{num_ws}x{w_dim}; it was inverted with {self.checkpoint}: open that model")


def save_latent(path: str | os.PathLike, latent: InvertedLatent) -> Path:
    """Write `latent` atomically to `path` (.npz)."""
    path = Path(path)
    if path.suffix.lower() != LATENT_SUFFIX:
        raise LatentFileError(f"{path}: a latent file must end in {LATENT_SUFFIX}")
    buffer = io.BytesIO()
    np.savez(buffer, format=np.array(LATENT_FORMAT), ws=np.asarray(latent.ws, dtype=np.float32),
             yaw_pitch_deg=np.array([latent.yaw_deg, latent.pitch_deg], dtype=np.float32),
             pose_deg=np.asarray(latent.pose_deg, dtype=np.float32), checkpoint=np.array(str(latent.checkpoint)))
    return write_atomic(path, buffer.getvalue())


def load_latent(path: str | os.PathLike) -> InvertedLatent:
    """Read and check a latent file; LatentFileError names the file and what is wrong."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise LatentFileError(f"{path}: no such latent file (python -m core.invert writes one as latent.npz)")
    try:
        values = read_npz(path)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise LatentFileError(f"{path}: not a latent file ({error})") from None
    if str(values.get("format", "")) != LATENT_FORMAT:
        raise LatentFileError(f"{path}: not a latent file (format {str(values.get('format', 'missing'))!r}, "
                              f"expected {LATENT_FORMAT!r})")
    try:
        ws = np.asarray(values["ws"], dtype=np.float32)
        yaw, pitch = (float(value) for value in values["yaw_pitch_deg"])
        pose = tuple(float(value) for value in values["pose_deg"])
        checkpoint = str(values["checkpoint"])
    except (KeyError, ValueError, TypeError) as error:
        raise LatentFileError(f"{path}: the latent file is incomplete ({error})") from None
    if ws.ndim != 2 or len(pose) != 6 or not np.isfinite(ws).all():
        raise LatentFileError(f"{path}: the latent file holds ws of shape {ws.shape} and {len(pose)} pose values; "
                              "expected [num_ws, w_dim] finite numbers and 6 pose values")
    return InvertedLatent(ws, yaw, pitch, pose, checkpoint)


def file_signature(path: str | os.PathLike) -> tuple[str, int, int]:
    """(resolved path, modification time in ns, size): a cache key that changes when the file is rewritten."""
    resolved = Path(path).expanduser().resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return (str(resolved), 0, -1)
    return (str(resolved), stat.st_mtime_ns, stat.st_size)
