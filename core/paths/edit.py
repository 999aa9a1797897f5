"""Editing paths as values (for the GUI's keyframe recorder): insert, remove and retime keyframes."""
from __future__ import annotations

from dataclasses import replace

from core.paths.model import CameraPath, Keyframe, validate_path


def insert_keyframe(path: CameraPath | None, keyframe: Keyframe) -> CameraPath:
    """A path with `keyframe` added at its time; one already at that time is replaced. None starts a path."""
    if path is None:
        return CameraPath((replace(keyframe, time_s=0.0),))
    kept = [key for key in path.keyframes if key.time_s != keyframe.time_s]
    keys = tuple(sorted(kept + [keyframe], key=lambda key: key.time_s))
    result = replace(path, keyframes=keys)
    validate_path(result)
    return result


def append_keyframe(path: CameraPath | None, keyframe: Keyframe, duration_s: float) -> CameraPath:
    """A path with `keyframe` placed `duration_s` seconds after the last one (the recorder's "add" button)."""
    if duration_s <= 0:
        raise ValueError(f"a keyframe must come a positive time after the previous one, got {duration_s} s")
    if path is None:
        return insert_keyframe(None, keyframe)
    return insert_keyframe(path, replace(keyframe, time_s=path.duration_s + duration_s))


def remove_keyframe(path: CameraPath, index: int) -> CameraPath | None:
    """A path without keyframe `index`; removing the first shifts the rest to start at 0. None when empty."""
    keys = list(path.keyframes)
    if not -len(keys) <= index < len(keys):
        raise IndexError(f"keyframe {index} does not exist; the path has {len(keys)}")
    del keys[index]
    if not keys:
        return None
    start = keys[0].time_s
    return replace(path, keyframes=tuple(replace(key, time_s=key.time_s - start) for key in keys))


def retime(path: CameraPath, seconds: float) -> CameraPath:
    """The same motion stretched or squeezed to last `seconds`."""
    if seconds <= 0:
        raise ValueError(f"a path must last a positive time, got {seconds} s")
    if path.duration_s == 0:
        raise ValueError("a single-keyframe path has no duration to stretch")
    scale = seconds / path.duration_s
    keys = tuple(replace(key, time_s=key.time_s * scale) for key in path.keyframes)
    return replace(path, keyframes=keys[:-1] + (replace(keys[-1], time_s=float(seconds)),))
