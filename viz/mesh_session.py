"""The Mesh panel's working data: the extraction settings' job, its progress, the newest mesh and export files.

No torch and no imgui: the panel (widgets/mesh_widget.py) draws this and uploads the mesh to its GL view, the
controller polls it every frame (so a job finishing while the tab is hidden is noticed), tests drive it directly.
Extraction and export run as `MeshJob`s in the render worker; export runs the same job with files to write (the
worker's model, ws and tri-grid are cached, so that costs the grid sampling only).
"""
from __future__ import annotations

from pathlib import Path

from renderer.jobs import JobStatus, MeshJob, MeshProducts
from viz.context import WidgetContext
from viz.jobs import JobBoard
from viz.request_builder import build_request


class MeshSession:
    """The running (or last) mesh job, the newest extracted mesh and the files the last export wrote."""

    def __init__(self, context: WidgetContext, jobs: JobBoard, device: str):
        self.context = context
        self.jobs = jobs  # the controller's job API of the render worker
        self.device = device  # the render device named in the job's request
        self.job_id: int | None = None  # the running job
        self.job_exports = False  # the running job writes files
        self.status: JobStatus | None = None  # newest status of the running or last job
        self.mesh: MeshProducts | None = None  # the newest extraction
        self.meshes_made = 0  # extractions finished so far (the panel re-uploads when it changes)
        self.exported: tuple[str, ...] = ()  # files the last export wrote

    @property
    def running(self) -> bool:
        return self.job_id is not None

    def job(self) -> MeshJob:
        """The extraction job for the current state and the panel's settings (`state.inspect.mesh_*`)."""
        inspect = self.context.state.inspect
        return MeshJob(request=build_request(self.context.state, self.device), space=inspect.mesh_space,
                       resolution=inspect.mesh_resolution, level=inspect.mesh_level, crop=inspect.mesh_crop,
                       grid_smoothing=inspect.mesh_grid_smoothing, taubin_steps=inspect.mesh_taubin_steps,
                       formats=())

    def extract(self) -> bool:
        """Starts an extraction; False (with a message from the job board) when no worker can run it."""
        return self._start(self.job(), exports=False)

    def export(self, folder: str | Path, formats: tuple[str, ...], save_grid: bool, stem: str) -> bool:
        """Extracts again and writes `formats` (".ply", ".obj", ".glb") and, if asked, the grid into `folder`."""
        job = self.job().replace(out_dir=str(folder), formats=tuple(formats), save_grid=save_grid, stem=stem)
        return self._start(job, exports=True)

    def cancel(self) -> None:
        self.jobs.cancel(self.job_id)

    def poll(self) -> None:
        """Takes the running job's newest status; a finished job's mesh replaces the shown one."""
        if self.job_id is None:
            return
        status = self.jobs.progress(self.job_id)
        if status is None:
            return
        self.status = status
        if not status.finished:
            return
        self.job_id = None
        if status.state == "done" and status.result is not None:
            self.mesh = status.result
            self.meshes_made += 1
            if self.job_exports:
                self.exported = status.result.paths
                self.context.info.message(f"mesh written to {', '.join(status.result.paths)}")
        elif status.state == "error":
            self.context.info.message(status.error or "mesh job failed", "error")

    def _start(self, job: MeshJob, exports: bool) -> bool:
        if self.running:
            return False
        job_id = self.jobs.start(job, "mesh")
        if job_id is None:
            return False
        self.job_id, self.job_exports, self.status = job_id, exports, None
        return True
