"""Atomic file writes: a reader sees the old file or the complete new one, never half of it.

Everything is written to a temporary file beside the target and renamed onto it only when the writer
finished; on any error the temporary file is removed and the old file stays. Imports only the standard
library, so the GUI process uses it too.
"""
from __future__ import annotations

import glob
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

# A partial file this old belongs to a writer that was killed (SIGKILL leaves it behind); the next write of the
# same target removes it.
STALE_PARTIAL_S = 600.0


def temporary_beside(path: str | os.PathLike) -> Path:
    """A fresh `.<stem>.*.partial<suffix>` file in the target's folder (same suffix: writers choose formats by
    it), after removing stale partial files of the same target."""
    path = Path(path)
    now = time.time()
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.*.partial{glob.escape(path.suffix)}"):
        try:
            if now - stale.stat().st_mtime > STALE_PARTIAL_S:
                stale.unlink()
        except OSError:  # another process removed or still holds it: not ours to insist on
            pass
    handle, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(handle)
    return Path(name)


@contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same suffix, for writers that pick a format by name);
    when the block ends without an error it is renamed onto `path`, else removed."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(path)
    try:
        yield temporary
        # mkstemp makes owner-only files; the result should be readable like any file the user writes.
        os.chmod(temporary, 0o666 & ~_current_umask())
        if durable:
            _fsync(temporary, os.O_RDONLY)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        _fsync(path.parent, os.O_RDONLY)


@contextmanager
def atomic_output(path: str | os.PathLike, mode: str = "wb", durable: bool = True) -> Iterator[IO]:
    """An open stream (`mode` "wb" or "w") whose content replaces `path` atomically when the block ends."""
    with atomic_path(path, durable=durable) as temporary:
        with open(temporary, mode) as stream:
            yield stream


def write_atomic(path: str | os.PathLike, data: bytes | str, durable: bool = True) -> Path:
    """Write `data` (bytes, or text as UTF-8) to `path` atomically; returns the path."""
    with atomic_output(path, "wb", durable=durable) as stream:
        stream.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path).expanduser()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path, flags: int) -> None:
    """Flush a file or directory to disk (best effort: not every platform can open a directory)."""
    try:
        handle = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
