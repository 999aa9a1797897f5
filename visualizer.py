"""Interactive visualizer of 3D-aware portrait generators.

    python visualizer.py [CHECKPOINT] [--device auto|cpu|cuda] [--state FILE] [--frames N --screenshot PNG]

Without CHECKPOINT it opens checkpoints/default.pt, or an untrained "preset:small" while that file does not exist.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.cli import command_line
from core.device import DEVICE_HELP
from viz.shell.app_config import AppConfig
from viz.state import StateFileError

NO_DISPLAY_HELP = (
    "visualizer: no display found (DISPLAY is not set).\n"
    "Run it on a desktop, or headless under a virtual X server:\n"
    '    xvfb-run -a -s "-screen 0 1920x1080x24" python visualizer.py --frames 30 --screenshot out.png'
)


def parse_args(argv: list[str] | None = None) -> AppConfig:
    """The command line -> AppConfig."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", help='checkpoint .pt file, or "preset:tiny" / "preset:small"')
    parser.add_argument("--device", default="auto", help="torch device of the render worker: " + DEVICE_HELP)
    parser.add_argument("--state", type=Path, help="JSON state file to start from (File > Save state writes it)")
    parser.add_argument("--frames", type=int, help="run this many frames after the first render, then exit")
    parser.add_argument("--screenshot", type=Path, help="with --frames: save the window to this PNG before exiting")
    parser.add_argument("--size", default="1600x1000", help="window size, e.g. 1280x800")
    parser.add_argument("--inline", action="store_true", help="render in the GUI process (debugging)")
    parser.add_argument("--fresh", action="store_true", help="neither restore nor remember the last session's state")
    args = parser.parse_args(argv)
    if args.screenshot is not None and args.frames is None:
        args.frames = 10
    if args.frames is not None and args.frames < 1:
        parser.error("--frames must be at least 1")
    try:
        width, height = (int(part) for part in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: write it as WIDTHxHEIGHT, e.g. 1280x800")
    if args.state is not None and not args.state.exists():
        parser.error(f"--state {args.state}: no such file (save one from the File menu first)")
    return AppConfig(
        checkpoint=args.checkpoint,
        device=args.device,
        state_file=args.state,
        frames=args.frames,
        screenshot=args.screenshot.resolve() if args.screenshot else None,
        window_size=(width, height),
        render_mode="inline" if args.inline else "process",
        remember_state=not args.fresh,
    )


def has_display() -> bool:
    """Linux and BSD need an X or Wayland server; other platforms always have a desktop."""
    if not sys.platform.startswith(("linux", "freebsd")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


@command_line
def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if not has_display():
        print(NO_DISPLAY_HELP, file=sys.stderr)
        return 2
    from viz.shell.app import VisualizerApp  # lazy: --help and the no-display message answer without imgui or GL

    try:
        app = VisualizerApp(config)
    except StateFileError as error:
        print(f"visualizer: {error}", file=sys.stderr)
        return 2
    app.run()
    if config.screenshot is not None:
        if app.screenshot_written is None:
            print(f"visualizer: no screenshot was taken (the window closed before {config.frames} frames)",
                  file=sys.stderr)
            return 1
        print(f"screenshot saved to {app.screenshot_written}")
    if config.frames is not None and app.controller.info.renders == 0:  # scripted runs must see a failed model
        reason = app.controller.info.last_error or "no result arrived"
        print(f"visualizer: nothing rendered ({reason})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
