"""SIGINT to a running `python -m core.train`: a last complete snapshot, no partial file, exit status 0."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.checkpoint import load_checkpoint
from core.loading import load_generator
from tests.core.test_train_support import training_command, write_dataset

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_first_tick(outdir: Path, process: subprocess.Popen, timeout_s: float = 240) -> Path:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-2000:]
        for stats in outdir.glob("*/stats.jsonl"):
            if stats.read_text().strip():
                return stats.parent
        time.sleep(0.2)
    process.kill()
    raise AssertionError("training wrote no tick within the time limit")


def test_sigint_writes_a_loadable_snapshot_and_exits_cleanly(tmp_path):
    data = write_dataset(tmp_path / "data", count=4)
    outdir = tmp_path / "runs"
    # Long enough never to finish on its own; snapshots only at the end.
    command = [sys.executable, "-m", "core.train", *training_command(data, outdir, 10.0, "--warp", "none",
                                                                      "--snap-ticks", "1000")]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    run_dir = _wait_for_first_tick(outdir, process)
    assert not list(run_dir.glob("snapshot-*.pt"))
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=240)
    assert process.returncode == 0, stderr[-2000:]

    snapshots = list(run_dir.glob("snapshot-*.pt"))
    assert len(snapshots) == 1
    assert not [path for path in run_dir.iterdir() if path.name.endswith(".partial")]
    payload = load_checkpoint(snapshots[0])
    cur_nimg = payload["metadata"]["progress"]["cur_nimg"]
    assert payload["kind"] == "training" and 2 <= cur_nimg < 10_000
    generator, metadata = load_generator(snapshots[0], "cpu")
    assert metadata["kimg"] == cur_nimg / 1000
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert lines[-1]["Progress/kimg"] == cur_nimg / 1000
    assert "stopped by signal" in (run_dir / "log.txt").read_text()
