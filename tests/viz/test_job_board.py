"""The controller's JobBoard: one place decides whether a panel's job can start, and says why not."""
from __future__ import annotations

from renderer.jobs import JobStatus
from viz.context import RuntimeInfo
from viz.jobs import JobBoard


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
