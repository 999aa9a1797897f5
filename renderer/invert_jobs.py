"""Photo-inversion jobs of the render worker: fit a photo into the shown model with live progress and stop.

An `InvertJob` is a job kind of renderer/jobs.py's `JobRunner` (it carries its own `run`), beside mesh and
path jobs: it runs on the worker's job thread, never in the GUI, with the worker's cached model (no second
copy). Running statuses carry an `InvertProgress` with the current best render every PREVIEW_INTERVAL_S;
Stop keeps the best result so far and writes it, like Ctrl+C on the command line. The GUI imports this module
for the dataclasses; torch is imported only inside `run`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from core.invert.photo import Crop, InvertInputError
from renderer.jobs import JobStatus
from renderer.requests import RenderRequest

PREVIEW_INTERVAL_S = 0.5  # at most this often a running job renders and sends its current result


@dataclass(frozen=True)
class InvertJob:
    """Invert `photo` into `request`'s model and write the results to `out_dir` (core.invert's files)."""

    request: RenderRequest  # model, device and conditioning (camera and latent unused)
    photo: str  # the photo file
    out_dir: str  # where latent.npz, report.json, the pictures (and finetuned.pt) go
    mask: str | None = None  # a mask image of the photo's size; None = estimated
    crop: tuple[int, int, int] | None = None  # (left, top, size) in photo pixels; None = the centred square
    camera: tuple[float, float] | None = None  # (yaw, pitch) degrees; None = search the yaw circle
    steps: int = 100  # latent optimisation steps
    finetune_steps: int = 0  # pivotal-tuning steps (a fine-tuned copy of G is written as finetuned.pt)
    w_plus: bool = False  # one w per layer

    def __post_init__(self) -> None:
        if not str(self.photo).strip():
            raise ValueError("choose a photo first")
        if self.steps < 0 or self.finetune_steps < 0:
            raise ValueError(f"steps ({self.steps}) and fine-tuning steps ({self.finetune_steps}) must be >= 0")

    def run(self, job_id: int, renderer, send: Callable[[JobStatus], None],
            cancelled: Callable[[], bool]) -> JobStatus:
        """Fit to the final status (done, cancelled with the best result written, or error); never raises."""
        return run_invert_job(job_id, self, renderer, send, cancelled)


@dataclass(frozen=True, eq=False)
class InvertProgress:
    """A running inversion's current best, for the panel's live view."""

    phase: str  # "search", "latent" or "finetune"
    step: int  # latent steps done
    loss: float  # of the best state
    image: np.ndarray | None  # uint8 [R, R, 3]: the best state rendered at its camera
    yaw_deg: float
    pitch_deg: float


@dataclass(frozen=True, eq=False)
class InvertProducts:
    """What a finished (or stopped) inversion hands the GUI: the files and what "Use" sets."""

    out_dir: str
    latent_file: str  # latent.npz
    checkpoint: str  # the fine-tuned generator when there is one, else the job's model
    yaw_deg: float
    pitch_deg: float
    pose_deg: tuple[float, ...]
    report: dict = field(default_factory=dict)  # report.json's contents (PSNR, mask IoU, perceptual term, ...)
    image: np.ndarray | None = None  # the final render at the found camera


def run_invert_job(job_id: int, job: InvertJob, renderer, send: Callable[[JobStatus], None],
                   cancelled: Callable[[], bool]) -> JobStatus:
    """Run `job` with `renderer`'s cached model; statuses go to `send`, `cancelled()` is checked per step."""
    from core.invert.session import InvertSetupError  # lazy: the GUI imports this module, torch stays out

    if cancelled():
        return JobStatus(job_id, "cancelled", message="cancelled before it started")
    send(JobStatus(job_id, "running", 0.0, message="preparing the model"))
    try:
        session = _open_session(job, renderer, Crop(*job.crop) if job.crop else None)
    except (InvertInputError, InvertSetupError) as error:
        return JobStatus(job_id, "error", error=str(error))
    except Exception as error:  # noqa: BLE001 - a failed job is reported; the worker keeps serving renders
        from renderer.errors import describe_error  # here: the GUI imports this module, torch stays out
        return JobStatus(job_id, "error", error=f"inversion: {describe_error(error)}")
    stopped = False
    last_preview = 0.0
    try:
        for phase, fraction in session.steps():
            now = time.monotonic()
            if now - last_preview >= PREVIEW_INTERVAL_S:
                last_preview = now
                send(JobStatus(job_id, "running", _overall(phase, fraction, job), message=_describe(session, phase),
                               result=_progress(session, phase)))
            if cancelled():
                stopped = True
                break
        products = _write(session, job, stopped)
    except Exception as error:  # noqa: BLE001
        from renderer.errors import describe_error  # lazy: the GUI imports this module, torch stays out

        return JobStatus(job_id, "error", error=f"inversion: {describe_error(error)}")
    summary = f"PSNR {products.report['psnr_db']:.1f} dB, yaw {products.yaw_deg:.0f}, written to {products.out_dir}"
    if stopped:
        return JobStatus(job_id, "cancelled", message=f"stopped; the best so far: {summary}", result=products)
    return JobStatus(job_id, "done", 1.0, message=summary, result=products)


def _open_session(job: InvertJob, renderer, crop):
    # lazy: the GUI imports this module, torch stays out
    from core.body import load_body_model
    from core.invert.session import open_discriminator, options_from, session_for_model

    scene = renderer.scene(job.request)  # the worker's cached model: no second copy in memory
    checkpoint = job.request.checkpoint
    discriminator = open_discriminator(checkpoint, scene.device)
    # Its own body instance, as the renderer's field warm-up: the body's caches are not shared between threads.
    body = load_body_model(renderer.body_path(scene.model), device=scene.device)
    options = options_from(camera=job.camera, steps=job.steps, finetune_steps=job.finetune_steps, w_plus=job.w_plus)
    return session_for_model(scene.generator, body, discriminator, checkpoint, job.photo, job.mask, crop, options)


def _overall(phase: str, fraction: float, job: InvertJob) -> float:
    """The whole job's progress: search, latent steps and fine-tuning weighted by their steps."""
    search = 0 if job.camera is not None else 60
    shares = {"search": search, "latent": job.steps, "finetune": job.finetune_steps}
    total = sum(shares.values()) or 1
    before = {"search": 0, "latent": search, "finetune": search + job.steps}[phase]
    return min(1.0, (before + fraction * shares[phase]) / total)


def _describe(session, phase: str) -> str:
    inversion = session.inversion
    words = {"search": "searching the camera", "latent": f"step {inversion.steps_done} of {inversion.options.steps}",
             "finetune": "fine-tuning the generator"}[phase]
    return f"{words}, loss {inversion.best.loss:.4f}"


def _progress(session, phase: str) -> InvertProgress:
    from core.invert.outputs import render_pixels  # lazy: the GUI imports this module, torch stays out

    inversion = session.inversion
    best = inversion.best
    generator = inversion.tuned if phase == "finetune" else None
    image = render_pixels(inversion, best, best.yaw_deg, best.pitch_deg, generator) if best.loss < float("inf") \
        else None
    return InvertProgress(phase, inversion.steps_done, best.loss, image, best.yaw_deg, best.pitch_deg)


def _write(session, job: InvertJob, stopped: bool) -> InvertProducts:
    from core.invert.outputs import render_pixels  # lazy: the GUI imports this module, torch stays out

    report = session.write(Path(job.out_dir).expanduser(), interrupted=stopped)
    best = session.inversion.best
    image = render_pixels(session.inversion, best, best.yaw_deg, best.pitch_deg, session.inversion.tuned)
    return InvertProducts(str(Path(job.out_dir).expanduser()), report["latent"],
                          report["finetuned_checkpoint"] or job.request.checkpoint, best.yaw_deg, best.pitch_deg,
                          tuple(best.pose_deg), report, image)
