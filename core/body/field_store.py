"""The fast warp's canonical fields on disk: built once per body and settings (seconds on a CPU), then read back in
milliseconds by every later process (viewer, render worker, training, tests).

Files live in `user_cache_dir()/warp-fields`, named by a hash of everything the fields depend on (the body's
arrays, thickness, box, resolution and FORMAT), written atomically and read without unpickling. A file that is
missing, foreign or damaged is rebuilt; a cache folder that cannot be written only costs the rebuild next time.
"""
from __future__ import annotations

import hashlib
import io
import logging

import numpy as np
import torch

from core.atomic import write_atomic
from core.numpy_files import read_npz
from core.shipped import user_cache_dir

FORMAT = 2  # bump when the fields' layout or the way they are built changes
KEPT_FILES = 8  # the most recently used files kept (~9 MB each); older bodies and settings are rebuilt if needed
STORED = ("groups_at_images", "bounds", "candidates")  # the arrays worth keeping; the rest is rebuilt cheaply
_log = logging.getLogger(__name__)


def fields_key(body, thickness: float, box_warp: float, resolution: int, build: tuple = ()) -> str:
    """A name for the fields of this body and these settings: equal inputs, equal name. `build`: the builder's own
    constants (margins, tolerances), so that a changed builder never reads an old file."""
    settings = f"{FORMAT}|{float(thickness)!r}|{float(box_warp)!r}|{int(resolution)}|{build!r}"
    digest = hashlib.sha256(settings.encode())
    for array in (body.canonical_vertices, body.faces, body.skinning_weights, body.neck_head_posedirs, body.parents):
        digest.update(array.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def fields_path(key: str):
    return user_cache_dir() / "warp-fields" / f"{key}.npz"


def load_stored(key: str, shapes: dict[str, tuple], device: torch.device) -> dict[str, torch.Tensor] | None:
    """The stored arrays of `key` on `device`, or None when there is no usable file (wrong shapes count as none)."""
    path = fields_path(key)
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path)
        stored = {name: torch.from_numpy(arrays[name]).to(device) for name in STORED}
    except Exception as error:  # noqa: BLE001 - a damaged cache file is rebuilt, never fatal
        _log.warning("%s: unreadable warp-field cache (%s); rebuilding it", path, error)
        return None
    if any(tuple(stored[name].shape) != shapes[name] for name in STORED):
        _log.warning("%s: warp-field cache of another shape; rebuilding it", path)
        return None
    try:
        path.touch()  # recently used: kept when the folder is trimmed
    except OSError:
        pass
    return stored


def save_stored(key: str, fields) -> None:
    """Write the fields' arrays for the next process; failures (read-only home, full disk) are only logged."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: getattr(fields, name).detach().cpu().numpy() for name in STORED})
    try:
        write_atomic(fields_path(key), buffer.getvalue(), durable=False)
        _trim(fields_path(key).parent)
    except OSError as error:
        _log.warning("could not keep the warp fields in %s (%s): they will be built again", fields_path(key), error)


def _trim(folder) -> None:
    """Remove all but the KEPT_FILES most recently used field files (bodies and builders change over time)."""
    def used(path):
        try:
            return path.stat().st_mtime
        except OSError:  # removed by another process meanwhile
            return 0.0

    for stale in sorted(folder.glob("*.npz"), key=used, reverse=True)[KEPT_FILES:]:
        stale.unlink(missing_ok=True)
