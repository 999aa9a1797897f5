"""RenderClient: the GUI's handle on the renderer, in a worker process or inline.

The GUI process imports this module, so torch is imported only inside the worker process (or lazily
by the inline mode). Process mode (ARCHITECTURE.md "Processes"): a `spawn` worker owns a Renderer;
`submit` posts a RenderMessage(stamp, request) to a queue that the worker drains to the newest entry before each
render, so the newest request wins; `poll` never blocks and drops results for stale stamps. When the
worker dies (a crash, an out-of-memory kill, `kill_worker`), the next `poll` or `submit` starts a new
one, resubmits the newest request and says so through `messages()`.

Background jobs (renderer/jobs.py, e.g. mesh extraction) go through the same request queue as StartJob /
CancelJob messages (renderer/messages.py) and run on a thread of the worker (inline: of this process) while
renders continue; their `JobStatus`es come back through the results queue and are sorted out from the render
results here.
"""
from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import os
import queue
import threading
import time
from typing import Any

from renderer.jobs import JobRunner, JobStatus, MeshJob
from renderer.messages import CancelJob, RenderMessage, StartJob, StopWorker
from renderer.path_jobs import PathRenderJob
from renderer.requests import RenderRequest, RenderResult
from renderer.worker_memory import worker_environment

MODES = ("process", "inline")
# How long close() waits for the worker to finish its render before it is terminated.
CLOSE_TIMEOUT_S = 5.0
# After this many worker deaths without a result in between, poll() stops restarting it (no spawn storm);
# the newest request is answered with an error and the next submit() starts a worker again.
MAX_CRASH_STREAK = 2
# Finished jobs whose products (meshes, frames) stay available; older ones keep only their status.
KEPT_JOB_RESULTS = 4


class RenderClient:
    """Submits render requests and hands back the newest result; never blocks the caller."""

    def __init__(self, mode: str = "process", device: str = "cpu", torch_threads: int | None = None):
        if mode not in MODES:
            raise ValueError(f"RenderClient mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode
        self.device = device  # default device of the Renderer, for requests that leave theirs empty
        self.torch_threads = torch_threads  # intra-op threads of the worker's torch; None = torch's default
        self.restarts = 0  # how often a dead worker was replaced
        self._stamp = 0
        self._latest: RenderMessage | None = None  # the newest submitted request
        self._answered_stamp = 0  # stamp of the newest result handed out (or dropped as superseded)
        self._crash_streak = 0  # worker deaths since the last result came from a worker
        self._messages: list[str] = []
        self._closed = False
        self._inline_renderer = None
        self._ready: RenderResult | None = None  # a result made in this process (inline mode, crash reports)
        self._process = None
        self._requests = None
        self._results = None
        self._job_id = 0
        self._jobs: dict[int, JobStatus] = {}  # newest status of every job started by this client
        self._finished_jobs: list[JobStatus] = []  # final statuses not yet handed out by job_results()
        self._undelivered: RenderResult | None = None  # a render result read while collecting job statuses
        self._inline_jobs: JobRunner | None = None
        self._inline_statuses: queue.Queue = queue.Queue()  # statuses of inline jobs (sent from their thread)
        if mode == "process":
            self._start_worker()

    @property
    def busy(self) -> bool:
        """True while the newest submitted request has not been answered yet."""
        return self._latest is not None and self._answered_stamp < self._latest.stamp

    def submit(self, request: RenderRequest) -> int:
        """Queue `request` (superseding any older one still waiting); returns its stamp."""
        if self._closed:
            raise RuntimeError("RenderClient.submit after close(); create a new client")
        self._stamp += 1
        self._latest = RenderMessage(self._stamp, request)
        if self.mode == "inline":
            self._ready = self._render_inline(self._stamp, request)
        else:
            self._check_worker(from_submit=True)
            self._requests.put(self._latest)
        return self._stamp

    def poll(self) -> RenderResult | None:
        """The result of the newest request if it has arrived since the last poll, else None (never blocks)."""
        if self._closed:
            return None
        if self._ready is None and self._process is not None:
            newest = self._drain_results()
            if newest is not None:
                return self._hand_out(newest)
            self._check_worker(from_submit=False)
        result, self._ready = self._ready, None
        return self._hand_out(result)

    def wait(self, timeout_s: float = 60.0, interval_s: float = 0.002) -> RenderResult | None:
        """Poll until the newest request's result arrives or `timeout_s` passes (scripts and tests)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.poll()
            if result is not None or not self.busy or time.monotonic() > deadline:
                return result
            time.sleep(interval_s)

    def start_job(self, job: MeshJob | PathRenderJob | Any) -> int:
        """Start a background job (queued behind running ones); returns its id. Never blocks.

        A job is any picklable object with JobRunner's `run(job_id, renderer, send, cancelled)`: MeshJob,
        PathRenderJob, renderer.invert_jobs.InvertJob."""
        if self._closed:
            raise RuntimeError("RenderClient.start_job after close(); create a new client")
        if not callable(getattr(job, "run", None)):
            raise TypeError(f"start_job takes a job with a run() method (MeshJob, PathRenderJob, InvertJob), "
                            f"got {type(job).__name__}")
        self._job_id += 1
        self._jobs[self._job_id] = JobStatus(self._job_id, "queued", message="sent to the render worker")
        if self.mode == "inline":
            if self._inline_jobs is None:
                self._inline_jobs = JobRunner(self._inline, self._inline_statuses.put)
            self._inline_jobs.start(self._job_id, job)
        else:
            self._check_worker(from_submit=True)
            self._requests.put(StartJob(self._job_id, job))
        return self._job_id

    def cancel_job(self, job_id: int) -> None:
        """Ask a job to stop; its final status (state "cancelled") arrives through job_progress / job_results."""
        status = self._jobs.get(job_id)
        if status is None or status.finished:
            return
        if self.mode == "inline":
            if self._inline_jobs is not None:
                self._inline_jobs.cancel(job_id)
        elif self._process is not None:
            self._requests.put(CancelJob(job_id))

    def job_progress(self, job_id: int) -> JobStatus | None:
        """The newest status of job `job_id` (None for an unknown id). Never blocks."""
        self._collect_job_statuses()
        return self._jobs.get(job_id)

    def job_results(self) -> list[JobStatus]:
        """Final statuses (done, cancelled, error) of jobs that finished since the last call (the newest few)."""
        self._collect_job_statuses()
        finished, self._finished_jobs = self._finished_jobs, []
        return finished

    def wait_job(self, job_id: int, timeout_s: float = 120.0, interval_s: float = 0.01) -> JobStatus | None:
        """Wait until job `job_id` has finished or `timeout_s` passes, then return its newest status
        (scripts, tests)."""
        deadline = time.monotonic() + timeout_s
        while True:
            status = self.job_progress(job_id)
            if status is None or status.finished or time.monotonic() > deadline:
                return status
            time.sleep(interval_s)

    def messages(self) -> list[str]:
        """Messages for the user since the last call (e.g. "render worker crashed and was restarted")."""
        messages, self._messages = self._messages, []
        return messages

    def kill_worker(self) -> None:
        """Kill the worker abruptly, as a crash would (for tests); the next poll or submit restarts it."""
        if self.mode == "inline":
            # Inline there is no process: losing the renderer and its caches is the closest equivalent.
            self._inline_renderer = None
            self._note_restart("inline renderer was reset")
            return
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(CLOSE_TIMEOUT_S)

    def close(self) -> None:
        """Stop the worker (it finishes its current render first, within CLOSE_TIMEOUT_S) and release it."""
        if self._closed:
            return
        self._closed = True
        self._inline_renderer = None
        if self._inline_jobs is not None:
            self._inline_jobs.close()
        if self._process is None:
            return
        try:
            self._requests.put(StopWorker())
        except (OSError, ValueError):
            pass
        self._process.join(CLOSE_TIMEOUT_S)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(CLOSE_TIMEOUT_S)
        self._discard_worker()

    def __enter__(self) -> "RenderClient":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown may have torn down what close() needs
            pass

    def _hand_out(self, result: RenderResult | None) -> RenderResult | None:
        """Deliver `result` only if it answers the newest request; older ones are stale."""
        if result is None or self._latest is None or result.stamp != self._latest.stamp:
            return None
        self._answered_stamp = result.stamp
        return result

    @staticmethod
    def _newer(current: RenderResult | None, candidate: RenderResult) -> RenderResult:
        return candidate if current is None or candidate.stamp >= current.stamp else current

    def _render_inline(self, stamp: int, request: RenderRequest) -> RenderResult:
        return self._inline().render(request, stamp)

    def _inline(self):
        """The in-process Renderer of the inline mode, created on first use."""
        if self._inline_renderer is None:
            from renderer.engine import Renderer  # late: torch is imported only when inline rendering is used

            self._inline_renderer = Renderer(self.device)
        return self._inline_renderer

    def _drain_results(self) -> RenderResult | None:
        """Read everything the worker sent: job statuses are filed, the newest render result is returned."""
        newest, self._undelivered = self._undelivered, None
        while True:
            try:
                item = self._results.get_nowait()
            except (queue.Empty, OSError, EOFError, ValueError):
                break
            if isinstance(item, JobStatus):
                self._file_job_status(item)
                continue
            newest = self._newer(newest, item)
            self._crash_streak = 0
        return newest

    def _collect_job_statuses(self) -> None:
        if self.mode == "inline":
            while True:
                try:
                    self._file_job_status(self._inline_statuses.get_nowait())
                except queue.Empty:
                    return
        if self._process is not None:
            self._undelivered = self._drain_results()
            self._check_worker(from_submit=False)

    def _file_job_status(self, status: JobStatus) -> None:
        previous = self._jobs.get(status.job_id)
        if previous is not None and previous.finished:
            return  # e.g. a status that was in flight when the worker's death had already ended the job
        self._jobs[status.job_id] = status
        if status.finished:
            self._finished_jobs = (self._finished_jobs + [status])[-KEPT_JOB_RESULTS:]
            self._release_old_results()

    def _release_old_results(self) -> None:
        """A long session extracts many meshes: only the newest KEPT_JOB_RESULTS finished jobs keep their products."""
        holding = [job_id for job_id, status in self._jobs.items() if status.finished and status.result is not None]
        for job_id in holding[:-KEPT_JOB_RESULTS]:
            self._jobs[job_id] = dataclasses.replace(self._jobs[job_id], result=None)

    def _fail_running_jobs(self, reason: str) -> None:
        """A worker that died took its jobs with it: end them with `reason` as their error."""
        for job_id, status in list(self._jobs.items()):
            if not status.finished:
                self._file_job_status(JobStatus(job_id, "error", status.fraction, error=reason))

    def _start_worker(self) -> None:
        context = multiprocessing.get_context("spawn")  # CUDA cannot be forked; spawn everywhere, explicitly
        self._requests = context.Queue()
        self._results = context.Queue()
        self._process = context.Process(
            target=serve_requests, args=(self._requests, self._results, self.device, self.torch_threads),
            name="render-worker", daemon=True,
        )
        with worker_environment():  # the worker keeps its freed memory (renderer/worker_memory.py)
            self._process.start()

    def _check_worker(self, from_submit: bool) -> None:
        """Notice a dead worker and start a new one, resubmitting the newest unanswered request.

        From poll() a worker that keeps dying is left dead after MAX_CRASH_STREAK deaths (the newest request
        gets an error result instead); submit() always starts one, since it is the user's next attempt.
        """
        if self._closed or (self._process is not None and self._process.is_alive()):
            return
        if self._process is None:
            if from_submit:
                self._start_worker()
                self._note_restart("render worker was started again")
            return
        exit_code = self._process.exitcode
        self._discard_worker()
        self._fail_running_jobs(f"the render worker stopped (exit code {exit_code}) during this job; start it again"
                                " (with a lower resolution if it ran out of memory)")
        self._crash_streak += 1
        crashed = f"render worker crashed (exit code {exit_code})"
        if not from_submit and self._crash_streak >= MAX_CRASH_STREAK:
            self._messages.append(f"{crashed} {self._crash_streak} times in a row; "
                                  "it will be started again with the next request")
            if self.busy:
                stamp, request = self._latest.stamp, self._latest.request
                self._ready = RenderResult(stamp, request, error=(
                    f"{crashed} {self._crash_streak} times in a row while rendering this request; see the "
                    "terminal for its output, then change the request (lower resolution, another checkpoint)"))
            return
        self._start_worker()
        self._note_restart(f"{crashed} and was restarted")
        if self.busy and not from_submit:
            self._requests.put(self._latest)

    def _discard_worker(self) -> None:
        """Forget the worker process and its queues (they may be broken if it died mid-write)."""
        for channel in (self._requests, self._results):
            channel.close()
            channel.cancel_join_thread()
        self._process = self._requests = self._results = None

    def _note_restart(self, message: str) -> None:
        self.restarts += 1
        self._messages.append(message)


def _exit_with_parent() -> None:
    """End this worker as soon as the process that spawned it is gone (killed, even with SIGKILL): an orphan
    would keep its memory (and a GPU's) with nobody to render for."""
    parent = multiprocessing.parent_process()
    if parent is None:  # inline mode: nothing to watch
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])  # readable once the parent's end of the pipe closes
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve_requests(requests, results, device: str, torch_threads: int | None) -> None:
    """The worker process: render the newest waiting request, run jobs beside it, until a None arrives.

    Queue items are renderer.messages values: RenderMessage, StartJob, CancelJob, StopWorker.
    """
    _exit_with_parent()
    try:
        # lazy: only the worker process loads torch; the GUI process imports this module
        import torch
        from renderer.engine import Renderer

        if torch_threads:
            torch.set_num_threads(torch_threads)
        renderer = Renderer(device)
    except Exception as error:  # noqa: BLE001 - a broken install must reach the GUI as text, not as a dead worker
        renderer = None
        startup_error = f"the render worker could not start: {type(error).__name__}: {error}"
    jobs = JobRunner(lambda: renderer, results.put)
    while True:
        items = [requests.get()]
        # Drain the mailbox: every job control counts, but only the newest render request matters.
        while not isinstance(items[-1], StopWorker):
            try:
                items.append(requests.get_nowait())
            except queue.Empty:
                break
        newest = None
        for item in items:
            if isinstance(item, StopWorker):
                jobs.close()
                return
            if isinstance(item, StartJob):
                if renderer is None:
                    results.put(JobStatus(item.job_id, "error", error=startup_error))
                else:
                    jobs.start(item.job_id, item.job)
            elif isinstance(item, CancelJob):
                jobs.cancel(item.job_id)
            else:
                newest = item
        if newest is None:
            continue
        stamp, request = newest.stamp, newest.request
        if renderer is None:
            results.put(RenderResult(stamp, request, error=startup_error))
        else:
            # A refinement stops early when a newer request waits (its stale result is dropped by the client).
            results.put(renderer.render(request, stamp, superseded=lambda: not requests.empty()))
