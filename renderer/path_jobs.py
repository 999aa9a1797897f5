"""Path-render jobs of the render worker: a keyframe path written to MP4/GIF with progress and cancel.

A `PathRenderJob` is a job kind of renderer/jobs.py's `JobRunner` (it carries its own `run`), so it shares
the worker's queue, statuses and cancel with mesh jobs. The GUI imports this module for the dataclasses;
torch is imported only inside `run`. Frames come from `core.generate.render_path_frames` with the settings
`python -m core.generate video` uses by default, so the file has the command line's pixels
(`command_line()` spells out that equivalent command).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from core.names import VIDEO_SUFFIXES
from core.paths import CameraPath, frame_count, validate_path
from renderer.jobs import PROGRESS_INTERVAL_S, JobStatus
from renderer.requests import RenderRequest

CLI_WARP_RESOLUTION = 64  # the command line's default --warp-resolution


@dataclass(frozen=True)
class PathRenderJob:
    """Render `path` at `fps` for `seconds` into `out_file`, with the model and device of `request`."""

    request: RenderRequest  # model, device, noise, truncation cutoff, warp, conventions, conditioning (camera unused)
    path: CameraPath  # keyframes to film; with latents they choose the identity, else `seeds` do
    out_file: str  # .mp4 or .gif; it appears only when complete (temporary file + rename)
    fps: float = 30.0  # frames per second of the video
    seconds: float | None = None  # length of the video; None = the path's own duration
    resolution: int | None = None  # pixels per side of each frame (MP4: even); None = the model's
    seeds: tuple[int, ...] = (0,)  # identities shown (a grid) when the path carries no latents
    psi: float = 0.7  # truncation of `seeds` when the path carries no latents
    warp_resolution: int = CLI_WARP_RESOLUTION  # warp grid nodes per side for posed frames

    def __post_init__(self) -> None:
        validate_path(self.path)
        suffix = Path(self.out_file).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise ValueError(f"{self.out_file}: the video file must end in {' or '.join(VIDEO_SUFFIXES)}")
        if suffix == ".mp4" and self.resolution is not None and self.resolution % 2:
            raise ValueError(f"{self.out_file}: MP4 needs an even resolution, got {self.resolution}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")
        frame_count(self.path, self.fps, self.seconds)  # a single keyframe without `seconds` has no length

    @property
    def frames(self) -> int:
        """How many frames the video will have."""
        return frame_count(self.path, self.fps, self.seconds)

    def command_line(self, path_file: str) -> list[str]:
        """The `python -m core.generate video` arguments that give the same pixels, with the path saved as
        `path_file`."""
        request = self.request
        arguments = ["python", "-m", "core.generate", "video", "--checkpoint", request.checkpoint,
                     "--device", request.device, "--path", str(path_file), "--fps", f"{self.fps:g}",
                     "--seeds", ",".join(str(seed) for seed in self.seeds), "--psi", f"{self.psi:g}",
                     "--warp", request.warp_mode, "--warp-resolution", str(self.warp_resolution),
                     "--out", self.out_file]
        if self.seconds is not None:
            arguments += ["--seconds", f"{self.seconds:g}"]
        if self.resolution is not None:
            arguments += ["--resolution", str(self.resolution)]
        if request.truncation_cutoff is not None:
            arguments += ["--truncation-cutoff", str(request.truncation_cutoff)]
        settings = job_settings(self)
        # Always said: without --cond-pose the command line conditions each frame on its own pose, the job on one.
        arguments += ["--cond-pose=" + ",".join(f"{value:g}" for value in settings.cond_pose_deg)]
        if request.cond_yaw_deg or request.cond_pitch_deg:
            arguments += [f"--cond-yaw={request.cond_yaw_deg:g}", f"--cond-pitch={request.cond_pitch_deg:g}"]
        if request.camera_convention != "project":
            arguments += ["--camera-convention", request.camera_convention]
        if not request.skip_empty_space:
            arguments += ["--no-skip-empty-space"]
        if request.importance_sampler is not None:
            arguments += ["--importance-sampler", request.importance_sampler]
        return arguments

    def run(self, job_id: int, renderer, send: Callable[[JobStatus], None],
            cancelled: Callable[[], bool]) -> JobStatus:
        """Render the video to its final status (done, cancelled or error); never raises (JobRunner's contract)."""
        return run_path_job(job_id, self, renderer, send, cancelled)


@dataclass(frozen=True)
class PathRenderProducts:
    """What a finished path render hands back to the GUI."""

    file: str  # the video written
    frames: int  # frames in it
    timings_ms: dict[str, float] = field(default_factory=dict)  # model (loading), frames (rendering and encoding)


def run_path_job(job_id: int, job: PathRenderJob, renderer, send: Callable[[JobStatus], None],
                 cancelled: Callable[[], bool]) -> JobStatus:
    """Render `job` with `renderer`'s cached model; progress goes to `send`, `cancelled()` is checked per frame."""
    from core.generate import RenderCancelled  # lazy: the GUI imports this module, torch stays out

    if cancelled():
        return JobStatus(job_id, "cancelled", message="cancelled before it started")
    done_fraction = [0.0]
    last_sent = [0.0]

    def progress(done: int, total: int) -> None:
        done_fraction[0] = done / total
        now = time.monotonic()
        if done == total or now - last_sent[0] >= PROGRESS_INTERVAL_S:
            last_sent[0] = now
            send(JobStatus(job_id, "running", done_fraction[0], message=f"frame {done} of {total}"))

    send(JobStatus(job_id, "running", 0.0, message="preparing the model"))
    try:
        products = render_video(job, renderer, progress, cancelled)
    except RenderCancelled as stop:
        return JobStatus(job_id, "cancelled", done_fraction[0],
                         message=f"cancelled after {stop.frames_done} of {job.frames} frames; no file written")
    except Exception as error:  # noqa: BLE001 - a failed job is reported; the worker keeps serving renders
        from renderer.errors import describe_error  # here: the GUI imports this module, torch stays out
        return JobStatus(job_id, "error", done_fraction[0], error=f"path render: {describe_error(error)}")
    return JobStatus(job_id, "done", 1.0, message=f"{products.frames} frames written to {products.file}",
                     result=products)


def job_settings(job: PathRenderJob):
    """How the video's frames are rendered: full quality, deterministic, and conditioned as the viewer was when
    the job started (its conditioning pose, else its shown pose, fixed for the whole video so that the identity
    does not drift), so a keyframe of the viewer's state films the pixels the viewer showed."""
    from core.generate import RenderSettings  # lazy: the GUI imports this module, torch stays out

    request = job.request
    cond_pose = request.cond_pose_deg if request.cond_pose_deg is not None else request.pose_deg
    return RenderSettings(truncation_cutoff=request.truncation_cutoff, warp_mode=request.warp_mode,
                          warp_resolution=job.warp_resolution, cond_pose_deg=tuple(cond_pose),
                          cond_yaw_deg=request.cond_yaw_deg, cond_pitch_deg=request.cond_pitch_deg,
                          noise_mode=request.noise_mode, output_size=job.resolution,
                          camera_convention=request.camera_convention, importance_sampler=request.importance_sampler,
                          skip_empty_space=request.skip_empty_space)


def render_video(job: PathRenderJob, renderer, progress: Callable[[int, int], None],
                 cancelled: Callable[[], bool]) -> PathRenderProducts:
    """Write the video of `job` atomically; raises RenderCancelled (no file left behind) or the error."""
    from core.generate import VideoWriter, render_path_frames  # lazy: the GUI imports this module, torch stays out

    start = time.perf_counter()
    generator = renderer.scene(job.request).generator  # the worker's cached model: no second copy in memory
    loaded = time.perf_counter()
    settings = job_settings(job)
    with VideoWriter(Path(job.out_file).expanduser(), job.fps) as writer:
        render_path_frames(generator, job.path, job.fps, job.seconds, seeds=job.seeds, psi=job.psi,
                           settings=settings, progress=progress, cancel=cancelled, frame_sink=writer.append)
    finished = time.perf_counter()
    return PathRenderProducts(str(writer.file), writer.frames_written,
                              {"model": (loaded - start) * 1e3, "frames": (finished - loaded) * 1e3})
