"""The path file: versioned JSON, read with errors that name the file, the field and the fix; atomic writes.

Format (documented with an example in docs/generate.md): a top-level object with `format`
("portrait-gan-path/1"), optional `name`, `yaw` ("unwrapped" | "shortest"), `loop`, and `keyframes`.
Each keyframe has `time` (seconds from the start) or `duration` (seconds after the previous keyframe),
and optionally `camera` {yaw_deg, pitch_deg, radius, focal | fov_deg, lookat}, `pose` {neck_deg, head_deg},
`latent` {seeds, weights, psi} or {file} (an inverted latent .npz; a relative name is read beside the path
file) and `easing`. A field a keyframe leaves out keeps the previous keyframe's value.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from core.paths.model import (
    DEFAULT_PSI, EASINGS, PATH_FORMAT, YAW_MODES, CameraKey, CameraPath, Keyframe, LatentKey, validate_path,
)

_TOP_FIELDS = ("format", "name", "yaw", "loop", "keyframes")
_KEY_FIELDS = ("time", "duration", "camera", "pose", "latent", "easing")
_CAMERA_FIELDS = ("yaw_deg", "pitch_deg", "radius", "focal", "fov_deg", "lookat")
_POSE_FIELDS = ("neck_deg", "head_deg")
_LATENT_FIELDS = ("seeds", "weights", "psi", "file")


class PathFileError(ValueError):
    """A path file that cannot be used; the message names the file, the problem and what to do."""

    def __init__(self, file: str | os.PathLike, problem: str):
        self.file = Path(file)
        super().__init__(f"{self.file}: {problem} (see docs/generate.md for the path format)")


class _FieldError(ValueError):
    """A problem at a field, before the file name is known to the message."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _FieldError(f"{where} must be a number, got {json.dumps(value)}")
    if not math.isfinite(value):
        raise _FieldError(f"{where} must be finite, got {value}")
    return float(value)


def _numbers(value: Any, count: int, where: str) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) != count:
        raise _FieldError(f"{where} must be a list of {count} numbers, got {json.dumps(value)}")
    return tuple(_number(item, f"{where}[{index}]") for index, item in enumerate(value))


def _object(value: Any, fields: tuple[str, ...], where: str) -> dict:
    if not isinstance(value, dict):
        raise _FieldError(f"{where} must be an object {{...}}, got {json.dumps(value)}")
    unknown = [name for name in value if name not in fields]
    if unknown:
        raise _FieldError(f"{where} has unknown field {unknown[0]!r}; known fields: {', '.join(fields)}")
    return value


def _camera(value: Any, previous: CameraKey, where: str) -> CameraKey:
    fields = _object(value, _CAMERA_FIELDS, where)
    if "focal" in fields and "fov_deg" in fields:
        raise _FieldError(f"{where} gives both focal and fov_deg; keep one")
    camera = previous
    for name in ("yaw_deg", "pitch_deg", "radius", "focal"):
        if name in fields:
            camera = replace(camera, **{name: _number(fields[name], f"{where}.{name}")})
    if "fov_deg" in fields:
        fov = _number(fields["fov_deg"], f"{where}.fov_deg")
        if not 0.0 < fov < 180.0:
            raise _FieldError(f"{where}.fov_deg must lie between 0 and 180 degrees, got {fov}")
        camera = replace(camera, focal=1.0 / (2.0 * math.tan(math.radians(fov) / 2.0)))
    if "lookat" in fields:
        camera = replace(camera, lookat=_numbers(fields["lookat"], 3, f"{where}.lookat"))
    if camera.radius <= 0 or camera.focal <= 0:
        raise _FieldError(f"{where}: radius and focal must be positive")
    return camera


def _pose(value: Any, previous: tuple[float, ...], where: str) -> tuple[float, ...]:
    fields = _object(value, _POSE_FIELDS, where)
    neck = _numbers(fields["neck_deg"], 3, f"{where}.neck_deg") if "neck_deg" in fields else previous[:3]
    head = _numbers(fields["head_deg"], 3, f"{where}.head_deg") if "head_deg" in fields else previous[3:]
    return neck + head


def _latent(value: Any, previous: LatentKey | None, where: str, base_dir: Path | None) -> LatentKey:
    fields = _object(value, _LATENT_FIELDS, where)
    psi = _number(fields["psi"], f"{where}.psi") if "psi" in fields else (previous.psi if previous else DEFAULT_PSI)
    if "file" in fields:  # an inverted latent; a relative name is read beside the path file
        name = fields["file"]
        if not isinstance(name, str) or not name:
            raise _FieldError(f"{where}.file must be the name of a latent .npz file, got {json.dumps(name)}")
        file = Path(name).expanduser()
        if not file.is_absolute() and base_dir is not None:
            file = base_dir / file
        return LatentKey((), psi, file=str(file))
    if "seeds" not in fields:
        if previous is None:
            raise _FieldError(f"{where} is missing 'seeds' (a list of integer seeds) or 'file' (a latent .npz)")
        return LatentKey(previous.seeds, psi, file=previous.file)
    seeds = fields["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 for seed in seeds):
        raise _FieldError(f"{where}.seeds must be a non-empty list of non-negative integers, got {json.dumps(seeds)}")
    if "weights" in fields:
        weights = _numbers(fields["weights"], len(seeds), f"{where}.weights")
    else:
        weights = tuple(1.0 / len(seeds) for _ in seeds)  # equal weights: the average identity in W
    return LatentKey(tuple(zip(seeds, weights)), psi)


def _keyframe(value: Any, index: int, previous: Keyframe | None, base_dir: Path | None = None) -> Keyframe:
    where = f"keyframes[{index}]"
    fields = _object(value, _KEY_FIELDS, where)
    if "time" in fields and "duration" in fields:
        raise _FieldError(f"{where} gives both time and duration; keep one")
    if "time" in fields:
        time_s = _number(fields["time"], f"{where}.time")
    elif "duration" in fields:
        duration = _number(fields["duration"], f"{where}.duration")
        if duration <= 0:
            raise _FieldError(f"{where}.duration must be positive (seconds after the previous keyframe), "
                              f"got {duration}")
        time_s = (previous.time_s if previous else 0.0) + duration
    elif previous is None:
        time_s = 0.0
    else:
        raise _FieldError(f"{where} is missing 'time' (seconds from the start) or 'duration' "
                          f"(seconds after the previous keyframe)")
    if time_s < 0:
        raise _FieldError(f"{where}.time must not be negative, got {time_s}")
    base = previous or Keyframe(time_s=0.0)
    camera = _camera(fields["camera"], base.camera, f"{where}.camera") if "camera" in fields else base.camera
    pose = _pose(fields["pose"], base.pose_deg, f"{where}.pose") if "pose" in fields else base.pose_deg
    latent = _latent(fields["latent"], base.latent, f"{where}.latent", base_dir) if "latent" in fields else base.latent
    easing = fields.get("easing", "linear")
    if easing not in EASINGS:
        raise _FieldError(f"{where}.easing {json.dumps(easing)} is unknown; use one of {', '.join(EASINGS)}")
    return Keyframe(time_s=time_s, camera=camera, pose_deg=pose, latent=latent, easing=easing)


def path_from_dict(data: Any, base_dir: str | os.PathLike | None = None) -> CameraPath:
    """A CameraPath from parsed JSON; raises ValueError naming the field at fault. Relative latent files are
    read from `base_dir` (load_path: the path file's folder)."""
    fields = _object(data, _TOP_FIELDS, "the top level")
    if "format" not in fields:
        raise _FieldError(f"the top level is missing 'format' (expected {PATH_FORMAT!r})")
    if fields["format"] != PATH_FORMAT:
        raise _FieldError(f"format {json.dumps(fields['format'])} is not supported; this version reads {PATH_FORMAT!r}")
    name = fields.get("name", "")
    if not isinstance(name, str):
        raise _FieldError(f"name must be a string, got {json.dumps(name)}")
    yaw_mode = fields.get("yaw", "unwrapped")
    if yaw_mode not in YAW_MODES:
        raise _FieldError(f"yaw {json.dumps(yaw_mode)} is unknown; use one of {', '.join(YAW_MODES)}")
    loop = fields.get("loop", False)
    if not isinstance(loop, bool):
        raise _FieldError(f"loop must be true or false, got {json.dumps(loop)}")
    if "keyframes" not in fields:
        raise _FieldError("the top level is missing 'keyframes' (a list of keyframe objects)")
    raw_keys = fields["keyframes"]
    if not isinstance(raw_keys, list) or not raw_keys:
        raise _FieldError(f"keyframes must be a non-empty list, got {json.dumps(raw_keys)}")
    keys: list[Keyframe] = []
    for index, raw in enumerate(raw_keys):
        keys.append(_keyframe(raw, index, keys[-1] if keys else None, None if base_dir is None else Path(base_dir)))
    path = CameraPath(keyframes=tuple(keys), yaw_mode=yaw_mode, loop=loop, name=name)
    try:
        validate_path(path)
    except ValueError as error:
        raise _FieldError(str(error)) from None
    return path


def path_to_dict(path: CameraPath) -> dict[str, Any]:
    """The JSON object of `path`, every keyframe written out in full with its absolute time."""
    keyframes = []
    for key in path.keyframes:
        entry: dict[str, Any] = {
            "time": key.time_s,
            "camera": {"yaw_deg": key.camera.yaw_deg, "pitch_deg": key.camera.pitch_deg,
                       "radius": key.camera.radius, "focal": key.camera.focal, "lookat": list(key.camera.lookat)},
            "pose": {"neck_deg": list(key.pose_deg[:3]), "head_deg": list(key.pose_deg[3:])},
            "easing": key.easing,
        }
        if key.latent is not None and key.latent.file is not None:
            entry["latent"] = {"file": key.latent.file, "psi": key.latent.psi}
        elif key.latent is not None:
            entry["latent"] = {"seeds": [seed for seed, _ in key.latent.seeds],
                               "weights": [weight for _, weight in key.latent.seeds], "psi": key.latent.psi}
        keyframes.append(entry)
    return {"format": PATH_FORMAT, "name": path.name, "yaw": path.yaw_mode, "loop": path.loop,
            "keyframes": keyframes}


def load_path(file: str | os.PathLike) -> CameraPath:
    """Read a path file; every problem raises PathFileError naming the file and the field."""
    file = Path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PathFileError(file, "no such file; give an existing .json path file or a preset name") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PathFileError(file, f"cannot be read as UTF-8 text ({error})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PathFileError(file, f"is not valid JSON "
                                  f"(line {error.lineno}, column {error.colno}: {error.msg})") from None
    try:
        return path_from_dict(data, file.parent)
    except ValueError as error:
        raise PathFileError(file, str(error)) from None


def save_path(path: CameraPath, file: str | os.PathLike) -> Path:
    """Write `path` as JSON atomically (temporary file, then rename); returns the file."""
    validate_path(path)
    file = Path(file)
    write_atomic(file, json.dumps(path_to_dict(path), indent=1) + "\n")
    return file
