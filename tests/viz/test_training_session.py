"""Launching, stopping, remembering and following training runs, with small stand-in processes and run folders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes import FakeClient
from viz.controller import Controller
from viz.state import AppState
from viz.training.process import (ActiveRuns, LaunchOptions, RunRecord, TrainingProcess, build_command,
                                  display_command, process_alive, validate)
from viz.training.session import TrainingSession
from viz.training.watch import DatasetCheck, format_duration, time_left_s

REPO_ROOT = Path(__file__).resolve().parents[2]
# Stands in for core.train: on SIGINT it writes a "snapshot" and exits 0, as the trainer does.
FAKE_TRAINER = r"""
import signal, sys, time
from pathlib import Path
def stop(signum, frame):
    Path(sys.argv[1]).write_text("last snapshot")
    with open(sys.argv[2], "a") as log:
        log.write("[00:00:00] stopped by signal; the last snapshot is complete\n")
    sys.exit(int(sys.argv[3]))
signal.signal(signal.SIGINT, stop)
time.sleep(60)
"""


def _fake_trainer(tmp_path: Path, marker: Path, exit_code: int = 0) -> TrainingProcess:
    console, run_dir = tmp_path / "console.log", tmp_path / "00000-tiny-fake"
    run_dir.mkdir(exist_ok=True)
    command = [sys.executable, "-c", FAKE_TRAINER, str(marker), str(run_dir / "log.txt"), str(exit_code),
               "core.train"]
    popen = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL)
    record = RunRecord(pid=popen.pid, command=command, outdir=str(tmp_path), console_log=str(console),
                       started=time.time(), run_dir=str(run_dir))
    return TrainingProcess(record, popen)


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def _status_after_update(session: TrainingSession) -> str:
    session.update(AppState())
    return session.status


def test_commands_for_one_process_and_for_torchrun(tmp_path):
    options = LaunchOptions(data=str(tmp_path / "data"), preset="tiny", kimg=0.5, outdir=str(tmp_path / "runs"),
                            batch=8, extra_args=["--snap-ticks", "1"])
    assert build_command(options, python="py") == [
        "py", "-m", "core.train", "--data", str(tmp_path / "data"), "--preset", "tiny", "--kimg", "0.5",
        "--outdir", str(tmp_path / "runs"), "--batch", "8", "--snap-ticks", "1"]
    options.gpus, options.resume = 2, str(tmp_path / "runs" / "00000-tiny-data")
    assert build_command(options, python="py")[:6] == ["py", "-m", "torch.distributed.run", "--nproc_per_node=2",
                                                       "-m", "core.train"]
    shown = display_command(options)
    assert shown.startswith("torchrun --nproc_per_node 2 -m core.train --data ")
    assert f"--resume {tmp_path / 'runs' / '00000-tiny-data'}" in shown
    options.batch = 5
    assert validate(options) == ["batch 5 must be a multiple of the number of GPUs (2)"]
    assert validate(LaunchOptions()) == ["choose a dataset folder", "choose an output folder for the runs"]


def test_stop_sends_sigint_to_the_process_group_and_the_trainer_exits_cleanly(tmp_path):
    marker = tmp_path / "snapshot.txt"
    process = _fake_trainer(tmp_path, marker)
    try:
        time.sleep(0.5)  # let it install its handler
        assert process.alive()
        assert process.stop()
        _wait(lambda: not process.alive(), 10, "the stand-in trainer to exit")
        assert process.exit_code == 0
        assert marker.read_text() == "last snapshot"
        assert not process.stop()  # nothing left to signal
    finally:
        if process.alive():
            process._popen.kill()


def test_active_runs_remember_live_trainings_and_forget_ended_ones(tmp_path):
    registry = ActiveRuns(tmp_path / "config" / "training_runs.json")
    assert registry.load() == []
    live = _fake_trainer(tmp_path, tmp_path / "unused.txt")
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    try:
        records = [live.record, RunRecord(pid=ended.pid, command=[], outdir="", console_log="", started=0.0)]
        registry.save(records)
        assert [record.pid for record in registry.load()] == [live.record.pid]
        assert not list(registry.path.parent.glob("*.partial"))
        registry.path.write_text("{broken")
        assert registry.load() == []
    finally:
        live._popen.kill()
        live._popen.wait()
    assert not process_alive(live.record.pid)


def test_a_new_session_reattaches_to_a_remembered_run_and_can_stop_it(tmp_path):
    marker = tmp_path / "snapshot.txt"
    launched = _fake_trainer(tmp_path, marker)
    try:
        ActiveRuns(tmp_path / "runs.json").save([launched.record])
        session = TrainingSession(tmp_path / "runs.json", poll_interval_s=0.0)
        assert session.reattach_remembered()
        assert session.status == "running" and session.process.record.pid == launched.record.pid
        time.sleep(0.3)
        session.stop()
        _wait(lambda: launched._popen.poll() is not None, 10, "the remembered trainer to stop")
        _wait(lambda: _status_after_update(session) == "finished", 10, "the session to notice the end")
        assert marker.read_text() == "last snapshot"
        assert ActiveRuns(tmp_path / "runs.json").load() == []
    finally:
        if launched._popen.poll() is None:
            launched._popen.kill()


def _write_run(run_dir: Path, ticks: int) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "training_options.json").write_text(json.dumps({"training": {"total_kimg": 0.04},
                                                               "data": "/data/synth", "preset": "small"}))
    with open(run_dir / "stats.jsonl", "a") as stream:
        for tick in range(ticks):
            stream.write(json.dumps({"Progress/kimg": 0.004 * (tick + 1), "Timing/img_per_s": 2.0,
                                     "Loss/G/loss": {"mean": 1.0 / (tick + 1)}}) + "\n")


def test_follow_mode_points_the_viewer_at_each_new_snapshot_and_keeps_the_rest(tmp_path):
    run_dir = tmp_path / "runs" / "00003-tiny-synth"
    _write_run(run_dir, 2)
    session = TrainingSession(tmp_path / "runs.json", poll_interval_s=0.0)
    assert session.attach(run_dir)
    state = AppState(checkpoint="preset:tiny")
    state.camera.yaw_deg, state.latent.seed_x = 40.0, 3.0
    session.update(state)
    assert state.checkpoint == "preset:tiny"  # no snapshot yet
    assert session.total_kimg() == 0.04 and session.watcher.progress()["kimg"] == 0.008
    # The launch form is filled from the run, so that Resume can start at once.
    assert (session.options.data, session.options.preset, session.options.outdir) == (
        "/data/synth", "small", str(run_dir.parent))
    (run_dir / ".snapshot-000000.pt.abc.partial").write_bytes(b"half")  # an unfinished atomic write is ignored
    session.update(state)
    assert state.checkpoint == "preset:tiny"
    first = run_dir / "snapshot-000000.pt"
    first.write_bytes(b"one")
    session.update(state)
    assert state.checkpoint == str(first)
    assert (state.camera.yaw_deg, state.latent.seed_x) == (40.0, 3.0)
    session.follow = False
    (run_dir / "snapshot-000001.pt").write_bytes(b"two")
    session.update(state)
    assert state.checkpoint == str(first)
    session.follow = True
    session.update(state)
    assert state.checkpoint == str(run_dir / "snapshot-000001.pt")
    assert not session.rewritten_snapshot
    time.sleep(0.01)
    (run_dir / "snapshot-000001.pt").write_bytes(b"two, retrained")  # short runs rewrite the same name
    os.utime(run_dir / "snapshot-000001.pt", ns=(time.time_ns(), time.time_ns() + 10**9))
    session.update(state)
    assert session.rewritten_snapshot and state.checkpoint == str(run_dir / "snapshot-000001.pt")
    assert not session.attach(tmp_path)  # not a run folder
    assert "is not a run folder" in session.messages[-1]


def test_a_launch_finds_its_own_new_run_folder(tmp_path):
    outdir = tmp_path / "runs"
    (outdir / "00000-tiny-old").mkdir(parents=True)
    record = RunRecord(pid=0, command=[], outdir=str(outdir), console_log="", started=0.0,
                       known_runs=["00000-tiny-old"])
    process = TrainingProcess(record)
    assert process.find_run_dir() is None
    (outdir / "notes").mkdir()
    (outdir / "00001-tiny-synth").mkdir()
    assert process.find_run_dir() == outdir / "00001-tiny-synth"
    assert record.run_dir == str(outdir / "00001-tiny-synth")


def test_an_invalid_dataset_fails_fast_and_the_session_shows_the_dataset_error(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.png").write_bytes(b"not a png")
    session = TrainingSession(tmp_path / "runs.json", poll_interval_s=0.0)
    session.options = LaunchOptions(data=str(bad), preset="tiny", kimg=0.01, outdir=str(tmp_path / "runs"))
    started = time.monotonic()
    assert session.start()
    assert ActiveRuns(tmp_path / "runs.json").load()[0].pid == session.process.record.pid
    _wait(lambda: _status_after_update(session) == "failed", 60, "the launch to fail")
    assert time.monotonic() - started < 60
    assert session.process.exit_code == 1
    assert "dataset.json: is missing" in session.ended_log
    assert ActiveRuns(tmp_path / "runs.json").load() == []
    check = DatasetCheck(str(bad))
    assert check.wait(60) and not check.ok
    assert "dataset.json: is missing" in check.summary and "reading" not in check.summary


def test_progress_figures():
    assert time_left_s(0.5, 1.5, 4.0) == pytest.approx(250.0)
    assert time_left_s(0.5, 1.5, 0.0) is None
    assert format_duration(3725) == "1h 02m" and format_duration(65) == "1m 05s" and format_duration(None) == "?"


def test_the_training_panel_keeps_the_gui_process_free_of_torch():
    code = ("import sys, widgets.training_widget, viz.training.session, viz.training.watch; "
            "from viz.training.session import TrainingSession; "
            "print('torch' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    assert output.returncode == 0, output.stderr
    assert output.stdout.strip() == "False"


def test_render_again_resends_an_unchanged_request_so_a_rewritten_snapshot_is_loaded(tmp_path):
    controller = Controller(AppState(checkpoint="preset:tiny"), FakeClient(), "cpu", tmp_path / "captures")
    assert controller.end_frame(editing=False, dragging=False) is not None
    assert controller.end_frame(editing=False, dragging=False) is None  # unchanged: not sent again
    controller.context.post("render_again")
    assert controller.end_frame(editing=False, dragging=False) is not None


def test_a_launcher_that_exits_1_after_a_clean_stop_counts_as_stopped(tmp_path):
    # torchrun reports exit status 1 after forwarding SIGINT although its workers wrote the last snapshot.
    process = _fake_trainer(tmp_path, tmp_path / "snapshot.txt", exit_code=1)
    session = TrainingSession(tmp_path / "runs.json", poll_interval_s=0.0)
    session._watch_process(process)
    time.sleep(0.3)
    session.stop()
    _wait(lambda: _status_after_update(session) != "stopping", 10, "the stand-in launcher to exit")
    assert process.exit_code == 1
    assert session.status == "finished" and session.messages[-1] == "training stopped; its last snapshot is complete"
