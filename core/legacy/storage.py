"""Tensor storages inside a released pickle, rebuilt on the CPU without torch's general unpickler.

When a tensor is pickled with plain `pickle`, its storage becomes `torch.storage._load_from_bytes(blob)`,
where `blob` is a small legacy (non-zip) `torch.save` stream: four pickles (magic number, protocol version,
system info, the storage as a persistent id naming its type and device, e.g. `torch.cuda.FloatStorage` on
`cuda:0`), a pickled list of storage keys, then per key an int64 element count and the raw little-endian bytes.
This module reads that stream with an unpickler that knows only storage types, so CUDA-tagged storages load
on a machine without CUDA and nothing else can be constructed.
"""
from __future__ import annotations

import io
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import Any

import torch

from core.legacy.records import LegacyFormatProblem

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization's marker of the legacy format
LEGACY_PROTOCOL_VERSION = 1001

STORAGE_DTYPES = {
    "FloatStorage": torch.float32,
    "DoubleStorage": torch.float64,
    "HalfStorage": torch.float16,
    "BFloat16Storage": torch.bfloat16,
    "LongStorage": torch.int64,
    "IntStorage": torch.int32,
    "ShortStorage": torch.int16,
    "CharStorage": torch.int8,
    "ByteStorage": torch.uint8,
    "BoolStorage": torch.bool,
    "ComplexFloatStorage": torch.complex64,
    "ComplexDoubleStorage": torch.complex128,
}
STORAGE_MODULES = ("torch", "torch.cuda")  # CPU and CUDA storage classes; both are rebuilt on the CPU


@dataclass(frozen=True)
class StorageType:
    """The element type named by a pickled storage class such as `torch.cuda.FloatStorage`."""

    qualified_name: str  # as written in the file, e.g. torch.cuda.HalfStorage
    dtype: torch.dtype  # element type of the rebuilt CPU tensor


class _StorageStreamUnpickler(pickle.Unpickler):
    """Reads one pickle of a legacy storage stream: only storage classes resolve, ids become placeholders."""

    def __init__(self, stream: io.BytesIO):
        super().__init__(stream)
        self.declared: dict[str, tuple[StorageType, int, Any]] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module in STORAGE_MODULES and name in STORAGE_DTYPES:
            return StorageType(f"{module}.{name}", STORAGE_DTYPES[name])
        raise LegacyFormatProblem(f"refused global {module}.{name} inside a tensor storage record")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage" and isinstance(pid[1], StorageType)):
            raise LegacyFormatProblem(f"unexpected persistent id in a tensor storage record: {pid!r:.120}")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(key, str) or not isinstance(numel, int) or numel < 0:
            raise LegacyFormatProblem(f"malformed storage id {pid!r:.120}")
        self.declared[key] = (storage_type, numel, view)
        return _PendingStorage(key, view)


@dataclass(frozen=True)
class _PendingStorage:
    key: str  # the storage whose bytes follow the pickles
    view: Any  # None, or (view key, element offset, element count) of a view into the storage


def load_storage_blob(blob: bytes) -> torch.Tensor:
    """The storage serialised in `blob` as a 1-D CPU tensor of its element type."""
    if not isinstance(blob, (bytes, bytearray)):
        raise LegacyFormatProblem(f"storage record holds {type(blob).__name__}, not bytes")
    if zipfile.is_zipfile(io.BytesIO(blob)):
        return _load_zip_storage(bytes(blob))
    stream = io.BytesIO(blob)
    try:
        if _read_plain(stream) != LEGACY_MAGIC_NUMBER:
            raise LegacyFormatProblem("a tensor storage record lacks torch's legacy magic number")
        if _read_plain(stream) != LEGACY_PROTOCOL_VERSION:
            raise LegacyFormatProblem("a tensor storage record has an unknown protocol version")
        system_info = _read_plain(stream)
        if isinstance(system_info, dict) and not system_info.get("little_endian", True):
            raise LegacyFormatProblem("a tensor storage record was written on a big-endian machine (unsupported)")
        unpickler = _StorageStreamUnpickler(stream)
        pending = unpickler.load()
        keys = _read_plain(stream)
    except (EOFError, pickle.UnpicklingError, ValueError, struct.error) as error:
        raise LegacyFormatProblem(f"a tensor storage record is truncated or corrupt ({error})") from None
    if not isinstance(pending, _PendingStorage) or not isinstance(keys, list):
        raise LegacyFormatProblem("a tensor storage record does not hold a storage")
    storages = {key: _read_raw(stream, *unpickler.declared[key][:2]) for key in keys if key in unpickler.declared}
    if pending.key not in storages:
        raise LegacyFormatProblem(f"a tensor storage record lacks the data of storage {pending.key!r}")
    if pending.view is None:
        return storages[pending.key]
    view_key, offset, count = pending.view
    root = storages[pending.key]
    if not (isinstance(offset, int) and isinstance(count, int) and 0 <= offset and offset + count <= root.numel()):
        raise LegacyFormatProblem(f"storage view {view_key!r} lies outside its storage")
    return root[offset : offset + count]


def _read_plain(stream: io.BytesIO) -> Any:
    """One pickle that may hold only plain values (numbers, strings, lists, dicts)."""
    return _PlainUnpickler(stream).load()


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise LegacyFormatProblem(f"refused global {module}.{name} inside a tensor storage header")


def _read_raw(stream: io.BytesIO, storage_type: StorageType, numel: int) -> torch.Tensor:
    header = stream.read(8)
    if len(header) != 8:
        raise LegacyFormatProblem("tensor data ended early (truncated storage record)")
    (stored_numel,) = struct.unpack("<q", header)
    if stored_numel != numel:
        raise LegacyFormatProblem(f"storage declares {numel} elements but holds {stored_numel}")
    item_size = torch.empty((), dtype=storage_type.dtype).element_size()
    data = stream.read(numel * item_size)
    if len(data) != numel * item_size:
        raise LegacyFormatProblem("tensor data ended early (truncated storage record)")
    if numel == 0:
        return torch.empty(0, dtype=storage_type.dtype)
    return torch.frombuffer(bytearray(data), dtype=storage_type.dtype)


def _load_zip_storage(blob: bytes) -> torch.Tensor:
    """Newer writers may store the storage as a zip archive; torch's weights-only loader reads those safely."""
    try:
        storage = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for refused or corrupt archives
        raise LegacyFormatProblem(f"a zip tensor storage record could not be read ({str(error)[:200]})") from None
    if not isinstance(storage, torch.TypedStorage):
        raise LegacyFormatProblem("a zip tensor storage record does not hold a storage")
    return torch.empty(0, dtype=storage.dtype).set_(storage)


def rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_ignored: Any) -> torch.Tensor:
    """Stand-in for `torch._utils._rebuild_tensor_v2`: a strided view of a CPU storage, bounds-checked."""
    if not isinstance(storage, torch.Tensor) or storage.dim() != 1:
        raise LegacyFormatProblem("a tensor record does not refer to a storage")
    size, stride = tuple(size), tuple(stride)
    if not (isinstance(offset, int) and len(size) == len(stride) and all(isinstance(v, int) for v in size + stride)):
        raise LegacyFormatProblem(f"malformed tensor record (offset {offset!r}, size {size!r}, stride {stride!r})")
    if any(v < 0 for v in size + stride) or offset < 0:
        raise LegacyFormatProblem(f"negative size or stride in a tensor record ({size}, {stride})")
    last = offset + sum((extent - 1) * step for extent, step in zip(size, stride))
    if all(extent > 0 for extent in size) and last >= storage.numel():
        raise LegacyFormatProblem(f"tensor of size {size} reaches past its storage of {storage.numel()} elements")
    if any(extent == 0 for extent in size):
        return torch.empty(size, dtype=storage.dtype)
    return storage.as_strided(size, stride, offset)
