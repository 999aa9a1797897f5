"""AppState: everything the user can set in the visualizer, as plain dataclasses.

Widgets read and write these fields and nothing else; the app turns them into a `RenderRequest`
(viz/request_builder.py), keeps an undo history of them (viz/history.py) and stores them as JSON.
No torch here: the GUI side of the program talks to the renderer only through requests.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.atomic import write_atomic
from core.config import to_plain
from core.names import (CAMERA_CONVENTIONS, DEFAULT_FOCAL, DEFAULT_RADIUS, IMPORTANCE_SAMPLERS, LOOKAT_PIVOT,
                        NOISE_MODES, OUTPUT_NAMES as RENDER_OUTPUTS, WARP_MODES)

MAX_SEED = 2**31 - 1  # seeds become numpy RandomState seeds: 32 bits
# Values a remembered state may hold (inclusive); outside them the viewer could not render, so loading refuses.
STATE_LIMITS = {
    "CameraState.fov_deg": (1.0, 170.0), "CameraState.radius": (0.05, 100.0), "CameraState.pitch_deg": (-90.0, 90.0),
    "CameraState.cond_pitch_deg": (-90.0, 90.0), "CameraState.turntable_speed_deg_s": (-3600.0, 3600.0),
    "LatentState.seed_x": (0.0, MAX_SEED / 100), "LatentState.seed_y": (0.0, MAX_SEED / 100),
    "LatentState.truncation_psi": (-2.0, 2.0), "LatentState.truncation_cutoff": (0, 64),
    "LatentState.stylemix_seed": (0, MAX_SEED), "LatentState.stylemix_first": (0, 64),
    "LatentState.stylemix_last": (0, 64), "LatentState.animate_speed": (0.0, 100.0),
    "RenderOptions.neural_resolution": (4, 1024), "RenderOptions.depth_samples": (2, 1024),
    "RenderOptions.importance_samples": (0, 1024), "CaptureState.video_fps": (1, 240),
    "InspectState.mesh_resolution": (8, 1024), "InspectState.mesh_taubin_steps": (0, 1000),
    "InspectState.mesh_grid_smoothing": (0.0, 20.0),
}

POSE_LIMIT_DEG = 60.0  # neck and head rotations are limited to +-60 degrees per axis
SEED_GRID_STEP = 100  # fractional seed grid: seed = x + 100 * y, as the reference's latent widget
STATE_FORMAT = "portrait-viz-state/1"  # tag written into saved state files


class StateFileError(ValueError):
    """A state file could not be read; the message names the file and what to do."""


def focal_from_fov(fov_deg: float) -> float:
    """Normalised focal length of a pinhole camera with this full field of view (exact)."""
    return 1.0 / (2.0 * math.tan(math.radians(fov_deg) / 2.0))


def fov_from_focal(focal: float) -> float:
    """Full field of view in degrees of a normalised focal length (inverse of `focal_from_fov`)."""
    return math.degrees(2.0 * math.atan(1.0 / (2.0 * focal)))


def wrap_degrees(angle_deg: float) -> float:
    """Maps any angle into [-180, 180), so the yaw slider can go round the full circle."""
    return (angle_deg + 180.0) % 360.0 - 180.0


@dataclass
class CameraState:
    """The render camera (orbit around the look-at point) and the mapping's conditioning camera."""

    yaw_deg: float = 0.0  # 0 = front, 90 = subject's left, wraps at +-180
    pitch_deg: float = 0.0  # > 0 looks from above
    fov_deg: float = fov_from_focal(DEFAULT_FOCAL)  # full field of view; the request carries the focal length
    radius: float = DEFAULT_RADIUS  # distance of the camera from the look-at point
    lookat: tuple[float, float, float] = LOOKAT_PIVOT  # orbit centre, world units
    turntable: bool = False  # spin the yaw continuously
    turntable_speed_deg_s: float = 30.0  # turntable speed, degrees per second
    convention: str = "project"  # CAMERA_CONVENTIONS: project orbits the look-at point, reference the world origin
    cond_follow_render: bool = False  # conditioning camera equals the render camera
    cond_yaw_deg: float = 0.0  # conditioning camera yaw (frontal by default)
    cond_pitch_deg: float = 0.0  # conditioning camera pitch


@dataclass
class LatentState:
    """Which latent is rendered: a point on the fractional seed grid, truncation and style mixing."""

    seed_x: float = 0.0  # fractional grid column; the 4 neighbouring seeds are blended in W
    seed_y: float = 0.0  # fractional grid row; seed = column + 100 * row
    truncation_psi: float = 0.7  # 0.7 suits our models (the reference used 0.12 for its own)
    truncation_cutoff: int | None = None  # truncate only the first ws; None = all
    stylemix_enabled: bool = False  # replace a range of ws by those of another seed
    stylemix_seed: int = 1000  # seed whose ws are mixed in
    stylemix_first: int = 7  # first w index taken from the style-mixing seed
    stylemix_last: int = 13  # last w index (inclusive) taken from the style-mixing seed
    animate: bool = False  # walk through the seed grid continuously
    animate_speed: float = 0.25  # grid cells per second while animating
    noise_mode: str = "const"  # synthesis noise: const | random | none
    latent_file: str | None = None  # an inverted latent (.npz of core.invert) shown instead of the seed grid

    @property
    def seed(self) -> int:
        """The integer seed nearest to the grid point."""
        return round(self.seed_x) + round(self.seed_y) * SEED_GRID_STEP

    def set_seed(self, seed: int) -> None:
        """Puts the grid point exactly on an integer seed."""
        self.seed_x = float(seed % SEED_GRID_STEP)
        self.seed_y = float(seed // SEED_GRID_STEP)


@dataclass
class PoseState:
    """Body pose in degrees per axis (x = nod, y = turn, z = tilt), for rendering and for conditioning."""

    neck_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # neck rotation
    head_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # head rotation relative to the neck
    # Off (as in the authors' visualizer): the mapping keeps its own (rest) pose, so posing moves the same canonical
    # avatar through the warp, keeps its identity and reuses its tri-grid. On: conditioned on the rendered pose.
    cond_linked: bool = False
    cond_neck_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # conditioning neck rotation when not linked
    cond_head_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)  # conditioning head rotation when not linked
    use_predicted_pose: bool = False  # ask the renderer for the generator's own predicted pose

    def degrees(self) -> tuple[float, ...]:
        """The six rendered angles: neck xyz then head xyz."""
        return tuple(self.neck_deg) + tuple(self.head_deg)

    def cond_degrees(self) -> tuple[float, ...] | None:
        """The six conditioning angles, or None when they follow the rendered pose."""
        return None if self.cond_linked else tuple(self.cond_neck_deg) + tuple(self.cond_head_deg)


@dataclass
class RenderOptions:
    """What the renderer produces and how much it samples."""

    output: str = "image"  # image | image_raw | image_depth | image_mask | image_background
    neural_resolution: int | None = None  # rays per side; None = the model's default
    depth_samples: int | None = None  # coarse samples per ray; None = the model's default
    importance_samples: int | None = None  # fine samples per ray; None = the model's default
    deterministic: bool = True  # no jitter: the same request gives the same pixels
    trigrid_cache: bool = True  # reuse the tri-grid while w is unchanged
    skip_empty_space: bool = True  # decode no sample in the latent's empty cells (same image, faster)
    warp_mode: str = "fast"  # body warp, one of WARP_MODES (fast: cheap per pose; exact: the reference)
    importance_sampler: str | None = None  # IMPORTANCE_SAMPLERS; None = the model's own (reference for imports)
    refine_when_idle: bool = False  # after the full frame, render 2x samples, then 2x rays, while nothing changes


@dataclass
class CaptureState:
    """Where screenshots and recordings go."""

    folder: str = ""  # output folder; empty = the user data folder's captures/ (never the working directory)
    whole_window: bool = False  # screenshots of the whole window instead of the render only
    video_fps: int = 30  # frame rate of recorded MP4 files


@dataclass
class UiState:
    """Window layout choices that are remembered but not undone."""

    presentation: bool = False  # hide all panels, show only the render
    show_help: bool = False  # the keyboard shortcuts window
    recent_checkpoints: list[str] = field(default_factory=list)  # most recent first


@dataclass
class InspectState:
    """Settings of the inspection panels (tri-grid, density slice, ray profile, mesh); not undone."""

    plane_mode: str = "pca"  # tri-grid pictures: pca (3 components as RGB) | channel (one channel, colour map)
    plane_channel: int = 0  # feature channel shown in channel mode
    plane_colormap: str = "viridis"  # colour map of channel mode: viridis | magma | gray
    slice_axis: str = "z"  # axis orthogonal to the density slice: x | y | z
    slice_offset: float = 0.0  # world coordinate of the slice along its axis
    slice_quantity: str = "sigma_raw"  # sigma_raw | density | opacity
    slice_space: str = "canonical"  # canonical (rest pose) | posed (as the body pose warps it)
    slice_colormap: str = "magma"  # colour map of the slice
    slice_body: bool = True  # draw the body cross-section and thickness shell over the slice
    ray_enabled: bool = False  # ask for the ray profile of `ray_pixel`
    ray_pixel: tuple[float, float] = (0.0, 0.0)  # (row, column) of the shown image whose ray is plotted
    mesh_resolution: int = 128  # grid samples per side of the mesh extraction
    mesh_level: float = 10.0  # iso-level on raw sigma
    mesh_space: str = "canonical"  # canonical | posed
    mesh_crop: bool = True  # apply the renderer's side-wall crop before extracting
    mesh_grid_smoothing: float = 0.0  # Gaussian sigma in voxels on the grid before marching cubes
    mesh_taubin_steps: int = 0  # Taubin smoothing steps on the mesh afterwards
    mesh_view_mode: str = "lit"  # lit | normals | wireframe
    mesh_show_body: bool = True  # draw the body mesh and skeleton in the mesh view
    export_folder: str = ""  # where exports go; empty = the user data folder's meshes/
    export_formats: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # .ply, .obj, .glb, grid .npy: 1 = write


@dataclass
class AppState:
    """The complete, JSON-serialisable state of the visualizer."""

    checkpoint: str = ""  # checkpoint path or "preset:<name>"; set from the command line at start
    camera: CameraState = field(default_factory=CameraState)  # render and conditioning cameras
    latent: LatentState = field(default_factory=LatentState)  # seeds, truncation, style mixing
    pose: PoseState = field(default_factory=PoseState)  # neck and head rotations
    render: RenderOptions = field(default_factory=RenderOptions)  # output and sampling
    capture: CaptureState = field(default_factory=CaptureState)  # screenshot and video settings
    ui: UiState = field(default_factory=UiState)  # remembered layout choices
    inspect: InspectState = field(default_factory=InspectState)  # inspection panels' settings

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict with a format tag, ready for JSON."""
        return {"format": STATE_FORMAT, **to_plain(dataclasses.asdict(self))}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "state") -> "AppState":
        """Builds a state from `to_dict` output; missing fields keep defaults, unknown fields are an error."""
        if not isinstance(data, dict):
            raise StateFileError(f"{source}: expected a JSON object, got {type(data).__name__}")
        body = {key: value for key, value in data.items() if key != "format"}
        return _build(cls, body, source)

    def edit_snapshot(self) -> dict[str, Any]:
        """The parts that undo/redo restore: everything except remembered UI and capture settings."""
        plain = self.to_dict()
        return {key: plain[key] for key in ("checkpoint", "camera", "latent", "pose", "render")}

    def restore_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Replaces the undoable parts by those of `edit_snapshot` output."""
        restored = AppState.from_dict({**self.to_dict(), **snapshot})
        for key in snapshot:
            setattr(self, key, getattr(restored, key))


def remember_recent(recent: list[str], checkpoint: str, limit: int = 10) -> list[str]:
    """`recent` with `checkpoint` moved to the front, without duplicates, at most `limit` long."""
    return [checkpoint, *[item for item in recent if item != checkpoint]][:limit]


def save_state(state: AppState, path: str | Path) -> Path:
    """Writes the state as JSON atomically (temporary file + rename), creating the folder."""
    return write_atomic(path, json.dumps(state.to_dict(), indent=2))


def load_state(path: str | Path) -> AppState:
    """Reads a state file; a clear `StateFileError` names the file and the fix when it is unusable."""
    path = Path(path).expanduser()
    fix = "fix it or delete it to start from the defaults"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StateFileError(f"state file {path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise StateFileError(f"state file {path} is not valid JSON ({error}); {fix}") from None
    if isinstance(data, dict) and data.get("format", STATE_FORMAT) != STATE_FORMAT:
        raise StateFileError(f"state file {path} has format {data.get('format')!r}, expected {STATE_FORMAT!r}")
    try:
        return AppState.from_dict(data, source=f"state file {path}")
    except StateFileError as error:
        raise StateFileError(f"{error}; {fix}") from None


def _build(cls: type, data: dict[str, Any], source: str) -> Any:
    """Recursively builds dataclass `cls` from a dict, checking field names and value types."""
    fields = {item.name: item for item in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise StateFileError(f"{source}: unknown field(s) {unknown} in {cls.__name__}")
    defaults = cls()
    values = {}
    for name, value in data.items():
        default = getattr(defaults, name)
        where = f"{cls.__name__}.{name}"
        if dataclasses.is_dataclass(default):
            if not isinstance(value, dict):
                raise StateFileError(f"{source}: {where} must be an object")
            values[name] = _build(type(default), value, source)
        else:
            values[name] = _coerce(value, default, fields[name].type, where, source)
            _check_limits(values[name], where, source)
    return cls(**values)


def _check_limits(value: Any, where: str, source: str) -> None:
    """Finite numbers within STATE_LIMITS, and names from the lists the renderer accepts."""
    numbers = value if isinstance(value, tuple) else (value,)
    if any(isinstance(item, float) and not math.isfinite(item) for item in numbers):
        raise StateFileError(f"{source}: {where} must be a finite number, got {value!r}")
    if where in STATE_LIMITS and value is not None:
        low, high = STATE_LIMITS[where]
        if not low <= value <= high:
            raise StateFileError(f"{source}: {where} = {value!r} is outside {low:g}..{high:g}")
    choices = {"RenderOptions.output": RENDER_OUTPUTS, "RenderOptions.warp_mode": WARP_MODES,
               "LatentState.noise_mode": NOISE_MODES, "CameraState.convention": CAMERA_CONVENTIONS,
               "RenderOptions.importance_sampler": IMPORTANCE_SAMPLERS}.get(where)
    if choices is not None and value is not None and value not in choices:
        raise StateFileError(f"{source}: {where} = {value!r} is not one of {', '.join(choices)}")


def _coerce(value: Any, default: Any, annotation: str, where: str, source: str) -> Any:
    """Checks one leaf value against its default's type (None allowed where the annotation says so)."""
    if value is None and "None" in str(annotation):
        return None
    if isinstance(default, tuple) or "tuple" in str(annotation):
        if not isinstance(value, list) or not all(isinstance(item, (int, float)) for item in value):
            raise StateFileError(f"{source}: {where} must be a list of numbers, got {value!r}")
        if default is not None and len(value) != len(default):
            raise StateFileError(f"{source}: {where} needs {len(default)} numbers, got {len(value)}")
        return tuple(float(item) for item in value)
    if isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise StateFileError(f"{source}: {where} must be a list of strings")
        return list(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise StateFileError(f"{source}: {where} must be true or false, got {value!r}")
        return value
    if default is None and "str" in str(annotation):  # an optional name, such as an inverted latent's file
        if isinstance(value, str):
            return value
        raise StateFileError(f"{source}: {where} must be a file name or null, got {value!r}")
    expected = "int" if "int" in str(annotation) else type(default).__name__
    if expected == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if expected == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if expected == "str" and isinstance(value, str):
        return value
    raise StateFileError(f"{source}: {where} must be a {expected}, got {value!r}")
