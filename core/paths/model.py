"""Camera and pose paths as plain data: keyframes with camera, body pose, latent and easing (no torch).

A path is a list of keyframes at increasing times. Between two keyframes every number is interpolated
with the easing of the later keyframe. Yaw is stored unwrapped (0 -> 360 is one full turn) unless the
path asks for the shortest way round. The GUI's keyframe recorder and the command line share this module.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from core.names import DEFAULT_FOCAL, DEFAULT_RADIUS, LOOKAT_PIVOT as DEFAULT_LOOKAT  # noqa: F401 (re-exported)

PATH_FORMAT = "portrait-gan-path/1"  # the `format` value of version 1 path files
EASINGS = ("linear", "ease-in", "ease-out", "ease-in-out", "step")  # names accepted for `easing`
YAW_MODES = ("unwrapped", "shortest")  # how yaw travels between keyframes
DEFAULT_PSI = 0.7  # truncation of the GUI's default request


@dataclass(frozen=True)
class CameraKey:
    """Where the orbit camera is at one keyframe."""

    yaw_deg: float = 0.0  # 0 = front, 90 = the subject's left; unwrapped: 360 is one turn further than 0
    pitch_deg: float = 0.0  # > 0 looks from above
    radius: float = DEFAULT_RADIUS  # distance from the look-at point
    focal: float = DEFAULT_FOCAL  # normalised focal length (a file may give fov_deg instead)
    lookat: tuple[float, float, float] = DEFAULT_LOOKAT  # the point the camera orbits and faces


@dataclass(frozen=True)
class LatentKey:
    """Which identity is shown: seeds blended in W around w_avg and the truncation, or an inverted latent file."""

    seeds: tuple[tuple[int, float], ...]  # (seed, weight) pairs; weights need not sum to one
    psi: float = DEFAULT_PSI  # truncation psi: w = w_avg + psi * (w - w_avg)
    file: str | None = None  # an inverted latent (core.invert.latent_file, absolute path): replaces seeds and psi


@dataclass(frozen=True)
class Keyframe:
    """The state at `time_s`; the segment that ends here is eased with `easing`."""

    time_s: float  # seconds from the start of the path
    camera: CameraKey = field(default_factory=CameraKey)  # render camera
    pose_deg: tuple[float, float, float, float, float, float] = (0.0,) * 6  # neck xyz, head xyz in degrees
    latent: LatentKey | None = None  # None: the caller's seeds (a seed grid) are shown
    easing: str = "linear"  # one of EASINGS, for the segment from the previous keyframe to this one


@dataclass(frozen=True)
class CameraPath:
    """Keyframes at strictly increasing times (the first at 0), evaluated by `core.paths.evaluate`."""

    keyframes: tuple[Keyframe, ...]  # at least one; times strictly increase from 0
    yaw_mode: str = "unwrapped"  # one of YAW_MODES
    loop: bool = False  # True: the last keyframe equals the first, so a video leaves it out (seamless loop)
    name: str = ""  # shown in progress bars and file names

    @property
    def duration_s(self) -> float:
        """Seconds from the first keyframe to the last."""
        return self.keyframes[-1].time_s


@dataclass(frozen=True)
class FrameState:
    """Everything a renderer needs for one frame of a path."""

    camera: CameraKey  # interpolated camera
    pose_deg: tuple[float, float, float, float, float, float]  # interpolated neck xyz, head xyz in degrees
    latent: LatentKey | None  # interpolated seed weights and psi, or None for the caller's seeds


def validate_path(path: CameraPath) -> None:
    """Raise ValueError when the keyframes cannot be evaluated (order, easing, yaw mode, seeds)."""
    if not path.keyframes:
        raise ValueError("a path needs at least one keyframe")
    if path.yaw_mode not in YAW_MODES:
        raise ValueError(f"unknown yaw mode {path.yaw_mode!r}; use one of {', '.join(YAW_MODES)}")
    if path.keyframes[0].time_s != 0.0:
        raise ValueError(f"the first keyframe must be at time 0, not {path.keyframes[0].time_s}")
    for index, (before, after) in enumerate(zip(path.keyframes, path.keyframes[1:]), start=1):
        if not after.time_s > before.time_s:
            raise ValueError(f"keyframe {index}: time {after.time_s} s must be later than the previous "
                             f"keyframe's {before.time_s} s")
    with_latent = [key.latent is not None for key in path.keyframes]
    if any(with_latent) and not all(with_latent):
        raise ValueError("either every keyframe has a latent or none has (none: the command's --seeds are shown)")
    for index, key in enumerate(path.keyframes):
        if key.easing not in EASINGS:
            raise ValueError(f"keyframe {index}: unknown easing {key.easing!r}; use one of {', '.join(EASINGS)}")
        if len(key.pose_deg) != 6:
            raise ValueError(f"keyframe {index}: pose needs 6 numbers (neck xyz, head xyz), got {len(key.pose_deg)}")
        if key.camera.radius <= 0 or key.camera.focal <= 0:
            raise ValueError(f"keyframe {index}: radius and focal must be positive")
        if key.latent is not None and not key.latent.seeds and key.latent.file is None:
            raise ValueError(f"keyframe {index}: a latent needs at least one seed or a file")
