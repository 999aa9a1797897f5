"""Evaluate a path at a time: easing, yaw that goes the long or the short way, seed weights that cross-fade."""
from __future__ import annotations

import bisect

from core.budget import MAX_VIDEO_FRAMES, BudgetError
from core.paths.model import CameraKey, CameraPath, FrameState, Keyframe, LatentKey, validate_path


def ease(name: str, progress: float) -> float:
    """Eased fraction of a segment for `progress` in [0, 1]; 0 and 1 map to themselves."""
    u = min(max(progress, 0.0), 1.0)
    if name == "linear":
        return u
    if name == "ease-in":
        return u * u
    if name == "ease-out":
        return 1.0 - (1.0 - u) * (1.0 - u)
    if name == "ease-in-out":
        return u * u * (3.0 - 2.0 * u)  # smoothstep: zero speed at both ends
    if name == "step":
        return 1.0 if u >= 1.0 else 0.0  # hold the previous keyframe until this one is reached
    raise ValueError(f"unknown easing {name!r}")


def _lerp(start: float, end: float, fraction: float) -> float:
    # Exact at both ends, so a frame on a keyframe reproduces the keyframe's numbers bit for bit.
    if fraction == 0.0:
        return start
    if fraction == 1.0:
        return end
    return start + (end - start) * fraction


def _yaw(start: float, end: float, fraction: float, yaw_mode: str) -> float:
    if yaw_mode == "shortest":
        turn = (end - start + 180.0) % 360.0 - 180.0  # the signed difference in [-180, 180)
        return start + turn * fraction if fraction < 1.0 else start + turn
    return _lerp(start, end, fraction)


def _blend_latents(start: LatentKey | None, end: LatentKey | None, fraction: float) -> LatentKey | None:
    """Seed weights cross-fade linearly (a straight line in W around w_avg); psi is interpolated too. A latent
    file cannot be cross-faded with seeds or another file here: the segment cuts at its middle."""
    if start is None or end is None:
        return None
    if fraction == 0.0:
        return start
    if fraction == 1.0:
        return end
    if start.file is not None or end.file is not None:
        return start if fraction < 0.5 else end
    weights: dict[int, float] = {}
    for seed, weight in start.seeds:
        weights[seed] = weights.get(seed, 0.0) + (1.0 - fraction) * weight
    for seed, weight in end.seeds:
        weights[seed] = weights.get(seed, 0.0) + fraction * weight
    pairs = tuple((seed, weight) for seed, weight in weights.items() if weight != 0.0)
    return LatentKey(seeds=pairs or start.seeds[:1], psi=_lerp(start.psi, end.psi, fraction))


def _between(before: Keyframe, after: Keyframe, fraction: float, yaw_mode: str) -> FrameState:
    a, b = before.camera, after.camera
    camera = CameraKey(
        yaw_deg=_yaw(a.yaw_deg, b.yaw_deg, fraction, yaw_mode),
        pitch_deg=_lerp(a.pitch_deg, b.pitch_deg, fraction),
        radius=_lerp(a.radius, b.radius, fraction),
        focal=_lerp(a.focal, b.focal, fraction),
        lookat=tuple(_lerp(p, q, fraction) for p, q in zip(a.lookat, b.lookat)),
    )
    pose = tuple(_lerp(p, q, fraction) for p, q in zip(before.pose_deg, after.pose_deg))
    return FrameState(camera=camera, pose_deg=pose, latent=_blend_latents(before.latent, after.latent, fraction))


def evaluate(path: CameraPath, time_s: float) -> FrameState:
    """The state of `path` at `time_s` seconds (clamped to the path's span)."""
    keys = path.keyframes
    if time_s <= 0.0 or len(keys) == 1:
        first = keys[0]
        return FrameState(first.camera, first.pose_deg, first.latent)
    if time_s >= path.duration_s:
        last = keys[-1]
        return FrameState(last.camera, last.pose_deg, last.latent)
    times = [key.time_s for key in keys]
    index = bisect.bisect_right(times, time_s)  # keys[index - 1].time_s <= time_s < keys[index].time_s
    before, after = keys[index - 1], keys[index]
    progress = (time_s - before.time_s) / (after.time_s - before.time_s)
    return _between(before, after, ease(after.easing, progress), path.yaw_mode)


def frame_count(path: CameraPath, fps: float, seconds: float | None = None) -> int:
    """Frames of a video of the path at `fps`, `seconds` long (default: the path's own duration)."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    length = path.duration_s if seconds is None else seconds
    if length <= 0:
        raise ValueError("the path has a single keyframe (no duration): give the video's length in seconds")
    frames = length * fps
    if not frames <= MAX_VIDEO_FRAMES:  # before any list of frame times is built (NaN fails too)
        raise BudgetError(f"{length:g} s at {fps:g} fps is {frames:g} frames, more than the {MAX_VIDEO_FRAMES} "
                          f"allowed (an hour at 30 fps); shorten --seconds or the path's keyframes, or lower --fps")
    return max(1, int(round(frames)))


def frame_times(path: CameraPath, fps: float, seconds: float | None = None) -> list[float]:
    """Path times of the frames of a video at `fps`, `seconds` long; the path is stretched to that length.

    A looping path leaves out its last keyframe (it equals the first), so frame k of n sits at k/n of the
    path; an open path shows both ends, frame k at k/(n-1).
    """
    validate_path(path)
    count = frame_count(path, fps, seconds)
    span = path.duration_s
    if count == 1:
        return [0.0]
    steps = count if path.loop else count - 1
    return [span * k / steps for k in range(count)]


def sample_path(path: CameraPath, fps: float, seconds: float | None = None) -> list[FrameState]:
    """The state of every frame of a video of the path (see `frame_times`)."""
    return [evaluate(path, time_s) for time_s in frame_times(path, fps, seconds)]


def unwrap_yaws(yaws_deg: list[float]) -> list[float]:
    """Yaws made continuous (no jump of more than 180 between neighbours), for recording a path from a GUI."""
    unwrapped: list[float] = []
    for yaw in yaws_deg:
        if unwrapped:
            previous = unwrapped[-1]
            yaw = previous + (yaw - previous + 180.0) % 360.0 - 180.0
        unwrapped.append(float(yaw))
    return unwrapped
