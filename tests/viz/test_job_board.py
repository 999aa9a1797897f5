"""The controller's JobBoard: one place decides whether a panel's job can start, and says why not; the
controller polls the sessions that run jobs every frame."""
from __future__ import annotations

import numpy as np

from renderer.jobs import JobStatus, MeshJob, MeshProducts
from viz.context import RuntimeInfo
from viz.controller import Controller
from viz.jobs import JobBoard
from viz.state import AppState


class RendersOnly:
    """A render client without background jobs (e.g. a test double of the render loop)."""


class WithJobs:
    def __init__(self):
        self.started, self.cancelled = [], []

    def start_job(self, job):
        self.started.append(job)
        return 7

    def job_progress(self, job_id):
        return JobStatus(job_id, "running", 0.5, message="half")

    def cancel_job(self, job_id):
        self.cancelled.append(job_id)


def test_no_worker_yet_and_a_client_without_jobs_are_refused_with_one_message_each():
    info = RuntimeInfo()
    assert JobBoard(lambda: None, info).start("job", "mesh") is None
    assert info.last_message[0] == "error" and "mesh: the render worker is not running yet" in info.last_message[1]
    board = JobBoard(lambda: RendersOnly(), info)
    assert board.start("job", "path video") is None and not board.available
    assert "path video: this render client runs no background jobs" in info.last_message[1]
    board.cancel(3)  # nothing to cancel on such a client: no error
    assert board.progress(3) is None


def test_jobs_pass_through_to_the_client():
    client = WithJobs()
    board = JobBoard(lambda: client, RuntimeInfo())
    assert board.available and board.start("the job", "invert") == 7 and client.started == ["the job"]
    assert board.progress(7).message == "half" and board.progress(None) is None
    board.cancel(7)
    board.cancel(None)
    assert client.cancelled == [7]


class FinishingJobs(WithJobs):
    """Jobs that run for `frames` progress calls, then finish with `result`."""

    def __init__(self, result, frames: int = 2):
        super().__init__()
        self.result, self.frames = result, frames

    def job_progress(self, job_id):
        self.frames -= 1
        if self.frames > 0:
            return JobStatus(job_id, "running", 0.5, message="half")
        return JobStatus(job_id, "done", 1.0, message="done", result=self.result)


def test_the_controller_polls_the_panels_sessions_every_frame_without_the_panels(tmp_path):
    mesh = MeshProducts(vertices=np.zeros((3, 3), np.float32), faces=np.array([[0, 1, 2]]),
                        colors=np.ones((3, 3), np.float32), value_range=(0.0, 1.0), paths=("a.ply",),
                        level=0.0)
    client = FinishingJobs(mesh, frames=2)
    controller = Controller(AppState(), client, "cpu", tmp_path / "captures")
    controller.state.inspect.mesh_resolution = 96
    assert controller.mesh.export(tmp_path, (".ply",), False, "stem")
    job = client.started[0]
    assert isinstance(job, MeshJob) and job.resolution == 96 and job.formats == (".ply",)
    assert not controller.mesh.extract(), "one mesh job at a time"
    assert not controller.update_sessions(0.01) and controller.mesh.running  # running: nothing shown yet
    controller.update_sessions(0.01)
    assert not controller.mesh.running and controller.mesh.mesh is mesh and controller.mesh.meshes_made == 1
    assert controller.mesh.exported == ("a.ply",) and "mesh written to a.ply" in controller.info.last_message[1]
