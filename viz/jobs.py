"""The render worker's background-job API as the panels see it: start, cancel, progress, one refusal message.

The controller owns one `JobBoard` over its render client; the Mesh, Paths and Invert panels (and their sessions)
post their jobs through it instead of holding the client, so "the worker is not up yet" and "this client runs no
jobs" are decided in one place. No torch, no imgui.
"""
from __future__ import annotations

from typing import Any, Callable

from renderer.jobs import JobStatus
from viz.context import RuntimeInfo


class JobBoard:
    """Jobs of the render client `client_source()` returns (None until the window has started it)."""

    def __init__(self, client_source: Callable[[], Any], info: RuntimeInfo):
        self.client_source = client_source
        self.info = info

    def _client(self):
        client = self.client_source()
        return client if client is not None and hasattr(client, "start_job") else None

    @property
    def available(self) -> bool:
        """True when jobs can be started now."""
        return self._client() is not None

    def start(self, job: Any, what: str) -> int | None:
        """Start `job` (a renderer job kind); None, with one message naming `what`, when no worker can run it."""
        client = self.client_source()
        if client is None:
            self.info.message(f"{what}: the render worker is not running yet; try again in a moment", "error")
            return None
        if not hasattr(client, "start_job"):
            self.info.message(f"{what}: this render client runs no background jobs; start the app's own worker",
                              "error")
            return None
        return client.start_job(job)

    def cancel(self, job_id: int | None) -> None:
        """Ask job `job_id` to stop (nothing for None or an unknown id)."""
        client = self._client()
        if client is not None and job_id is not None:
            client.cancel_job(job_id)

    def progress(self, job_id: int | None) -> JobStatus | None:
        """The newest status of job `job_id`, or None."""
        client = self._client()
        return client.job_progress(job_id) if client is not None and job_id is not None else None
