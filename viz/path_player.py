"""Keyframes from the AppState and back, and preview playback of a path over the AppState (no torch, no imgui).

A keyframe records the render camera, the body pose and the latent (the seed grid's blend and psi). Playing
a path writes `evaluate(path, t)` into the state every frame, so the normal request path renders previews;
stopping puts back the state from before playback.
"""
from __future__ import annotations

import math
from dataclasses import replace

from core.paths import CameraKey, CameraPath, FrameState, Keyframe, LatentKey, evaluate
from viz.request_builder import blended_seeds
from viz.state import SEED_GRID_STEP, AppState, focal_from_fov, fov_from_focal, wrap_degrees

WEIGHT_TOLERANCE = 1e-6  # seed weights closer than this count as the same blend


def keyframe_from_state(state: AppState, time_s: float = 0.0, easing: str = "linear",
                        previous_yaw_deg: float | None = None) -> Keyframe:
    """The state's camera, pose and latent as a keyframe at `time_s`.

    The state's yaw wraps at +-180; `previous_yaw_deg` (the path's last yaw) unwraps it to the nearest turn,
    so recording 170 then -170 turns 20 degrees on, not 340 back.
    """
    camera, latent = state.camera, state.latent
    yaw = camera.yaw_deg
    if previous_yaw_deg is not None:
        yaw = previous_yaw_deg + wrap_degrees(yaw - previous_yaw_deg)
    key_camera = CameraKey(yaw_deg=float(yaw), pitch_deg=float(camera.pitch_deg), radius=float(camera.radius),
                           focal=focal_from_fov(camera.fov_deg), lookat=tuple(float(v) for v in camera.lookat))
    seeds = tuple((int(seed), float(weight)) for seed, weight in blended_seeds(latent.seed_x, latent.seed_y))
    return Keyframe(time_s=float(time_s), camera=key_camera, pose_deg=tuple(float(v) for v in state.pose.degrees()),
                    latent=LatentKey(seeds, float(latent.truncation_psi), file=latent.latent_file), easing=easing)


def seed_grid_point(latent: LatentKey) -> tuple[float, float]:
    """(seed_x, seed_y) on the fractional seed grid that shows `latent`'s blend.

    Blends of up to four grid neighbours with bilinear weights (what the latent panel makes) come back
    exactly; any other blend (a morph between distant seeds) shows its heaviest seed instead.
    """
    total = sum(weight for _, weight in latent.seeds)
    weights = [(seed, weight / total) for seed, weight in latent.seeds] if total > 0 else list(latent.seeds)
    x = sum(weight * (seed % SEED_GRID_STEP) for seed, weight in weights)
    y = sum(weight * (seed // SEED_GRID_STEP) for seed, weight in weights)
    if _same_blend(blended_seeds(x, y), weights):
        return float(x), float(y)
    heaviest = max(weights, key=lambda pair: pair[1])[0]
    return float(heaviest % SEED_GRID_STEP), float(heaviest // SEED_GRID_STEP)


def _same_blend(first, second) -> bool:
    merged_first, merged_second = dict(first), dict(second)
    seeds = set(merged_first) | set(merged_second)
    return all(math.isclose(merged_first.get(seed, 0.0), merged_second.get(seed, 0.0), abs_tol=WEIGHT_TOLERANCE)
               for seed in seeds)


def apply_frame(state: AppState, frame: FrameState | Keyframe) -> None:
    """Write a path's frame (or a keyframe) into the state's camera, pose and latent."""
    camera, pose = state.camera, state.pose
    camera.yaw_deg = wrap_degrees(frame.camera.yaw_deg)
    camera.pitch_deg = frame.camera.pitch_deg
    camera.radius = frame.camera.radius
    camera.fov_deg = fov_from_focal(frame.camera.focal)
    camera.lookat = tuple(frame.camera.lookat)
    pose.neck_deg = tuple(frame.pose_deg[:3])
    pose.head_deg = tuple(frame.pose_deg[3:])
    if frame.latent is not None:
        state.latent.latent_file = frame.latent.file
        if frame.latent.seeds:
            state.latent.seed_x, state.latent.seed_y = seed_grid_point(frame.latent)
        state.latent.truncation_psi = frame.latent.psi


class PathPlayer:
    """Plays a path over the AppState: `start`, `advance` every frame, `stop` restores what was there before."""

    def __init__(self):
        self.time_s = 0.0  # position in the path being played
        self.loop = True  # start again at the end instead of stopping
        self._path: CameraPath | None = None
        self._saved: dict | None = None  # AppState.edit_snapshot() from before playback
        self._saved_animations = (False, False)  # turntable and seed walk switches from before playback

    @property
    def playing(self) -> bool:
        return self._path is not None

    def start(self, state: AppState, path: CameraPath) -> None:
        """Remember the state and show the path's first frame."""
        if self._saved is None:
            self._saved = state.edit_snapshot()
            # Turntable and seed walk would fight the path over the same fields.
            self._saved_animations = (state.camera.turntable, state.latent.animate)
        state.camera.turntable = state.latent.animate = False
        self._path = path
        self.time_s = 0.0
        apply_frame(state, evaluate(path, 0.0))

    def advance(self, state: AppState, elapsed_s: float) -> bool:
        """Move `elapsed_s` seconds on and write that frame into the state; True while playing."""
        if self._path is None:
            return False
        duration = self._path.duration_s
        self.time_s += max(elapsed_s, 0.0)
        if self.time_s > duration:
            if self.loop and duration > 0:
                self.time_s %= duration
            else:
                self.time_s = duration
        apply_frame(state, evaluate(self._path, self.time_s))
        if self.time_s >= duration and not self.loop:
            self._path = None  # the last frame stays shown until Stop puts the old state back
        return True

    def stop(self, state: AppState) -> None:
        """End playback and restore the state from before `start`."""
        self._path = None
        if self._saved is not None:
            state.restore_snapshot(self._saved)
            state.camera.turntable, state.latent.animate = self._saved_animations
        self._saved = None
        self.time_s = 0.0

    @property
    def holds_saved_state(self) -> bool:
        """True from `start` until `stop` (also after a non-looping path reached its end)."""
        return self._saved is not None


def retimed_keyframe(path: CameraPath, index: int, duration_s: float | None = None,
                     easing: str | None = None) -> CameraPath:
    """`path` with keyframe `index` coming `duration_s` after the one before it (later keys move with it)."""
    keys = list(path.keyframes)
    if easing is not None:
        keys[index] = replace(keys[index], easing=easing)
    if duration_s is not None and index > 0:
        if duration_s <= 0:
            raise ValueError(f"a keyframe must come a positive time after the previous one, got {duration_s} s")
        shift = keys[index - 1].time_s + duration_s - keys[index].time_s
        keys[index:] = [replace(key, time_s=key.time_s + shift) for key in keys[index:]]
    return replace(path, keyframes=tuple(keys))


def moved_keyframe(path: CameraPath, index: int, offset: int) -> CameraPath:
    """`path` with keyframe `index` swapped with its neighbour `offset` (-1 up, +1 down); times stay in place.

    The keys keep the durations of their slots, so the motion changes order but the timing does not.
    """
    target = index + offset
    keys = list(path.keyframes)
    if not (0 <= index < len(keys) and 0 <= target < len(keys)):
        return path
    times = [key.time_s for key in keys]
    keys[index], keys[target] = keys[target], keys[index]
    return replace(path, keyframes=tuple(replace(key, time_s=time_s) for key, time_s in zip(keys, times)))
