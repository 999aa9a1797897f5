"""Named paths: turntable, nod, shake, lookaround and morph, built for a length in seconds."""
from __future__ import annotations

import math
from dataclasses import replace

from core.paths.model import DEFAULT_PSI, CameraKey, CameraPath, Keyframe, LatentKey

PRESET_SECONDS = {"turntable": 6.0, "nod": 3.0, "shake": 3.0, "lookaround": 4.0, "morph": 2.0}
PRESET_NAMES = tuple(PRESET_SECONDS)  # names accepted by `preset_path`
NOD_DEG = 20.0  # total head-and-neck nod (x axis) at the extremes of `nod`
SHAKE_DEG = 30.0  # total head-and-neck turn (y axis) at the extremes of `shake`
LOOKAROUND_DEG = (25.0, 15.0)  # turn and nod amplitudes of the circle traced by `lookaround`
LOOKAROUND_STEPS = 16  # keyframes on the circle: enough that the linear segments read as a curve


def _split_neck_head(axis: int, angle_deg: float, base_pose: tuple[float, ...]) -> tuple[float, ...]:
    """Add `angle_deg` about `axis` (0 nod, 1 turn, 2 tilt), shared equally by neck and head like a person."""
    pose = list(base_pose)
    pose[axis] += angle_deg / 2.0
    pose[3 + axis] += angle_deg / 2.0
    return tuple(pose)


def turntable(seconds: float, camera: CameraKey = CameraKey(), pose_deg=(0.0,) * 6) -> CameraPath:
    """One full turn of the camera (yaw +360, unwrapped) at constant speed; loops seamlessly."""
    start = Keyframe(0.0, camera, tuple(pose_deg))
    end = Keyframe(seconds, replace(camera, yaw_deg=camera.yaw_deg + 360.0), tuple(pose_deg))
    return CameraPath((start, end), loop=True, name="turntable")


def _swing(name: str, axis: int, amplitude_deg: float, seconds: float, camera: CameraKey,
           pose_deg: tuple[float, ...]) -> CameraPath:
    """Rest, one way, the other way, rest: eased so the head slows at each extreme."""
    angles = (0.0, amplitude_deg, -amplitude_deg, 0.0)
    times = (0.0, seconds / 4.0, 3.0 * seconds / 4.0, seconds)
    keys = tuple(Keyframe(time_s, camera, _split_neck_head(axis, angle, pose_deg), easing="ease-in-out")
                 for time_s, angle in zip(times, angles))
    return CameraPath(keys, loop=True, name=name)


def nod(seconds: float, camera: CameraKey = CameraKey(), pose_deg=(0.0,) * 6) -> CameraPath:
    """The head nods down and up (neck and head about x), camera still."""
    return _swing("nod", 0, NOD_DEG, seconds, camera, tuple(pose_deg))


def shake(seconds: float, camera: CameraKey = CameraKey(), pose_deg=(0.0,) * 6) -> CameraPath:
    """The head shakes left and right (neck and head about y), camera still."""
    return _swing("shake", 1, SHAKE_DEG, seconds, camera, tuple(pose_deg))


def lookaround(seconds: float, camera: CameraKey = CameraKey(), pose_deg=(0.0,) * 6) -> CameraPath:
    """The head traces a circle (turn and nod together), camera still."""
    turn_deg, nod_deg = LOOKAROUND_DEG
    keys = []
    for step in range(LOOKAROUND_STEPS + 1):
        angle = 2.0 * math.pi * step / LOOKAROUND_STEPS
        pose = _split_neck_head(1, turn_deg * math.sin(angle), tuple(pose_deg))
        pose = _split_neck_head(0, nod_deg * (1.0 - math.cos(angle)) / 2.0, pose)
        keys.append(Keyframe(seconds * step / LOOKAROUND_STEPS, camera, pose))
    return CameraPath(tuple(keys), loop=True, name="lookaround")


def morph(seeds: tuple[int, ...], seconds_per_seed: float, psi: float = DEFAULT_PSI,
          camera: CameraKey = CameraKey(), pose_deg=(0.0,) * 6) -> CameraPath:
    """Cross-fade in W from each seed to the next and back to the first (eased, loops seamlessly)."""
    if len(seeds) < 2:
        raise ValueError(f"morph needs at least two seeds, got {list(seeds)}")
    ring = tuple(seeds) + (seeds[0],)
    keys = tuple(Keyframe(index * seconds_per_seed, camera, tuple(pose_deg), LatentKey(((seed, 1.0),), psi),
                          easing="ease-in-out") for index, seed in enumerate(ring))
    return CameraPath(keys, loop=True, name="morph")


def preset_path(name: str, seconds: float | None = None, seeds: tuple[int, ...] = (), psi: float = DEFAULT_PSI,
                camera: CameraKey = CameraKey(), pose_deg=(0.0,) * 6) -> CameraPath:
    """The preset `name` lasting `seconds` (default PRESET_SECONDS; for morph, per seed when not given).

    camera and pose_deg are the starting point the motion is added to (a turntable at pitch 10, say).
    """
    if name not in PRESET_SECONDS:
        raise ValueError(f"unknown path preset {name!r}; use one of {', '.join(PRESET_NAMES)} or a .json file")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    if name == "morph":
        per_seed = seconds / len(seeds) if seconds is not None and seeds else PRESET_SECONDS["morph"]
        return morph(tuple(seeds), per_seed, psi, camera, pose_deg)
    builders = {"turntable": turntable, "nod": nod, "shake": shake, "lookaround": lookaround}
    return builders[name](seconds or PRESET_SECONDS[name], camera, pose_deg)
