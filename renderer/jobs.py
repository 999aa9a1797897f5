"""Background jobs of the render worker: mesh extraction and export, with progress and a cancel that works mid-job.

The GUI process imports this module for the job and status dataclasses, so torch is imported only inside
the functions that run the job. A `JobRunner` runs jobs one after another on a thread beside the render
loop (in the worker process, or in-process for the inline client): renders keep being served while a job
runs, the two share the CPU or GPU, and the renderer's lock is held only while the job looks up its
model, ws, tri-grid and warp. Statuses go out through a `send` callback as plain dataclasses with numpy
arrays, which pickle across the process boundary.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from renderer.requests import RenderRequest

JOB_STATES = ("queued", "running", "done", "cancelled", "error")
FINISHED_STATES = ("done", "cancelled", "error")
MESH_SPACES = ("canonical", "posed")  # the rest-pose shape, or the shape the request's body pose warps
MESH_FILE_FORMATS = (".ply", ".obj", ".glb")  # mesh files the export writes (core.mesh.export_mesh)
PROGRESS_INTERVAL_S = 0.1  # at most this often a running job sends a progress status
EXTRACTION_SHARE = 0.95  # fraction of the progress bar given to extraction; the rest is writing files


@dataclass(frozen=True)
class MeshJob:
    """Extract (and optionally export) the iso-surface of the density of `request`'s model and latent."""

    request: RenderRequest  # model, latents, noise, body pose and warp mode the mesh is made from (camera unused)
    space: str = "canonical"  # one of MESH_SPACES
    resolution: int = 128  # grid samples per side (64-512 are sensible; memory and time grow with the cube)
    level: float = 10.0  # iso-level on raw sigma (core.mesh.generator_mesh explains the unit)
    crop: bool = True  # apply the renderer's side-wall crop to the field, as the renders do
    colors: bool = True  # vertex colours from the generator's raw ToRGB
    grid_smoothing: float = 0.0  # Gaussian sigma in voxels applied to the grid before marching cubes
    taubin_steps: int = 0  # Taubin smoothing steps applied to the mesh afterwards
    out_dir: str | None = None  # folder the files are written to; None = no files, only the arrays
    stem: str = "mesh"  # file name without suffix: <stem>.ply, <stem>_grid.npy
    formats: tuple[str, ...] = (".ply",)  # mesh files to write, from MESH_FILE_FORMATS
    save_grid: bool = False  # also write the raw density grid as <stem>_grid.npy (float32, indexed [x, y, z])
    memory_budget: int | None = None  # bytes the density grid may take; None = default_memory_budget()

    def __post_init__(self) -> None:
        if self.space not in MESH_SPACES:
            raise ValueError(f"MeshJob.space is {self.space!r}; choose one of {', '.join(MESH_SPACES)}")
        object.__setattr__(self, "formats", tuple(str(suffix).lower() for suffix in self.formats))
        unknown = [suffix for suffix in self.formats if suffix not in MESH_FILE_FORMATS]
        if unknown:
            raise ValueError(f"MeshJob.formats {unknown} unknown; use some of {', '.join(MESH_FILE_FORMATS)}")
        if int(self.resolution) < 2:
            raise ValueError(f"MeshJob.resolution must be at least 2, got {self.resolution}")
        if (self.formats or self.save_grid) and self.out_dir is None:
            raise ValueError("MeshJob writes files (formats or save_grid) but out_dir is None; give a folder")
        if not self.stem or Path(self.stem).name != self.stem:
            raise ValueError(f"MeshJob.stem {self.stem!r} must be a plain file name without folders")

    def replace(self, **changes: Any) -> "MeshJob":
        """A copy with some fields changed (validated like a new job)."""
        return dataclasses.replace(self, **changes)

    def run(self, job_id: int, renderer, send: Callable[[JobStatus], None],
            cancelled: Callable[[], bool]) -> JobStatus:
        """Extract and export to the final status (done, cancelled or error); never raises (JobRunner's contract)."""
        return run_job(job_id, self, renderer, send, cancelled)


@dataclass(frozen=True, eq=False)
class MeshProducts:
    """What a finished mesh job hands the GUI: arrays for its GL mesh view and the files written."""

    vertices: np.ndarray  # [V, 3] float32 world units (observation space for posed meshes)
    faces: np.ndarray  # [F, 3] int32, counter-clockwise seen from outside
    colors: np.ndarray | None  # [V, 3] uint8, or None when not asked for
    paths: tuple[str, ...]  # files written (meshes, then the grid)
    level: float  # the iso-level used
    value_range: tuple[float, float]  # raw sigma range of the grid inside the crop, for choosing another level
    timings_ms: dict[str, float] = field(default_factory=dict)  # grid, marching_cubes, smoothing, colors, export


@dataclass(frozen=True, eq=False)
class JobStatus:
    """Where one job stands; the last status of a job has a state in FINISHED_STATES."""

    job_id: int  # the id `RenderClient.start_job` returned
    state: str  # one of JOB_STATES
    fraction: float = 0.0  # progress from 0 to 1
    message: str = ""  # what it is doing, in words for a status line
    error: str | None = None  # why it failed, with what to change (state "error")
    result: Any = None  # the products of state "done": MeshProducts for a MeshJob, the job kind's own otherwise

    @property
    def finished(self) -> bool:
        """True when the job will send no further status."""
        return self.state in FINISHED_STATES


class JobCancelled(Exception):
    """The job's cancel flag was seen between two steps."""


class JobRunner:
    """Runs jobs one at a time on a daemon thread; statuses go to `send(JobStatus)`.

    A job is any picklable object with `run(job_id, renderer, send, cancelled) -> JobStatus` (final status,
    never raising): MeshJob here, PathRenderJob in renderer/path_jobs.py.

    `renderer()` returns the Renderer whose caches and lock the jobs share with the render loop.
    """

    def __init__(self, renderer: Callable[[], Any], send: Callable[[JobStatus], None]):
        self._renderer = renderer
        self._send = send
        self._waiting: queue.Queue = queue.Queue()
        self._cancel_flags: dict[int, threading.Event] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, job_id: int, job: Any) -> None:
        """Queue `job` under `job_id`; it starts when the jobs before it have finished."""
        with self._lock:
            self._cancel_flags[job_id] = threading.Event()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="render-jobs", daemon=True)
                self._thread.start()
        self._send(JobStatus(job_id, "queued", message="waiting for the jobs before it"))
        self._waiting.put((job_id, job))

    def cancel(self, job_id: int) -> None:
        """Ask the job to stop: a queued job never starts, a running one stops at its next chunk."""
        with self._lock:
            flag = self._cancel_flags.get(job_id)
        if flag is not None:
            flag.set()

    def close(self) -> None:
        """Cancel every job and let the thread end."""
        with self._lock:
            for flag in self._cancel_flags.values():
                flag.set()
        self._waiting.put(None)

    def _serve(self) -> None:
        while True:
            item = self._waiting.get()
            if item is None:
                return
            job_id, job = item
            with self._lock:
                flag = self._cancel_flags[job_id]
            try:
                final = job.run(job_id, self._renderer(), self._send, flag.is_set)
            except Exception as error:  # noqa: BLE001 - a job kind that breaks its contract must not stop the queue
                final = JobStatus(job_id, "error",
                                  error=f"{type(job).__name__} failed: {type(error).__name__}: {error}")
            self._send(final)
            with self._lock:
                self._cancel_flags.pop(job_id, None)


def run_job(job_id: int, job: MeshJob, renderer, send: Callable[[JobStatus], None],
            cancelled: Callable[[], bool]) -> JobStatus:
    """Run `job` to its final status (done, cancelled or error); never raises."""
    from core.mesh import GridTooLargeError, MeshCancelled  # lazy: the GUI imports this module, torch stays out

    if not isinstance(job, MeshJob):
        return job.run(job_id, renderer, send, cancelled)  # other job kinds (renderer/path_jobs.py) run themselves
    if cancelled():
        return JobStatus(job_id, "cancelled", message="cancelled before it started")
    reporter = _ProgressReporter(job_id, send)
    reporter(0.0, "preparing the model", force=True)
    try:
        products = extract_and_export(job, renderer, reporter, cancelled)
    except (JobCancelled, MeshCancelled):
        return JobStatus(job_id, "cancelled", reporter.fraction, message="cancelled")
    except GridTooLargeError as error:
        return JobStatus(job_id, "error", error=f"mesh job: {error}")
    except Exception as error:  # noqa: BLE001 - a failed job is reported; the worker keeps serving renders
        if isinstance(error, MemoryError):
            renderer.release_memory()  # the next render must have room
            return JobStatus(job_id, "error", error=f"mesh job ran out of memory ({error}); lower the resolution")
        from renderer.errors import describe_error  # here: the GUI imports this module, torch stays out
        return JobStatus(job_id, "error", error=f"mesh job: {describe_error(error)}")
    return JobStatus(job_id, "done", 1.0, message=f"{len(products.vertices)} vertices, {len(products.faces)} faces",
                     result=products)


def extract_and_export(job: MeshJob, renderer, report: Callable[..., None],
                       cancelled: Callable[[], bool]) -> MeshProducts:
    """The mesh of `job` as numpy arrays, its files written atomically; raises on cancel and on errors."""
    # lazy: the GUI imports this module, torch stays out
    import torch
    from core.mesh import MeshOptions, export_mesh, generator_mesh, save_grid
    from core.mesh.grid import check_grid_budget, default_memory_budget
    from core.rendering.volume import CROPPED_SIGMA

    budget = job.memory_budget or default_memory_budget()
    check_grid_budget(job.resolution, budget)  # before loading anything: a too-large job fails at once
    scene = renderer.scene(job.request)
    point_warp = scene.point_warp if job.space == "posed" else None
    options = MeshOptions(resolution=int(job.resolution), level=float(job.level), crop=job.crop, colors=job.colors,
                          grid_smoothing=job.grid_smoothing, taubin_steps=job.taubin_steps, memory_budget=budget)
    report(0.0, f"extracting a {job.resolution}^3 {job.space} mesh", force=True)
    with torch.inference_mode():
        mesh = generator_mesh(scene.generator, scene.planes, scene.ws, options, point_warp=point_warp,
                              progress=lambda fraction: report(EXTRACTION_SHARE * fraction, "extracting"),
                              cancel=cancelled)
    inside = mesh.grid[mesh.grid > CROPPED_SIGMA]  # the cropped walls carry no information about the level
    value_range = (float(inside.min()), float(inside.max())) if inside.size else (float("nan"),) * 2
    if len(mesh.faces) == 0:
        raise ValueError(f"no surface at level {job.level:g}: the raw density ranges from {value_range[0]:.3f} to "
                         f"{value_range[1]:.3f}; choose a level inside that range")
    if cancelled():
        raise JobCancelled()
    timings = dict(mesh.timings_ms)
    start = time.perf_counter()
    paths: list[str] = []
    if job.out_dir is not None:
        folder = Path(job.out_dir).expanduser()
        for suffix in job.formats:
            report(EXTRACTION_SHARE, f"writing {job.stem}{suffix}", force=True)
            paths.append(str(export_mesh(folder / f"{job.stem}{suffix}", mesh.vertices, mesh.faces, mesh.colors)))
            if cancelled():
                raise JobCancelled()
        if job.save_grid:
            report(EXTRACTION_SHARE, f"writing {job.stem}_grid.npy", force=True)
            paths.append(str(save_grid(folder / f"{job.stem}_grid.npy", mesh.grid)))
    timings["export"] = (time.perf_counter() - start) * 1e3
    return MeshProducts(mesh.vertices.astype(np.float32), mesh.faces.astype(np.int32), mesh.colors, tuple(paths),
                        float(mesh.level), value_range, timings)


class _ProgressReporter:
    """Sends "running" statuses, at most every PROGRESS_INTERVAL_S unless forced (a chunk loop is fast)."""

    def __init__(self, job_id: int, send: Callable[[JobStatus], None]):
        self.job_id = job_id
        self.send = send
        self.fraction = 0.0
        self._last_sent = 0.0

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        self.fraction = float(fraction)
        now = time.monotonic()
        if force or now - self._last_sent >= PROGRESS_INTERVAL_S:
            self._last_sent = now
            self.send(JobStatus(self.job_id, "running", self.fraction, message=message))

