"""What a widget sees: the AppState it edits, read-only runtime facts, and a queue of commands for the app.

Widgets change only `state`; things that are not state (open a file dialog result, take a screenshot,
start a recording) are posted as commands and carried out by the app at the end of the frame.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from viz.state import AppState

HISTORY_LENGTH = 240  # frames of fps / render-time history kept for the performance plots


@dataclass
class RuntimeInfo:
    """Facts the app learns while running; widgets only read them."""

    device: str = "auto"  # render device as asked for; the worker's model_info["device"] says which one it is
    model_info: dict[str, Any] = field(default_factory=dict)  # from the newest result: preset, resolution, kimg, ...
    shown_request: Any = None  # the RenderRequest of the shown image (its preview / refinement level)
    shown_raw: bool = False  # the shown preview is the neural image without super-resolution (RenderResult)
    active_checkpoint: str = ""  # checkpoint of the newest successful render
    untrained: bool = False  # the model is the randomly initialised stand-in for a missing default
    last_timings_ms: dict[str, float] = field(default_factory=dict)  # stage -> ms of the newest result
    gui_fps: deque = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))  # GUI frames per second
    render_ms: deque = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))  # total ms per render result
    frame_work_ms: deque = field(default_factory=lambda: deque(maxlen=HISTORY_LENGTH))  # GUI work per frame, no GL
    renders: int = 0  # images shown so far
    results: int = 0  # results received so far, errors included
    busy: bool = False  # the worker is rendering
    busy_since: float | None = None  # time.monotonic() when the worker last went from idle to busy
    recording: bool = False  # a viewport video is being written
    recorded_frames: int = 0  # frames in the current video
    messages: deque = field(default_factory=lambda: deque(maxlen=50))  # (level, text), newest last
    extras: dict[str, Any] = field(default_factory=dict)  # extra products of the newest result
    capture_folder: str = ""  # where captures go when the state names no folder

    def message(self, text: str, level: str = "info") -> None:
        """Adds a line for the status bar (level: info | warning | error)."""
        self.messages.append((level, text))

    @property
    def last_message(self) -> tuple[str, str] | None:
        return self.messages[-1] if self.messages else None

    @property
    def last_error(self) -> str | None:
        """The newest error line, if any."""
        return next((text for level, text in reversed(self.messages) if level == "error"), None)


@dataclass
class WidgetContext:
    """Passed to every widget at construction."""

    state: AppState  # the edited state
    info: RuntimeInfo  # read-only runtime facts
    commands: deque = field(default_factory=deque)  # (name, argument) pairs executed by the app each frame
    defaults: AppState = field(default_factory=AppState)  # what "Reset" goes back to
    wanted_extras: set = field(default_factory=set)  # extra products the panels drawn this frame ask for

    def post(self, name: str, argument: Any = None) -> None:
        """Asks the app to carry out a command (e.g. "open_checkpoint", "screenshot", "record")."""
        self.commands.append((name, argument))
