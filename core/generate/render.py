"""Deterministic full-quality renders of single views and whole paths, with caches per latent, w and pose.

The latent and display conventions are the GUI renderer's (renderer/latents.py, renderer/outputs.py), so a
frame written here matches what the visualizer shows for the same seed, psi, camera and pose.
"""
from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from PIL import Image

from core.body.warp import DEFAULT_GRID_RESOLUTION
from core.camera import camera_from_angles
from core.paths import CameraKey, CameraPath, LatentKey, frame_times, evaluate
from core.scene import REST_POSE, SceneBuilder, SceneSpec
from core.display import to_display_image

# Short names accepted on the command line for the generator's outputs.
OUTPUT_ALIASES = {"image": "image", "raw": "image_raw", "depth": "image_depth", "mask": "image_mask",
                  "background": "image_background"}
SAMPLING_SEED = 0  # seed of the ray sampler's draws (unused in deterministic mode, kept for random mode)

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
    skip_empty_space: bool = True  # decode no sample in the latent's empty cells, as the viewer does
    noise_mode: str = "const"  # synthesis noise: const (reproducible), random or none
    truncation_cutoff: int | None = None  # truncate only the first ws (None: all)
    cond_yaw_deg: float = 0.0  # yaw of the camera the mapping is conditioned on (0 = front, as in training)
    cond_pitch_deg: float = 0.0  # pitch of the conditioning camera
    cond_pose_deg: tuple[float, ...] | None = None  # conditioning body pose; None = the rendered pose
    warp_mode: str = "fast"  # body warp for posed renders, one of core.body.warp.WARP_MODES (as the viewer)
    warp_resolution: int = DEFAULT_GRID_RESOLUTION  # nodes per side of the warp grid (fewer: quicker, coarser)
    body_model_path: str | None = None  # SMPL-format body file (None: the shipped stand-in)
    output_size: int | None = None  # resize every output to this many pixels per side (None: native)


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
        self._body = None
        self.scenes = SceneBuilder(generator, self._body_model, ws_capacity=8, trigrid_capacity=2, warp_capacity=4)

    def _body_model(self):
        """The body the warps use, loaded on the first posed view."""
        if self._body is None:
            from core.body import load_body_model  # the loaders are only needed for a pose

            self._body = load_body_model(self.settings.body_model_path, device=self.device)
        return self._body

    def scene_spec(self, latent: LatentKey, pose_deg: tuple[float, ...]) -> SceneSpec:
        """The scene of a view (core.scene): conditioned on `settings.cond_pose_deg`, else the rendered pose."""
        settings = self.settings
        cond_pose = settings.cond_pose_deg if settings.cond_pose_deg is not None else tuple(pose_deg)
        return SceneSpec(seeds=latent.seeds or ((0, 1.0),), latent_file=latent.file, truncation_psi=latent.psi,
                         truncation_cutoff=settings.truncation_cutoff,
                         cond_yaw_deg=settings.cond_yaw_deg, cond_pitch_deg=settings.cond_pitch_deg,
                         cond_pose_deg=cond_pose, camera_convention=settings.camera_convention,
                         noise_mode=settings.noise_mode, pose_deg=tuple(pose_deg), warp_mode=settings.warp_mode,
                         warp_resolution=settings.warp_resolution)

    @torch.inference_mode()
    def render(self, latent: LatentKey, camera: CameraKey, pose_deg: tuple[float, ...] = REST_POSE,
               outputs: tuple[str, ...] = ("image",)) -> dict[str, np.ndarray]:
        """uint8 [H, W, 3] per output name (image, image_raw, image_depth, image_mask, image_background)."""
        spec = self.scene_spec(latent, tuple(float(value) for value in pose_deg))
        ws = self.scenes.ws(spec)
        planes = self.scenes.planes(spec, ws)
        render_camera = camera_from_angles(self.settings.camera_convention, camera.yaw_deg, camera.pitch_deg,
                                           radius=camera.radius, lookat=camera.lookat, focal=camera.focal,
                                           device=self.device)
        sampling = torch.Generator(device=self.device).manual_seed(SAMPLING_SEED)
        occupancy = self.scenes.occupancy(spec, planes) if self.settings.skip_empty_space else None
        result = self.generator.render(
            ws, planes, render_camera, neural_resolution=self.settings.neural_resolution, rendering=self.rendering,
            point_warp=self.scenes.warp(spec), noise_mode=self.settings.noise_mode, generator=sampling,
            outputs=outputs, occupancy=occupancy,
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
