"""Deterministic full-quality renders of single views and whole paths, with caches per latent, w and pose.

The latent and display conventions are the GUI renderer's (renderer/latents.py, renderer/outputs.py), so a
frame written here matches what the visualizer shows for the same seed, psi, camera and pose.
"""
from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from core.body.warp import DEFAULT_GRID_RESOLUTION
from core.camera import camera_from_angles
from core.paths import CameraKey, CameraPath, LatentKey, frame_times, evaluate
from core.latents import blended_ws
from core.display import to_display_image

# Short names accepted on the command line for the generator's outputs.
OUTPUT_ALIASES = {"image": "image", "raw": "image_raw", "depth": "image_depth", "mask": "image_mask",
                  "background": "image_background"}
SAMPLING_SEED = 0  # seed of the ray sampler's draws (unused in deterministic mode, kept for random mode)
REST_POSE = (0.0,) * 6

ProgressCallback = Callable[[int, int], None]  # (frames done, frames in all)


class RenderCancelled(Exception):
    """The caller's cancel flag was raised; `frames_done` frames had been rendered."""

    def __init__(self, frames_done: int):
        self.frames_done = frames_done
        super().__init__(f"rendering cancelled after {frames_done} frames")


@dataclass(frozen=True)
class RenderSettings:
    """How each view is rendered; the defaults are the model's full quality, reproducible bit for bit."""

    neural_resolution: int | None = None  # rays per side R (None: the model's)
    depth_samples: int | None = None  # coarse samples per ray (None: the model's)
    importance_samples: int | None = None  # fine samples per ray (None: the model's)
    deterministic: bool = True  # no jitter, midpoint inverse-CDF: the same command gives the same pixels
    importance_sampler: str | None = None  # core.config.IMPORTANCE_SAMPLERS; None = the model's own
    camera_convention: str = "project"  # core.config.CAMERA_CONVENTIONS: how yaw/pitch become cameras
    noise_mode: str = "const"  # synthesis noise: const (reproducible), random or none
    truncation_cutoff: int | None = None  # truncate only the first ws (None: all)
    cond_yaw_deg: float = 0.0  # yaw of the camera the mapping is conditioned on (0 = front, as in training)
    cond_pitch_deg: float = 0.0  # pitch of the conditioning camera
    cond_pose_deg: tuple[float, ...] | None = None  # conditioning body pose; None = the rendered pose
    warp_mode: str = "fast"  # body warp for posed renders, one of core.body.warp.WARP_MODES (as the viewer)
    warp_resolution: int = DEFAULT_GRID_RESOLUTION  # nodes per side of the warp grid (fewer: quicker, coarser)
    body_model_path: str | None = None  # SMPL-format body file (None: the shipped stand-in)
    output_size: int | None = None  # resize every output to this many pixels per side (None: native)


def _lru_get(cache: OrderedDict, key, build: Callable, capacity: int):
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = build()
    cache[key] = value
    while len(cache) > capacity:
        cache.popitem(last=False)
    return value


class ViewRenderer:
    """Renders (latent, camera, pose) views of one generator; reuses ws, tri-grids and warps between views."""

    def __init__(self, generator: torch.nn.Module, settings: RenderSettings = RenderSettings()):
        self.generator = generator
        self.settings = settings
        self.device = next(generator.parameters()).device
        config = generator.config
        self.rendering = dataclasses.replace(
            config.rendering,
            depth_resolution=settings.depth_samples or config.rendering.depth_resolution,
            depth_resolution_importance=settings.importance_samples or config.rendering.depth_resolution_importance,
            deterministic=settings.deterministic,
            importance_sampler=settings.importance_sampler or config.rendering.importance_sampler,
        )
        self._ws: OrderedDict = OrderedDict()
        self._planes: OrderedDict = OrderedDict()
        self._warps: OrderedDict = OrderedDict()
        self._body = None

    def _pose_tensor(self, pose_deg: tuple[float, ...]) -> torch.Tensor:
        """pose: [1, 6] axis-angle radians from neck xyz, head xyz degrees."""
        if not any(pose_deg):
            return torch.zeros(1, 6, device=self.device)
        from core.body import pose_from_degrees

        pose = torch.as_tensor(pose_from_degrees(tuple(pose_deg[:3]), tuple(pose_deg[3:])), dtype=torch.float32)
        return pose.reshape(1, 6).to(self.device)

    def _ws_for(self, latent: LatentKey, pose_deg: tuple[float, ...]) -> tuple[tuple, torch.Tensor]:
        settings = self.settings
        cond_pose = settings.cond_pose_deg if settings.cond_pose_deg is not None else tuple(pose_deg)
        key = (latent.seeds, latent.psi, settings.truncation_cutoff, cond_pose)  # settings are fixed per renderer

        def build() -> torch.Tensor:
            # The conditioning camera is the training camera (pivot, radius, focal): zoom keeps the identity.
            camera = camera_from_angles(settings.camera_convention, settings.cond_yaw_deg, settings.cond_pitch_deg,
                                        device=self.device)
            return blended_ws(self.generator, latent.seeds, camera, self._pose_tensor(cond_pose), latent.psi,
                              settings.truncation_cutoff)

        return key, _lru_get(self._ws, key, build, 8)

    def _warp_for(self, pose_deg: tuple[float, ...]):
        if not any(pose_deg):
            return None

        def build():
            from core.body import load_body_model
            from core.body.warp import make_warp

            if self._body is None:
                self._body = load_body_model(self.settings.body_model_path, device=self.device)
            config = self.generator.config
            options = {"resolution": self.settings.warp_resolution} if self.settings.warp_mode == "grid" else {}
            return make_warp(self._body, self._pose_tensor(pose_deg), mode=self.settings.warp_mode,
                             thickness=config.thickness, box_warp=config.rendering.box_warp, **options)

        return _lru_get(self._warps, tuple(pose_deg), build, 4)

    @torch.inference_mode()
    def render(self, latent: LatentKey, camera: CameraKey, pose_deg: tuple[float, ...] = REST_POSE,
               outputs: tuple[str, ...] = ("image",)) -> dict[str, np.ndarray]:
        """uint8 [H, W, 3] per output name (image, image_raw, image_depth, image_mask, image_background)."""
        pose_deg = tuple(float(value) for value in pose_deg)
        ws_key, ws = self._ws_for(latent, pose_deg)
        planes = _lru_get(self._planes, ws_key,
                          lambda: self.generator.synthesize_trigrid(ws, noise_mode=self.settings.noise_mode), 2)
        render_camera = camera_from_angles(self.settings.camera_convention, camera.yaw_deg, camera.pitch_deg,
                                           radius=camera.radius, lookat=camera.lookat, focal=camera.focal,
                                           device=self.device)
        sampling = torch.Generator(device=self.device).manual_seed(SAMPLING_SEED)
        result = self.generator.render(
            ws, planes, render_camera, neural_resolution=self.settings.neural_resolution, rendering=self.rendering,
            point_warp=self._warp_for(pose_deg), noise_mode=self.settings.noise_mode, generator=sampling,
            outputs=outputs,
        )
        return {name: self._sized(to_display_image(getattr(result, name), name)) for name in outputs}

    def _sized(self, pixels: np.ndarray) -> np.ndarray:
        size = self.settings.output_size
        if size is None or pixels.shape[:2] == (size, size):
            return pixels
        return np.asarray(Image.fromarray(pixels).resize((size, size), Image.LANCZOS))


def tile(images: list[np.ndarray], columns: int, rows: int) -> np.ndarray:
    """One uint8 [rows*H, columns*W, 3] sheet, row-major; empty cells stay black."""
    if len(images) > columns * rows:
        raise ValueError(f"a {columns}x{rows} grid holds {columns * rows} images, not {len(images)}; "
                         f"enlarge --grid")
    height, width = images[0].shape[:2]
    sheet = np.zeros((rows * height, columns * width, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        sheet[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return sheet


def grid_shape(count: int, grid: tuple[int, int] | None) -> tuple[int, int]:
    """(columns, rows): the given grid, or the squarest grid that holds `count` cells."""
    if grid is not None:
        return grid
    columns = int(np.ceil(np.sqrt(count)))
    return columns, int(np.ceil(count / columns))


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if isinstance(cancel, threading.Event):
        return cancel.is_set()
    return bool(cancel())


def render_path_frames(
    generator: torch.nn.Module,
    path: CameraPath,
    fps: float = 30.0,
    seconds: float | None = None,
    *,
    seeds: tuple[int, ...] = (),
    psi: float = 0.7,
    output: str = "image",
    settings: RenderSettings = RenderSettings(),
    grid: tuple[int, int] | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | Callable[[], bool] | None = None,
    frame_sink: Callable[[np.ndarray], None] | None = None,
) -> list[np.ndarray]:
    """Frames (uint8 [H, W, 3]) of a video of `path` at `fps`, `seconds` long (default: the path's length).

    A path whose keyframes carry latents shows them; otherwise each of `seeds` (truncation `psi`) gets a
    cell of a grid. `progress(done, total)` is called after every frame; `cancel` (an Event or a callable)
    is checked before every frame and raises RenderCancelled. With `frame_sink` the frames go there one by
    one and the returned list stays empty (long videos need not fit in memory).
    """
    output = OUTPUT_ALIASES.get(output, output)
    times = frame_times(path, fps, seconds)
    if path.keyframes[0].latent is None and not seeds:
        raise ValueError(f"path {path.name or '(unnamed)'} has no latents: give the seeds to show")
    columns, rows = grid_shape(len(seeds), grid) if path.keyframes[0].latent is None else (1, 1)
    views = ViewRenderer(generator, settings)
    frames: list[np.ndarray] = []
    for index, time_s in enumerate(times):
        if _cancelled(cancel):
            raise RenderCancelled(index)
        state = evaluate(path, time_s)
        latents = [state.latent] if state.latent is not None else [LatentKey(((seed, 1.0),), psi) for seed in seeds]
        cells = [views.render(latent, state.camera, state.pose_deg, (output,))[output] for latent in latents]
        frame = cells[0] if len(cells) == 1 and (columns, rows) == (1, 1) else tile(cells, columns, rows)
        if frame_sink is not None:
            frame_sink(frame)
        else:
            frames.append(frame)
        if progress is not None:
            progress(index + 1, len(times))
    return frames


def default_checkpoint() -> Path:
    """checkpoints/default.pt of this repository (may not exist)."""
    return Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"
