"""The training panel drives a real tiny training run: start, watch curves, follow a snapshot, stop."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from imgui_bundle import hello_imgui, imgui

from core.checkpoint import load_checkpoint
from tests.app.driver import click_until, differs, make_config, settle, wait_until
from viz.shell.app import VisualizerApp

pytestmark = pytest.mark.gui
REPO_ROOT = Path(__file__).resolve().parents[2]
# A tick of 4 images with a snapshot and a sample grid at every tick; no body warp and tiny grids for speed.
FAST_OPTIONS = ("--tick-kimg 0.004 --snap-ticks 1 --image-snap-ticks 1 --warp none --grid-size 2 "
                "--eval-images 2 --no-progress")


def make_tiny_dataset(folder: Path) -> Path:
    """8 synthetic 64-pixel portraits (the tiny preset's size; training mirrors them to 16)."""
    subprocess.run([sys.executable, "-m", "core.data", "synth", "--out", str(folder), "--count", "8",
                    "--resolution", "64", "--workers", "1"], cwd=REPO_ROOT, check=True, capture_output=True)
    return folder


def kill_leftover(session) -> None:
    """A failed test must not leave a training running (it lives in its own session)."""
    if session.process is not None and session.process.alive():
        os.killpg(session.process.record.pid, signal.SIGKILL)


@pytest.mark.slow
def test_start_watch_follow_and_stop_a_real_training_run(tmp_path):
    data = make_tiny_dataset(tmp_path / "synth")
    outdir = tmp_path / "runs"
    app = VisualizerApp(make_config(tmp_path))
    widget = app.panels["Training"]
    seen = {}

    def drive(ctx):
        # Real training on a busy 2-core machine can pass the test engine's 60 s watchdog.
        imgui.test_engine.get_io(hello_imgui.get_imgui_test_engine()).config_watchdog_kill_test = 240.0
        ctx.item_input_value("//Camera/Yaw", 30.0)
        before = settle(ctx, app)
        app.focus_panel("Training")
        ctx.yield_(3)
        ctx.item_input_value("//Training/Dataset", str(data))
        ctx.yield_(2)
        check = widget.session.dataset_check  # typing a dataset checks it in a subprocess
        wait_until(ctx, lambda: check is not None and check.done, 60, "the dataset check")
        seen["check"] = (check.ok, check.summary)
        # The check's lines ("checking ...", then its result) sit above the other fields: the engine aims at
        # them only once the layout has settled (a field that moves under the mouse fails its hover).
        ctx.yield_(5)
        ctx.item_input_value("//Training/Output folder", str(outdir))
        ctx.item_input_value("//Training/kimg", 1.0)
        ctx.item_input_value("//Training/Batch", 4)
        # Set directly: the field can sit below the panel's fold, where the engine cannot hover it, and
        # without these options the run is too slow for this test's time limits.
        widget.extra_options = FAST_OPTIONS
        ctx.yield_(5)
        click_until(ctx, "//Training/Start training", lambda: widget.session.running, "a started run")
        wait_until(ctx, lambda: widget.session.watcher is not None and widget.session.watcher.stats.rows,
                   120, "the first stats line")
        wait_until(ctx, lambda: sum(widget.plotted_points.values()) > 0, 10, "a curve drawn")
        seen["plotted"] = dict(widget.plotted_points)
        wait_until(ctx, lambda: app.state.checkpoint.endswith(".pt"), 60, "the viewer to follow a snapshot")
        followed = app.state.checkpoint
        wait_until(ctx, lambda: app.info.active_checkpoint == followed, 60, "the snapshot to be rendered")
        after = settle(ctx, app)
        seen["image change"] = differs(before, after)
        seen["yaw kept"] = app.state.camera.yaw_deg
        wait_until(ctx, lambda: widget.session.watcher.newest_grid is not None, 60, "a sample grid")
        ctx.yield_(3)
        app.controller.pending_window_capture = tmp_path / "training_panel.png"
        ctx.yield_(3)
        click_until(ctx, "//Training/Stop", lambda: widget.session.status != "running", "a stopping run")
        wait_until(ctx, lambda: widget.session.status in ("finished", "failed"), 120, "training to stop")
        seen["status"] = widget.session.status
        seen["exit code"] = widget.session.process.exit_code
        seen["run dir"] = widget.session.watcher.run_dir
        seen["messages"] = list(widget.session.messages)
        app.state.ui.presentation = False

    try:
        app.run(drive)
    finally:
        kill_leftover(widget.session)
    assert seen["check"][0] and "count: 8" in seen["check"][1], seen["check"]
    assert seen["plotted"], seen
    assert seen["image change"] > 1.0, seen
    assert seen["yaw kept"] == 30.0  # following a snapshot keeps the camera
    print(f"image change {seen['image change']:.1f}; window saved to {tmp_path / 'training_panel.png'}")
    assert (seen["status"], seen["exit code"]) == ("finished", 0), seen["messages"]
    run_dir = seen["run dir"]
    assert "stopped by signal; the last snapshot is complete" in (run_dir / "log.txt").read_text()
    assert not [path.name for path in run_dir.iterdir() if path.name.endswith(".partial")]
    snapshots = sorted(run_dir.glob("snapshot-*.pt"))
    assert snapshots
    payload = load_checkpoint(snapshots[-1])
    assert payload["kind"] == "training" and "G_ema" in payload
