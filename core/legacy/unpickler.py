"""A restricted unpickler for the released 3DPortraitGAN / EG3D network pickles.

Nothing in the file is imported or executed. Every global the stream asks for is looked up in an
allow-list: tensor and storage rebuilders map to this package's CPU re-implementations, persistence records
(`torch_utils.persistence._reconstruct_persistent_obj`, whose embedded `module_src` the original loader would
`exec`) become inert records, and classes of the reference code base, smplx and torch.nn containers pickled by
reference become inert stand-in classes. Any other global is refused with a message naming it.
"""
from __future__ import annotations

import builtins
import collections
import contextlib
import io
import zipfile
import os
import pickle
from pathlib import Path
from typing import Any, BinaryIO, Callable

import numpy as np
import torch
from tqdm import tqdm

from core.checkpoint import CheckpointError
from core.legacy.records import AttributeDict, InertRecord, LegacyFormatProblem, persistent_record, stand_in_class
from core.legacy.storage import load_storage_blob, rebuild_tensor

# Packages whose classes are replaced by inert stand-ins (never imported): the reference code, smplx, torch.nn.
INERT_CLASS_PACKAGES = ("training.", "smplx.", "torch.nn.modules.")
# Protocol 2 streams use Python 2 module names, which pickle's own find_class would translate.
PYTHON2_MODULE_NAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}
TORCH_DTYPE_NAMES = (
    "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool",
    "float", "double", "half", "long", "int", "short", "complex64", "complex128",
)


class _TensorTypeMarker:
    """Stands for `torch.Tensor` / `torch.nn.parameter.Parameter` in `_rebuild_from_type_v2` records."""


def _rebuild_parameter(data: Any, requires_grad: Any = False, *_hooks_and_state: Any) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise LegacyFormatProblem("a parameter record does not hold a tensor")
    return data


def _rebuild_tensor_v1(storage: Any, offset: Any, size: Any, stride: Any) -> torch.Tensor:
    return rebuild_tensor(storage, offset, size, stride)


def _rebuild_from_type(function: Any, tensor_type: Any, args: Any, _state: Any = None) -> torch.Tensor:
    # The function must be one of our own rebuilders (it was resolved through this allow-list).
    if function not in (rebuild_tensor, _rebuild_parameter, _rebuild_tensor_v1) or not isinstance(args, tuple):
        raise LegacyFormatProblem("a typed tensor record names an unexpected rebuild function")
    return function(*args)


def _numpy_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    if subtype is not np.ndarray:
        raise LegacyFormatProblem(f"refused numpy array subclass {subtype!r}")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise LegacyFormatProblem("refused a numpy scalar record of object type")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _device(*args: Any) -> str:
    # Devices stay descriptive text: everything is rebuilt on the CPU anyway.
    return ":".join(str(part) for part in args)


def _latin1_bytes(text: Any, encoding: Any = "latin1") -> bytes:
    # Protocol 2 writes bytes as _codecs.encode(text, "latin1"); nothing else is accepted.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise LegacyFormatProblem("refused _codecs.encode other than the latin-1 form of pickled bytes")
    return text.encode("latin-1")


def _copyreg_reconstructor(cls: Any, base: Any, state: Any = None) -> Any:
    if isinstance(cls, type) and issubclass(cls, (InertRecord, AttributeDict)):
        return cls.__new__(cls)
    raise LegacyFormatProblem(f"refused copyreg reconstruction of {cls!r}")


EXACT_GLOBALS: dict[str, Callable[..., Any] | type | object] = {
    "torch_utils.persistence._reconstruct_persistent_obj": persistent_record,
    "torch._utils._rebuild_tensor_v2": rebuild_tensor,
    "torch._utils._rebuild_tensor": _rebuild_tensor_v1,
    "torch._utils._rebuild_parameter": _rebuild_parameter,
    "torch._utils._rebuild_parameter_with_state": _rebuild_parameter,
    "torch._tensor._rebuild_from_type_v2": _rebuild_from_type,
    "torch.Tensor": _TensorTypeMarker,
    "torch.nn.parameter.Parameter": _TensorTypeMarker,
    "torch.storage._load_from_bytes": load_storage_blob,
    "torch.device": _device,
    "torch.Size": tuple,
    "collections.OrderedDict": collections.OrderedDict,
    "builtins.set": builtins.set,
    "builtins.frozenset": builtins.frozenset,
    "copyreg._reconstructor": _copyreg_reconstructor,
    "_codecs.encode": _latin1_bytes,
    "numpy.ndarray": np.ndarray,
    "numpy.dtype": np.dtype,
    "numpy.core.multiarray._reconstruct": _numpy_reconstruct,
    "numpy._core.multiarray._reconstruct": _numpy_reconstruct,
    "numpy.core.multiarray.scalar": _numpy_scalar,
    "numpy._core.multiarray.scalar": _numpy_scalar,
    "dnnlib.util.EasyDict": AttributeDict,
    "dnnlib.EasyDict": AttributeDict,
    **{f"torch.{name}": getattr(torch, name) for name in TORCH_DTYPE_NAMES},
}


class ReleasedPickleUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose globals come only from EXACT_GLOBALS or inert stand-in classes."""

    def __init__(self, stream: BinaryIO):
        super().__init__(stream)
        self._stand_ins: dict[str, type[InertRecord]] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = PYTHON2_MODULE_NAMES.get(module, module)
        qualified = f"{module}.{name}"
        if qualified in EXACT_GLOBALS:
            return EXACT_GLOBALS[qualified]
        if qualified.startswith(INERT_CLASS_PACKAGES) and name.isidentifier() and name[:1].isupper():
            if qualified not in self._stand_ins:
                self._stand_ins[qualified] = stand_in_class(qualified)
            return self._stand_ins[qualified]
        raise LegacyFormatProblem(
            f"refused global {qualified}: released network pickles never need it, so the file may be "
            "malicious or not a 3DPortraitGAN/EG3D network pickle"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise LegacyFormatProblem(f"unexpected persistent id {pid!r:.80} (network pickles use none)")


def unpickle_released(stream: BinaryIO) -> Any:
    """The object in a released-pickle stream, with inert records in place of the file's classes."""
    return ReleasedPickleUnpickler(stream).load()


def read_released_pickle(path: str | os.PathLike, progress: bool = False) -> dict[str, Any]:
    """The top-level dict of a released network pickle {training_set_kwargs, G, D, G_ema, D_ema, augment_pipe}.

    Raises CheckpointError naming `path` for a missing, truncated, corrupt or refused file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file; give the path of a released 3DPortraitGAN .pkl")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(path, "the file is empty (an interrupted download?)")
    if zipfile.is_zipfile(path):  # torch's zip format: one of this project's .pt files, not a released pickle
        raise CheckpointError(path, "is a checkpoint in this project's .pt format, not a released .pkl; it needs no "
                                    f"import: open it directly (python visualizer.py {path})")
    try:
        with open(path, "rb") as raw, _progress_bar(size, path.name, progress) as bar:
            stream = io.BufferedReader(_CountingReader(raw, bar), 1 << 20) if bar is not None else raw
            data = unpickle_released(stream)
    except LegacyFormatProblem as problem:
        raise CheckpointError(path, str(problem)) from None
    except Exception as error:  # a damaged stream can fail in many ways inside pickle; all mean the same here
        raise CheckpointError(
            path, f"the file is truncated or corrupt ({type(error).__name__}: {str(error)[:160]}); download it again"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("G_ema"), InertRecord):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            path, f"not a 3DPortraitGAN/EG3D network pickle (found {keys}, expected a dict with G_ema)"
        )
    return data


def _progress_bar(size: int, label: str, enabled: bool):
    """A tqdm bar in bytes (closed on exit), or a null context yielding None when progress is off."""
    if not enabled:
        return contextlib.nullcontext(None)
    return tqdm(total=size, unit="B", unit_scale=True, desc=f"reading {label}")


class _CountingReader(io.RawIOBase):
    """A read-only stream over `raw` that advances `bar` by the bytes read."""

    def __init__(self, raw: BinaryIO, bar: Any):
        super().__init__()
        self.raw, self.bar = raw, bar

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer) or 0
        self.bar.update(count)
        return count
