"""The render worker's errors as data: `RenderError` for requests that cannot be rendered, and
`describe_error`, the one line the GUI shows for any failure of a render or a job."""
from __future__ import annotations

import traceback
from pathlib import Path

import torch

from core.body import BodyModelFileError
from core.checkpoint import CheckpointError
from core.invert.latent_file import LatentFileError
from core.rendering.volume import RaysCancelled


class RenderError(Exception):
    """A request that cannot be rendered, with a message for the user that says what to change."""


def describe_error(error: BaseException) -> str:
    """One message for the user: checkpoint and request errors as they are, others with where they happened."""
    if isinstance(error, (RenderError, CheckpointError, BodyModelFileError, LatentFileError)):
        return str(error)
    if isinstance(error, RaysCancelled):
        return f"superseded by a newer request ({error})"
    if is_out_of_memory(error):
        return f"out of memory while rendering ({error}); lower the neural resolution or samples, or use preview"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def is_out_of_memory(error: BaseException) -> bool:
    """True for the device's or the host's out-of-memory errors (the renderer then drops its cached tensors)."""
    return isinstance(error, (torch.OutOfMemoryError, MemoryError))
