"""A run folder written by `python -m core.train` from a shell: attaching shows its curves; resuming continues it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from viz.state import AppState
from viz.training.process import LaunchOptions
from viz.training.session import TrainingSession

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST_OPTIONS = ["--tick-kimg", "0.004", "--snap-ticks", "1", "--image-snap-ticks", "1", "--warp", "none",
                "--grid-size", "2", "--eval-images", "2", "--no-progress"]


def _run(command: list[str]) -> None:
    subprocess.run([sys.executable, *command], cwd=REPO_ROOT, check=True, capture_output=True)


@pytest.mark.slow
def test_attach_to_a_command_line_run_shows_its_curves_and_resume_continues_it(tmp_path):
    data, outdir = tmp_path / "synth", tmp_path / "runs"
    _run(["-m", "core.data", "synth", "--out", str(data), "--count", "8", "--resolution", "64", "--workers", "1"])
    _run(["-m", "core.train", "--data", str(data), "--preset", "tiny", "--kimg", "0.008", "--batch", "4",
          "--outdir", str(outdir), *FAST_OPTIONS])
    run_dir = next(outdir.glob("00000-*"))
    written = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]

    session = TrainingSession(tmp_path / "config" / "training_runs.json", poll_interval_s=0.0)
    state = AppState(checkpoint="preset:tiny")
    assert session.attach(run_dir)
    session.update(state)
    assert session.status == "watching" and session.process is None
    kimg, loss = session.watcher.stats.series("Loss/G/loss")
    assert kimg == [row["Progress/kimg"] for row in written] == [0.004, 0.008]
    assert loss == [row["Loss/G/loss"]["mean"] for row in written]
    pose = session.watcher.stats.series("Pose/G_vs_data/head_deg")[1]
    assert pose == [row["Pose/G_vs_data/head_deg"]["mean"] for row in written]
    assert session.total_kimg() == pytest.approx(0.008)
    assert session.watcher.newest_grid.name == "fakes000000_posed.png"
    assert "training finished" in session.watcher.log.lines[-1]
    assert state.checkpoint == str(run_dir / "snapshot-000000.pt")  # follow mode picked up its snapshot

    session.options = LaunchOptions(data=str(data), preset="tiny", kimg=0.016, outdir=str(outdir), batch=4,
                                    extra_args=FAST_OPTIONS)
    assert session.resume_from(str(run_dir))
    deadline = time.monotonic() + 120
    try:
        while session.status == "running" and time.monotonic() < deadline:
            session.update(state)
            time.sleep(0.2)
    finally:
        if session.process.alive():  # a failed test must not leave a training running
            os.killpg(session.process.record.pid, signal.SIGKILL)
    assert session.status == "finished", session.messages + [session.ended_log]
    resumed = session.watcher.run_dir
    assert resumed != run_dir and resumed.parent == outdir
    log = (resumed / "log.txt").read_text()
    assert f"resuming {run_dir / 'snapshot-000000.pt'} at 0.008 kimg" in log
    assert session.watcher.stats.series("Progress/kimg")[1] == [0.012, 0.016]
