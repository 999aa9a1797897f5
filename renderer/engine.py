"""Renderer: a frozen RenderRequest in, a RenderResult out, with explicit caches per pipeline stage.

Stages and what each is cached on (ARCHITECTURE.md "From a slider to pixels"):
generator per (checkpoint path, modification time, device); then core.scene's builder, the one shared with
core.generate and core.mesh: ws per latent fields, tri-grid per ws, warp per body pose; rays, sampling,
decoding and super-resolution run every time.
Errors of any kind come back as `RenderResult.error` text: the GUI must never see an exception.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F

from core.body import load_body_model, warp_kernel
from core.body.fast_warp import CanonicalFields
from core.body.warp import DEFAULT_GRID_RESOLUTION
from core.camera import camera_from_angles
from core.checkpoint import PRESET_PREFIX, load_discriminator
from core.loading import open_generator
from core.display import to_display_image
from core.budget import MAX_NEURAL_RESOLUTION, MAX_SAMPLES_PER_RAY
from core.cache import LruCache
from core.device import resolve_device
from core.latents import z_from_seed
from core.invert.latent_file import file_signature
from core.scene import SceneBuilder, SceneSpec
from core.networks import softplus_kernel, winograd
from core.rendering import gather_kernel
from renderer.body_products import body_mesh_product
from renderer.errors import RenderError, describe_error, is_out_of_memory  # noqa: F401 (re-exported)
from renderer.inspect_products import INSPECT_PRODUCTS, inspect_products
from renderer.products import BODY_MESH
from renderer.requests import RenderRequest, RenderResult

# Seed of the sampling draws when a request asks for deterministic rendering.
SAMPLING_SEED = 0
# Rays per chunk of a refinement render: a newer request interrupts it within one chunk.
REFINE_CHUNK_RAYS = 1024
# Nodes per side of the warp grid below which a preview does not go.
MIN_PREVIEW_WARP_GRID = 16
# Optional products a request may name in `extras`.
EXTRA_PRODUCTS = ("predicted_pose", "image_pose", *INSPECT_PRODUCTS, BODY_MESH)
# A preview whose super-resolution is expected to take longer than this shows the raw neural image, scaled up
# (paper-512 on a CPU: ~870 ms of half-size super-resolution against ~125 ms of rays): dragging stays >= 4/s.
PREVIEW_SR_BUDGET_MS = 100.0
# The warm-up thread loads the compiled CPU loops after the first frame, or after this long without one.
FIRST_FRAME_WAIT_S = 30.0
TIMING_STAGES = ("mapping", "trigrid", "warp", "occupancy", "rendering", "superresolution", "total")


@dataclasses.dataclass(frozen=True, eq=False)
class _LoadedModel:
    """A generator ready to render, with what the GUI shows about it."""

    key: tuple  # (checkpoint, modification time in ns, device): a changed file is a new model
    generator: torch.nn.Module  # TriGridGenerator in eval mode
    info: dict  # RenderResult.model_info
    discriminator: torch.nn.Module | None = None  # D_ema when the file keeps one: reads the pose of an image
    scenes: SceneBuilder | None = None  # this model's cached ws, tri-grids and warps (set by the renderer)


@dataclasses.dataclass(frozen=True, eq=False)
class Scene:
    """What a request's pixels are made from: shared by the main render, its extras and background jobs."""

    model: _LoadedModel  # the loaded generator and its key
    generator: torch.nn.Module  # model.generator
    ws: torch.Tensor  # [1, num_ws, w_dim]
    planes: torch.Tensor  # [1, 3, C*D, H, W] the tri-grid of ws
    point_warp: Callable | None  # observation -> canonical warp of the request's pose; None at rest
    device: torch.device  # where the tensors live
    occupancy: Callable | None = None  # empty-space skipping's canonical grid; None = decode every sample
    background: torch.Tensor | None = None  # the background network's features of ws; None = made per render


class Renderer:
    """Renders requests on `device` (used when a request leaves `device` empty).

    `body_model_path`: the SMPL-format file the warps use (None = the shipped stand-in);
    `warp_grid_resolution`: nodes per side of the cached warp grid (None = the body module's default);
    previews of a pose whose full grid is not built yet use a grid of half that resolution.
    """

    def __init__(self, device: str | torch.device = "cpu", body_model_path: str | Path | None = None,
                 warp_grid_resolution: int | None = None):
        self.default_device = str(device)
        self.body_model_path = body_model_path
        self.warp_grid_resolution = warp_grid_resolution
        self.stats: dict[str, int] = {}  # "<cache>_hits" / "<cache>_misses" for generator, ws, trigrid, warp
        self._generators = LruCache("generator", 1, self.stats)  # one model at a time: they can be large
        self._bodies = LruCache("body", 2, self.stats)
        self._views = LruCache("view", 2, self.stats)  # the shown image of deterministic requests
        self.inspect_cache = LruCache("inspect", 8, self.stats)  # PCA bases and slice overlays (inspect_products)
        self.preview_sr_budget_ms = PREVIEW_SR_BUDGET_MS
        self._preview_sr_ms: dict[tuple, float] = {}  # per model: what a preview's super-resolution is expected to take
        self.lock = threading.RLock()  # background jobs share the caches with the render loop
        self._frame_done = threading.Event()  # set by the first render: the warm-up threads wait for it
        self._warm_threads = 0  # warm-up threads still running (a model's body fields, compiled loops)
        self._warm_lock = threading.Lock()

    def render(self, request: RenderRequest, stamp: int = 0,
               superseded: Callable[[], bool] | None = None) -> RenderResult:
        """The frame for `request`; never raises (errors are returned as `RenderResult.error`).

        `superseded()` (the worker: a newer request waits) interrupts a refinement render between ray chunks;
        its result is then an error the client drops as stale."""
        start = time.perf_counter()
        try:
            with self.lock:
                image, timings, model_info, extras, raw = self._render(request, superseded)
        except Exception as error:  # noqa: BLE001 - the contract is errors as data, whatever they are
            if is_out_of_memory(error):
                self._forget_tensors()
            total = (time.perf_counter() - start) * 1e3
            return RenderResult(stamp, request, error=describe_error(error), timings_ms={"total": total})
        finally:
            self._frame_done.set()
        timings["total"] = (time.perf_counter() - start) * 1e3
        return RenderResult(stamp, request, image=image, timings_ms=timings, model_info=model_info, extras=extras,
                            raw_preview=raw, warming_up=self.warming_up)

    @property
    def warming_up(self) -> bool:
        """True while a loaded model's warm-up thread still runs (it shares the CPU with the frames)."""
        return self._warm_threads > 0

    def scene(self, request: RenderRequest, timings: dict[str, float] | None = None) -> Scene:
        """The model, ws, tri-grid and warp of `request`, from the caches when they hold them (raises on errors)."""
        with self.lock:
            device = _device(request.device or self.default_device)
            timings = timings if timings is not None else {stage: 0.0 for stage in TIMING_STAGES}
            model_key = _model_key(request.checkpoint, device)
            model = self._generators.get_or_create(
                model_key, lambda: self._loaded(request.checkpoint, model_key, device))
            generator, builder = model.generator, model.scenes
            spec = scene_spec(request, self.warp_grid_resolution or DEFAULT_GRID_RESOLUTION)
            if request.preview and spec.warp_mode == "grid" and not builder.has_warp(spec):
                # Dragging a pose slider: a coarser grid builds several times faster; the full one follows at rest.
                coarse = min(spec.warp_resolution, max(MIN_PREVIEW_WARP_GRID, spec.warp_resolution // 2))
                spec = spec.replace(warp_resolution=coarse)
            with torch.inference_mode():
                with _stopwatch(timings, "mapping", device):
                    ws = builder.ws(spec)
                # Skipping pays off once a tri-grid is shown again (a camera move): the first frame of a new
                # latent or conditioning pose (a pose drag) does not wait for an occupancy grid.
                reused = request.trigrid_cache and builder.has_trigrid(spec)
                with _stopwatch(timings, "trigrid", device):
                    planes = builder.planes(spec, ws, cache=request.trigrid_cache)
                    background = builder.background(spec, ws, cache=request.trigrid_cache)
                with _stopwatch(timings, "warp", device):
                    point_warp = builder.warp(spec)
                with _stopwatch(timings, "occupancy", device):
                    occupancy = builder.occupancy(spec, planes) if request.skip_empty_space and reused else None
            return Scene(model, generator, ws, planes, point_warp, device, occupancy, background)

    def _loaded(self, checkpoint: str, key: tuple, device: torch.device) -> _LoadedModel:
        """Load a model and build its body's fast-warp fields on a thread, so the first pose is quick too."""
        model = _load_model(checkpoint, key, device)
        object.__setattr__(model, "scenes", SceneBuilder(model.generator, lambda: self.body(device, model), self.stats))
        config = model.generator.config

        def warm() -> None:
            try:  # its own body instance: the caches of this class are not shared with threads
                paper_size = winograd.used_by(config)
                if device.type == "cpu" and paper_size:
                    winograd.prepare()  # a paper-size model's first frame already takes its wide convolutions
                body = load_body_model(self.body_path(model), device=device)
                CanonicalFields.for_body(body, config.thickness, config.rendering.box_warp)
                if device.type == "cpu":
                    # Loading compiled loops holds the GIL for ~1 s: not beside a quick first frame (the default's
                    # took 1.0-2.1 s instead of 0.5-1.0 s); lookups use the torch operations until then. A
                    # paper-size model's first frame takes seconds: they load beside it, ready for the next latent.
                    if not paper_size and not self._wait_for_first_frame():
                        return
                    gather_kernel.prepare()  # lookups take the compiled corner loop from now on
                    softplus_kernel.prepare()  # and decoders the compiled bias and softplus
                    warp_kernel.prepare()
            except Exception:  # noqa: BLE001 - a posed render will build them again and report the error
                pass
            finally:
                with self._warm_lock:
                    self._warm_threads -= 1

        with self._warm_lock:
            self._warm_threads += 1
        # Not a daemon: an interpreter that exits while torch runs on a daemon thread aborts ("terminate called").
        threading.Thread(target=warm, name="warp-fields", daemon=False).start()
        return model

    def _wait_for_first_frame(self) -> bool:
        """Until the first render finished (or FIRST_FRAME_WAIT_S passed): True; False when the process ends first
        (its main thread is done: this non-daemon thread must not hold the exit up)."""
        deadline = time.monotonic() + FIRST_FRAME_WAIT_S
        while not self._frame_done.wait(0.2):
            if not threading.main_thread().is_alive():
                return False
            if time.monotonic() > deadline:
                break
        return True

    def body_path(self, model: _LoadedModel | None = None) -> str | None:
        """The body file the warps use: the renderer's own, else the one the model was trained with."""
        if self.body_model_path is not None:
            return str(self.body_model_path)
        return model.info.get("body_path") if model is not None else None

    def body(self, device: torch.device, model: _LoadedModel | None = None):
        """The body model the warps use (see `body_path`), loaded once per file and device."""
        path = self.body_path(model)
        return self._bodies.get_or_create((str(path), str(device)), lambda: load_body_model(path, device=device))

    def _render(self, request: RenderRequest,
                superseded: Callable[[], bool] | None = None) -> tuple[Any, dict[str, float], dict, dict, bool]:
        timings = {stage: 0.0 for stage in TIMING_STAGES}
        scene = self.scene(request, timings)
        with torch.inference_mode():
            # Deterministic pixels depend only on the request without its extras: asking for another extra
            # (or moving a slice) reuses the shown image instead of marching the rays again.
            # A latent file counts by its contents' signature too: a rewritten file is not the shown view.
            latent = file_signature(request.latent_file) if request.latent_file is not None else None
            view_key = ((scene.model.key, latent, request.replace(extras=(), inspect=None)) if request.deterministic
                        else None)
            if view_key is not None and view_key in self._views:
                image, _, raw = self._views.get_or_create(view_key, lambda: None)
                stage_ms = {"rendering": 0.0, "superresolution": 0.0}  # nothing was marched this time
            else:
                raw = self._raw_preview(scene, request)
                output = self._render_view(scene, request, outputs=("image_raw",) if raw else None,
                                           superseded=superseded)
                stage_ms = {stage: float(output.timings_ms.get(stage, 0.0))
                            for stage in ("rendering", "superresolution")}
                if raw:  # the neural image at the size the full frame has, so the view does not jump
                    shown = F.interpolate(output.image_raw, size=(scene.generator.config.img_resolution,) * 2,
                                          mode="bilinear", align_corners=False)
                else:
                    shown = getattr(output, request.output)
                    self._note_sr_cost(scene, request, stage_ms["superresolution"])
                image = to_display_image(shown, request.output)
                if view_key is not None:
                    self._views.get_or_create(view_key, lambda: (image, stage_ms, raw))
            timings.update(stage_ms)
            extras = self._extra_products(scene, request, image.shape[:2])
        return image, timings, dict(scene.model.info), extras, raw

    def _raw_preview(self, scene: Scene, request: RenderRequest) -> bool:
        """True when this preview should skip super-resolution: its expected cost is over the budget."""
        expected = self._preview_sr_ms.get(scene.model.key)
        return (request.preview and request.output == "image" and expected is not None
                and expected > self.preview_sr_budget_ms)

    def _note_sr_cost(self, scene: Scene, request: RenderRequest, sr_ms: float) -> None:
        """Remember what a preview's super-resolution costs, from a preview or a full frame that ran one."""
        if request.output != "image" or request.refinement or sr_ms <= 0:
            return
        config = scene.generator.config
        # A full frame's cost scaled by the pixels a preview's super-resolution runs on.
        share = 1.0 if request.preview else ((preview_sr_input(config) or config.sr_input_resolution)
                                             / config.sr_input_resolution) ** 2
        self._preview_sr_ms[scene.model.key] = sr_ms * share

    def view_settings(self, generator, request: RenderRequest, device: torch.device):
        """(neural resolution, RenderingConfig, camera [1, 25]) of the request's main render."""
        config = generator.config
        neural_resolution = request.neural_resolution or config.neural_resolution
        depth_samples = request.depth_samples or config.rendering.depth_resolution
        importance_samples = request.importance_samples or config.rendering.depth_resolution_importance
        if request.preview:
            # While dragging: half the rays per side and half the samples per ray, about 8x cheaper (and a
            # half-size super-resolution, see _render_view).
            neural_resolution = max(8, neural_resolution // 2)
            depth_samples = max(4, depth_samples // 2)
            importance_samples = max(4, importance_samples // 2)
        if request.refinement >= 1:  # idle: twice the samples per ray, then also twice the rays per side
            depth_samples = min(MAX_SAMPLES_PER_RAY, 2 * depth_samples)
            importance_samples = min(MAX_SAMPLES_PER_RAY, 2 * importance_samples)
        if request.refinement >= 2:
            neural_resolution = min(MAX_NEURAL_RESOLUTION, 2 * neural_resolution)
        rendering = dataclasses.replace(
            config.rendering, depth_resolution=depth_samples,
            depth_resolution_importance=importance_samples, deterministic=request.deterministic,
            importance_sampler=request.importance_sampler or config.rendering.importance_sampler,
        )
        camera = camera_from_angles(request.camera_convention, request.yaw_deg, request.pitch_deg,
                                    radius=request.radius, lookat=request.lookat, focal=request.focal, device=device)
        return neural_resolution, rendering, camera

    def _render_view(self, scene: Scene, request: RenderRequest, outputs: tuple[str, ...] | None = None,
                     superseded: Callable[[], bool] | None = None):
        """Rays, sampling, decoding, marching and super-resolution for the request's camera; a refinement
        marches in small chunks so that `superseded()` can stop it soon after a newer request arrives."""
        refining = request.refinement > 0
        neural_resolution, rendering, camera = self.view_settings(scene.generator, request, scene.device)
        sampling = torch.Generator(device=scene.device).manual_seed(SAMPLING_SEED) if request.deterministic else None
        sr_input = preview_sr_input(scene.generator.config) if request.preview else None
        return scene.generator.render(
            scene.ws, scene.planes, camera, neural_resolution=neural_resolution, rendering=rendering,
            point_warp=scene.point_warp, noise_mode=request.noise_mode, generator=sampling,
            outputs=outputs or (request.output,), occupancy=scene.occupancy,
            cancel=superseded if refining else None, max_rays_per_chunk=REFINE_CHUNK_RAYS if refining else None,
            sr_input_resolution=sr_input, background=scene.background,
        )

    def _extra_products(self, scene: Scene, request: RenderRequest, shown_size: tuple[int, int]) -> dict[str, Any]:
        """The optional products named in `request.extras`; unknown names go to "unsupported", failures to "errors"."""
        extras: dict[str, Any] = {}
        if "predicted_pose" in request.extras:
            if request.latent_file is not None:  # the pose branch reads z, which an inverted latent does not have
                extras.setdefault("errors", {})["predicted_pose"] = (
                    "an inverted latent has no z for G's pose branch; its file holds the pose it was found at")
            else:
                extras["predicted_pose"] = predicted_pose_deg(scene.generator, request, scene.device)
        if "image_pose" in request.extras:
            try:
                extras["image_pose"] = self._image_pose_deg(scene, request)
            except RenderError as error:
                extras.setdefault("errors", {})["image_pose"] = str(error)
        if any(name in INSPECT_PRODUCTS for name in request.extras):
            extras.update(inspect_products(self, scene, request, shown_size))
        if BODY_MESH in request.extras:
            try:
                extras[BODY_MESH] = body_mesh_product(self, scene, request)
            except Exception as error:  # noqa: BLE001 - the overlay's failure must not cost the user the render
                extras.setdefault("errors", {})[BODY_MESH] = describe_error(error)
        unsupported = [name for name in request.extras if name not in EXTRA_PRODUCTS]
        if unsupported:
            extras["unsupported"] = unsupported
        return extras

    def _image_pose_deg(self, scene: Scene, request: RenderRequest) -> tuple[float, ...]:
        """D_ema's reading of the shown view (neck xyz, head xyz, degrees), from image, raw image and mask."""
        discriminator = scene.model.discriminator
        if discriminator is None:
            raise RenderError("this checkpoint keeps no discriminator, so nothing can read the pose of an image; "
                              "export one with `python -m core.checkpoint export SNAPSHOT --out FILE "
                              "--with-discriminator`")
        camera = self.view_settings(scene.generator, request, scene.device)[2]
        with torch.inference_mode():  # the shown view, rendered as the main render is
            output = self._render_view(scene, request, ("image", "image_raw", "image_mask"))
            pose = discriminator(output.image, output.image_raw, output.image_mask, camera).pose[0]
        return tuple(math.degrees(value) for value in pose.tolist())

    def release_memory(self) -> None:
        """Drop the cached tensors (after a job ran out of memory), safely beside a running render."""
        with self.lock:
            self._forget_tensors()

    def _forget_tensors(self) -> None:
        """After running out of memory: drop cached tensors so that the next request has room."""
        for cache in (self._views, self.inspect_cache):
            cache.clear()
        for model in self._generators.values():  # the model stays loaded; its ws, tri-grids and warps go
            model.scenes.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def preview_sr_input(config) -> int | None:
    """The input size a preview's super-resolution runs at: half (a quarter of its cost, the output scaled up to
    the image size), or None (the full size) for models with noise, whose const and random maps have the full size."""
    return max(8, config.sr_input_resolution // 2) if config.sr_noise_mode == "none" else None


def scene_spec(request: RenderRequest, warp_resolution: int) -> SceneSpec:
    """The request's scene (core.scene): latents, conditioning (the rendered pose unless another is named),
    noise, body pose and warp."""
    cond_pose = request.cond_pose_deg if request.cond_pose_deg is not None else request.pose_deg
    return SceneSpec(seeds=request.seeds, latent_file=request.latent_file, truncation_psi=request.truncation_psi,
                     truncation_cutoff=request.truncation_cutoff, stylemix_seed=request.stylemix_seed,
                     stylemix_layers=request.stylemix_layers, cond_yaw_deg=request.cond_yaw_deg,
                     cond_pitch_deg=request.cond_pitch_deg, cond_pose_deg=cond_pose,
                     camera_convention=request.camera_convention, noise_mode=request.noise_mode,
                     pose_deg=request.pose_deg, warp_mode=request.warp_mode, warp_resolution=warp_resolution)


def conditioning_camera(request: RenderRequest, device: torch.device) -> torch.Tensor:
    """[1, 25]: the request's conditioning yaw/pitch at the default radius, pivot and focal, in its convention."""
    return camera_from_angles(request.camera_convention, request.cond_yaw_deg, request.cond_pitch_deg, device=device)


def _model_key(checkpoint: str, device: torch.device) -> tuple:
    """(checkpoint or resolved path, modification time in ns, device): a rewritten file is a new model."""
    if checkpoint.startswith(PRESET_PREFIX):
        return (checkpoint, 0, str(device))
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise RenderError(f"{path}: no such checkpoint file; choose an existing .pt file or a preset:<name>")
    return (str(path.resolve()), path.stat().st_mtime_ns, str(device))


def _load_model(checkpoint: str, key: tuple, device: torch.device) -> _LoadedModel:
    """Build a preset model (random weights, fixed seed) or load G_ema from a checkpoint file."""
    # A file is opened by its resolved path (key[0]); a preset spec stays as it is.
    generator, metadata, trained = open_generator(key[0], device)
    config = generator.config
    info = {
        "checkpoint": checkpoint, "preset": metadata.get("preset"), "trained": trained,
        "resolution": config.img_resolution, "neural_resolution": config.neural_resolution,
        "kimg": metadata.get("kimg"), "dataset": metadata.get("dataset"), "device": str(device),
        "num_ws": int(generator.num_ws), "note": metadata.get("note", ""), "body_path": metadata.get("body_path"),
        "importance_sampler": config.rendering.importance_sampler,
    }
    discriminator = None if checkpoint.startswith(PRESET_PREFIX) else load_discriminator(key[0], device)
    info["discriminator"] = discriminator is not None
    return _LoadedModel(key, generator, info, discriminator)


def _device(name: str) -> torch.device:
    """The request's device (core.device: "auto" is cuda when available); a bad name is a RenderError."""
    try:
        return resolve_device(name)
    except ValueError as error:
        raise RenderError(str(error)) from None


@contextmanager
def _stopwatch(timings: dict[str, float], stage: str, device: torch.device) -> Iterator[None]:
    """Adds the wall-clock milliseconds of the block to `timings[stage]` (GPU work included)."""
    start = time.perf_counter()
    yield
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    timings[stage] += (time.perf_counter() - start) * 1e3


def predicted_pose_deg(generator, request: RenderRequest, device: torch.device) -> tuple[float, ...]:
    """The pose branch's guess (neck xyz, head xyz, degrees) for the strongest seed under the conditioning camera."""
    seed = max(request.seeds, key=lambda pair: pair[1])[0]
    z = z_from_seed(seed, generator.config.z_dim, device)
    camera = conditioning_camera(request, device)
    pose = generator.predict_pose(z, camera)[0]
    return tuple(math.degrees(value) for value in pose.tolist())
