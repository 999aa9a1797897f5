"""The visualizer's frame logic without a window: results in, requests out, undo, commands, animations.

`Controller` is driven by the app once per frame; it is also driven directly by tests with a fake client.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from renderer.requests import REFINEMENT_LEVELS, RenderRequest, RenderResult
from viz.capture import VideoRecorder, save_png, timestamped_path
from viz.context import RuntimeInfo, WidgetContext
from viz.history import EditHistory
from viz.inspect_request import with_inspect_extras
from viz.invert_session import InvertSession
from viz.jobs import JobBoard
from viz.mesh_session import MeshSession
from viz.path_session import PathSession
from viz.request_builder import RequestGate, build_request
from viz.state import AppState, StateFileError, load_state, remember_recent, save_state, wrap_degrees
from viz.training.session import TrainingSession


class RenderClientLike(Protocol):
    """What the controller needs of renderer.worker.RenderClient (tests pass fakes)."""

    restarts: int

    @property
    def busy(self) -> bool: ...

    def submit(self, request: RenderRequest) -> int: ...

    def poll(self) -> RenderResult | None: ...

    def messages(self) -> list[str]: ...

    def close(self) -> None: ...


class Controller:
    """Owns the AppState, its history, the render client and the panels' sessions, and keeps them consistent.

    The sessions (mesh, paths, invert, training) hold the panels' background work; `update_sessions` polls them
    every frame whether their tab is shown or not, so the panels only draw them and post to them."""

    def __init__(self, state: AppState, client: RenderClientLike, device: str, capture_folder: Path,
                 untrained_default: bool = False, active_runs_path: Path | None = None):
        self.state = state  # the edited state (widgets hold the same object through `context`)
        self.client = client  # the render worker mailbox
        self.device = device  # torch device named in every request
        self.info = RuntimeInfo(device=device, untrained=untrained_default, capture_folder=str(capture_folder))
        self.context = WidgetContext(state=state, info=self.info)
        self.history = EditHistory(state)
        self.jobs = JobBoard(lambda: self.client, self.info)  # background jobs of the panels, through the client
        self.gate = RequestGate()
        self.last_image: np.ndarray | None = None  # newest rendered image [H, W, 3] uint8
        self.new_image = False  # set when a result arrived; the app clears it after uploading the texture
        self.pending_window_capture: Path | None = None  # the app reads the window back into this PNG
        self.recorder: VideoRecorder | None = None
        self.state_path = Path(capture_folder) / "saved_state.json"  # File > Save/Load state (the app sets it)
        self.mesh = MeshSession(self.context, self.jobs, device)
        self.paths = PathSession(self.context, self.jobs, device)
        self.invert = InvertSession(self.context, self.jobs, device)
        # Training launched from the GUI may outlive it: the runs file lets the next session re-attach.
        self.training = TrainingSession(active_runs_path or Path(capture_folder).parent / "training_runs.json")
        self.training.reattach_remembered()
        self._last_frame_time: float | None = None
        self._failed_refinement: RenderRequest | None = None  # a refinement that failed is not retried

    # ----- per-frame steps, in the order the app calls them -----

    def tick(self) -> float:
        """Starts a frame: records the GUI frame rate; returns seconds since the previous frame."""
        now = time.perf_counter()
        elapsed = 0.0 if self._last_frame_time is None else now - self._last_frame_time
        self._last_frame_time = now
        if elapsed > 0:
            self.info.gui_fps.append(1.0 / elapsed)
        return elapsed

    def advance_animations(self, elapsed_s: float) -> bool:
        """Moves the turntable and the latent walk; True while either runs."""
        camera, latent = self.state.camera, self.state.latent
        if camera.turntable:
            camera.yaw_deg = wrap_degrees(camera.yaw_deg + camera.turntable_speed_deg_s * elapsed_s)
        if latent.animate:
            # A slow Lissajous walk over the seed grid keeps passing through blends of 4 seeds.
            phase = latent.animate_speed * elapsed_s
            latent.seed_x = max(0.0, latent.seed_x + phase)
            latent.seed_y = max(0.0, latent.seed_y + 0.3 * phase * math.cos(latent.seed_x))
        return camera.turntable or latent.animate

    def update_sessions(self, elapsed_s: float) -> bool:
        """Polls the panels' sessions and moves path playback on; True while a path plays (it drives the state)."""
        self.mesh.poll()
        self.invert.poll()
        self.training.update(self.state)
        if self.training.rewritten_snapshot:  # the followed snapshot was replaced under the same name
            self.training.rewritten_snapshot = False
            self.gate.forget()
        return self.paths.advance(elapsed_s)

    def poll_results(self) -> RenderResult | None:
        """Takes the newest result (if any) and the worker's messages; returns the result."""
        for message in self.client.messages():
            self.info.message(message, "warning")
            self.gate.forget()
        busy = bool(self.client.busy)
        if busy and not self.info.busy:
            self.info.busy_since = time.monotonic()
        self.info.busy = busy
        result = self.client.poll()
        if result is None:
            return None
        self.info.results += 1
        if result.error is not None:
            if result.request.refinement:  # e.g. out of memory at twice the rays: not asked again
                self._failed_refinement = result.request
            self._handle_error(result)
            return result
        self.last_image = np.asarray(result.image)
        self.new_image = True
        self.info.shown_request = result.request
        self.info.shown_raw = result.raw_preview
        self.info.renders += 1
        self.info.model_info = dict(result.model_info)
        self.info.extras = dict(result.extras)
        self.info.last_timings_ms = dict(result.timings_ms)
        if "total" in result.timings_ms:
            self.info.render_ms.append(float(result.timings_ms["total"]))
        checkpoint = result.request.checkpoint
        if checkpoint != self.info.active_checkpoint:
            self.info.active_checkpoint = checkpoint
            self.info.untrained = result.model_info.get("trained") is False
            untrained = " (untrained: randomly initialised)" if self.info.untrained else ""
            self.info.message(f"model {checkpoint} ready{untrained}", "warning" if untrained else "info")
            if not checkpoint.startswith("preset:"):
                self.state.ui.recent_checkpoints = remember_recent(self.state.ui.recent_checkpoints, checkpoint)
        if self.recorder is not None:
            self.recorder.add(self.last_image)
            self.info.recorded_frames = self.recorder.frames
        return result

    def end_frame(self, editing: bool, dragging: bool) -> RenderRequest | None:
        """Records a finished edit and sends the request if it changed; returns the sent request."""
        self.run_commands()
        self.history.commit(self.state, editing=editing)
        request = build_request(self.state, self.device, preview=dragging)
        request = with_inspect_extras(request, self.state.inspect, self.context.wanted_extras)
        self.context.wanted_extras.clear()
        if self.gate.needs_send(request):
            self.client.submit(request)
            return request
        return self._refine(request, editing or dragging)

    def _refine(self, request: RenderRequest, active: bool) -> RenderRequest | None:
        """While nothing changes: the shown full frame again with more samples, then more rays (if enabled).

        The gate keeps the unrefined request, so the next edit is sent at once and interrupts a refinement."""
        shown = self.info.shown_request
        if (not self.state.render.refine_when_idle or active or self.client.busy or self.recorder is not None
                or shown is None or shown.preview or shown.refinement >= REFINEMENT_LEVELS[-1]
                or shown.replace(refinement=0) != request):
            return None
        refined = request.replace(refinement=shown.refinement + 1)
        if refined == self._failed_refinement:
            return None
        self.client.submit(refined)
        return refined

    # ----- user actions -----

    def open_checkpoint(self, checkpoint: str) -> None:
        """Switches the model; if it fails to load, the error is shown and the old model stays."""
        checkpoint = str(checkpoint).strip()
        if checkpoint:
            self.state.checkpoint = checkpoint
            self.info.message(f"opening {checkpoint}")

    def undo(self) -> None:
        if not self.history.undo(self.state):
            self.info.message("nothing to undo")

    def redo(self) -> None:
        if not self.history.redo(self.state):
            self.info.message("nothing to redo")

    def save_state(self, path: str | Path) -> None:
        try:
            written = save_state(self.state, path)
        except OSError as error:
            self.info.message(f"could not save state to {path}: {error}", "error")
            return
        self.info.message(f"state saved to {written}")

    def load_state(self, path: str | Path) -> bool:
        """Replaces the state by a file's (the file's checkpoint included); errors become messages."""
        try:
            loaded = load_state(path)
        except StateFileError as error:
            self.info.message(str(error), "error")
            return False
        for name in ("checkpoint", "camera", "latent", "pose", "render", "capture"):
            setattr(self.state, name, getattr(loaded, name))
        if not self.state.checkpoint:
            self.state.checkpoint = self.info.active_checkpoint
        self.info.message(f"state loaded from {path}")
        return True

    def capture_folder(self) -> Path:
        return Path(self.state.capture.folder or self.info.capture_folder).expanduser()

    def save_render(self, path: Path | None = None) -> Path | None:
        """Saves the newest rendered image as PNG."""
        if self.last_image is None:
            self.info.message("no render to save yet", "warning")
            return None
        written = save_png(self.last_image, path or timestamped_path(self.capture_folder(), "render", ".png"))
        self.info.message(f"render saved to {written}")
        return written

    def set_recording(self, on: bool) -> None:
        """Starts or stops writing each new render to an MP4 in the capture folder."""
        if on and self.recorder is None:
            path = timestamped_path(self.capture_folder(), "recording", ".mp4")
            try:
                self.recorder = VideoRecorder(path, fps=self.state.capture.video_fps)
            except Exception as error:  # noqa: BLE001 - ffmpeg problems must not end the session
                self.info.message(f"could not start recording {path}: {error}", "error")
                return
            self.info.message(f"recording to {path}")
        elif not on and self.recorder is not None:
            recorder, self.recorder = self.recorder, None
            try:
                path = recorder.close()
            except (OSError, ValueError) as error:  # a full disk, no frames: nothing unplayable is left behind
                self.info.message(f"the recording was not saved: {error}", "error")
            else:
                self.info.message(f"recorded {recorder.frames} frames to {path}")
        self.info.recording = self.recorder is not None
        self.info.recorded_frames = 0 if self.recorder is None else self.recorder.frames

    def run_commands(self) -> None:
        """Carries out what widgets and menus posted this frame."""
        commands = self.context.commands
        while commands:
            name, argument = commands.popleft()
            handler = {
                "undo": lambda _: self.undo(),
                "redo": lambda _: self.redo(),
                "save_state": lambda path: self.save_state(path or self.state_path),
                "load_state": lambda path: self.load_state(path or self.state_path),
                "open_checkpoint": self.open_checkpoint,
                "record": self.set_recording,
                "screenshot": self._screenshot,
                "render_again": lambda _: self.gate.forget(),  # e.g. the checkpoint file was rewritten
            }.get(name)
            if handler is None:
                self.info.message(f"unknown command {name!r}", "error")
                continue
            handler(argument)

    def close(self) -> None:
        self.set_recording(False)
        self.client.close()

    # ----- helpers -----

    def _screenshot(self, what: Any) -> None:
        if what == "window":
            self.pending_window_capture = timestamped_path(self.capture_folder(), "window", ".png")
        else:
            self.save_render()

    def _handle_error(self, result: RenderResult) -> None:
        """Shows the error; a checkpoint that fails to load is replaced by the model that worked before."""
        failed = result.request.checkpoint
        previous = self.info.active_checkpoint
        if failed != previous and previous and self.state.checkpoint == failed:
            self.state.checkpoint = previous
            self.history.forget_current(self.state)
            self.info.message(f"could not open {failed}: {result.error}; still showing {previous}", "error")
        else:
            self.info.message(f"render failed: {result.error}", "error")
