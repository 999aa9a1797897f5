"""AppConfig: how the visualizer is started (built from the command line in visualizer.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.shipped import DEFAULT_CHECKPOINT, user_config_dir, user_data_dir

FALLBACK_CHECKPOINT = "preset:small"  # randomly initialised stand-in while no trained default is shipped


@dataclass
class AppConfig:
    """Start-up options of the visualizer."""

    checkpoint: str | None = None  # path or "preset:<name>"; None = the default model (or its stand-in)
    device: str = "auto"  # torch device of the render worker: auto (cuda when available) | cpu | cuda | cuda:N
    state_file: Path | None = None  # JSON state to start from; None = the remembered state of the last session
    frames: int | None = None  # run this many frames (after the first render arrived), then exit
    screenshot: Path | None = None  # with `frames`: save the whole window to this PNG before exiting
    window_size: tuple[int, int] = (1600, 1000)  # initial window size in screen pixels
    render_mode: str = "process"  # render worker: "process" (crash-safe) or "inline" (tests)
    config_dir: Path = field(default_factory=user_config_dir)  # remembered state, recent files, window layout
    data_dir: Path = field(default_factory=user_data_dir)  # default folder of screenshots and recordings
    remember_state: bool = True  # restore the last session's state at start and save it at exit
    max_fps: float = 60.0  # upper bound of the GUI frame rate; the rest of each frame is left to the worker
    fps_idle: float = 10.0  # frame rate without input or animation (0 = never idle); frees the CPU for rendering

    @property
    def remembered_state_path(self) -> Path:
        """Where the last session's state is kept."""
        return Path(self.config_dir) / "state.json"

    @property
    def ini_path(self) -> Path:
        """hello_imgui's window layout file, kept out of the working directory."""
        return Path(self.config_dir) / "layout.ini"

    def resolve_checkpoint(self) -> tuple[str, bool]:
        """(checkpoint to open, True when it is the randomly initialised stand-in for a missing default)."""
        if self.checkpoint:
            return self.checkpoint, False
        if DEFAULT_CHECKPOINT.exists():
            return str(DEFAULT_CHECKPOINT), False
        return FALLBACK_CHECKPOINT, True
