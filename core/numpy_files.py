"""Reading .npy/.npz files from any thread: numpy parses each array header with `ast.literal_eval`, and the ast
module of CPython 3.11 keeps its recursion counter in state shared by all threads, so two threads parsing at once
can fail with "SystemError: AST constructor recursion depth mismatch" (seen when the renderer's warp-fields thread
read the body file while a latent file was loaded). Every project read of a numpy file goes through this lock.
"""
from __future__ import annotations

import os
import threading
from typing import BinaryIO, Union

import numpy as np

Source = Union[str, os.PathLike, BinaryIO]
_HEADER_LOCK = threading.Lock()  # one numpy header parse at a time in this process


def read_npz(source: Source) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, read eagerly (the headers are parsed under the lock); never unpickles."""
    with _HEADER_LOCK, np.load(source, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def read_npy(source: Source) -> np.ndarray:
    """The array of an .npy file; never unpickles."""
    with _HEADER_LOCK:
        return np.load(source, allow_pickle=False)
