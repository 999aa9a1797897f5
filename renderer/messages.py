"""The render worker's mailbox: what the GUI process sends it, as typed values (no torch; they pickle).

Results come back as `RenderResult` (renderer/requests.py) and job statuses as `JobStatus` (renderer/jobs.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from renderer.requests import RenderRequest


@dataclass(frozen=True)
class RenderMessage:
    """Render `request`; only the newest waiting one is rendered, its `stamp` pairs it with its result."""

    stamp: int
    request: RenderRequest


@dataclass(frozen=True)
class StartJob:
    """Queue a background job (renderer/jobs.py's contract: `run(job_id, renderer, send, cancelled)`)."""

    job_id: int
    job: Any


@dataclass(frozen=True)
class CancelJob:
    """Ask job `job_id` to stop at its next step."""

    job_id: int


@dataclass(frozen=True)
class StopWorker:
    """End the worker: running jobs are cancelled, the process exits."""


WorkerMessage = RenderMessage | StartJob | CancelJob | StopWorker
