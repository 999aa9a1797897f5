"""The training panel's logic without a window: launch, attach, watch, follow snapshots, stop, resume.

`TrainingSession.update(state)` runs once per frame; it reads files at most every `poll_interval_s` and, in
follow mode, points `state.checkpoint` at each new snapshot so the normal render path loads it while the
latent, camera and pose stay as they are.
"""
from __future__ import annotations

import time
from pathlib import Path

from viz.state import AppState
from viz.training.files import LogTail
from viz.training.process import ActiveRuns, LaunchOptions, TrainingProcess, validate
from viz.training.watch import DatasetCheck, RunWatcher, SnapshotFile, read_run_options, run_total_kimg

DEATH_LOG_LINES = 15  # lines of the console log shown when the process dies


class TrainingSession:
    """One watched run at a time: launched here, remembered from an earlier session, or attached by folder."""

    def __init__(self, active_runs_path: str | Path, poll_interval_s: float = 0.5):
        self.options = LaunchOptions()  # the launch form
        self.active_runs = ActiveRuns(active_runs_path)  # launches that may outlive this GUI
        self.poll_interval_s = poll_interval_s  # seconds between file reads
        self.process: TrainingProcess | None = None  # the launched or re-found process; None when only watching
        self.watcher: RunWatcher | None = None  # the run folder being watched
        self.console: LogTail | None = None  # stdout+stderr of a launch (has errors before the run folder exists)
        self.dataset_check: DatasetCheck | None = None  # the newest dataset check
        self.follow = True  # switch the viewer to each new snapshot
        self.followed: SnapshotFile | None = None  # the snapshot the viewer was last pointed at
        self.rewritten_snapshot = False  # the followed file was replaced under the same name: render it again
        self.status = "idle"  # idle | running | stopping | finished | failed | watching
        self.messages: list[str] = []  # what happened, newest last (the panel shows the end)
        self.ended_log = ""  # the end of the log of a process that died
        self._last_poll = 0.0

    # ----- actions -----

    def check_dataset(self) -> None:
        if self.options.data.strip():
            self.dataset_check = DatasetCheck(self.options.data)

    def start(self) -> bool:
        """Launches `python -m core.train` with the form's options; False (with a message) if they are unusable."""
        if self.running:
            self._say("a training is already running: stop it first")
            return False
        problems = validate(self.options)
        if problems:
            self._say("cannot start: " + "; ".join(problems))
            return False
        try:
            process = TrainingProcess.launch(self.options)
        except OSError as error:
            self._say(f"could not start training: {error}")
            return False
        self._watch_process(process)
        self._say(f"started training (pid {process.record.pid}); console output in {process.record.console_log}")
        self._remember()
        return True

    def resume_from(self, run_or_snapshot: str) -> bool:
        """Starts a new run that continues `run_or_snapshot` (a run folder or snapshot file)."""
        self.options.resume = run_or_snapshot
        return self.start()

    def stop(self) -> None:
        """Asks training to write a last snapshot and exit (SIGINT to its process group)."""
        if self.process is None or not self.running:
            self._say("no running training to stop")
            return
        if self.process.stop():
            self.status = "stopping"
            self._say("stop requested: training writes a last snapshot and exits")

    def attach(self, run_dir: str | Path) -> bool:
        """Watches an existing run folder (started anywhere); its process, if remembered, becomes stoppable."""
        run_dir = Path(run_dir).expanduser().resolve()
        if not (run_dir / "training_options.json").exists() and not (run_dir / "stats.jsonl").exists():
            self._say(f"{run_dir} is not a run folder (no training_options.json or stats.jsonl): choose a "
                      "<NNNNN>-<preset>-<dataset> folder written by python -m core.train")
            return False
        self.process, self.console = None, None
        for record in self.active_runs.load():
            if record.run_dir and Path(record.run_dir) == run_dir:
                self._watch_process(TrainingProcess(record))
        self.watcher = RunWatcher(run_dir)
        self.followed = None
        self.status = "running" if self.process is not None else "watching"
        self._prefill_from_run(run_dir)
        self._say(f"watching {run_dir}")
        self._last_poll = 0.0
        return True

    def reattach_remembered(self) -> bool:
        """At start-up: watch the newest remembered launch that still runs."""
        records = self.active_runs.load()
        if not records:
            return False
        self._watch_process(TrainingProcess(records[-1]))
        self._say(f"training (pid {records[-1].pid}) from an earlier session is still running: watching it")
        return True

    # ----- per frame -----

    @property
    def running(self) -> bool:
        return self.process is not None and self.status in ("running", "stopping")

    def total_kimg(self) -> float | None:
        if self.watcher is not None:
            total = run_total_kimg(self.watcher.run_dir)
            if total is not None:
                return total
        return self.options.kimg if self.process is not None else None

    def update(self, state: AppState, now: float | None = None) -> bool:
        """Reads new files (throttled), notices a new run folder, a new snapshot or a dead process.

        Returns True when something new was read.
        """
        now = time.monotonic() if now is None else now
        if now - self._last_poll < self.poll_interval_s:
            return False
        self._last_poll = now
        changed = False
        if self.console is not None:
            changed |= bool(self.console.poll())
        if self.process is not None and self.watcher is None:
            run_dir = self.process.find_run_dir()
            if run_dir is not None:
                self.watcher = RunWatcher(run_dir)
                self._remember()
                self._say(f"run folder {run_dir}")
        if self.watcher is not None:
            changed |= self.watcher.poll()
            self._follow(state)
        if self.process is not None and self.status in ("running", "stopping") and not self.process.alive():
            self._ended()
            changed = True
        return changed

    # ----- helpers -----

    def _watch_process(self, process: TrainingProcess) -> None:
        self.process = process
        self.console = LogTail(process.record.console_log)
        self.watcher = RunWatcher(process.record.run_dir) if process.record.run_dir else None
        self.followed = None
        self.status = "running"
        self.ended_log = ""
        self._last_poll = 0.0

    def _follow(self, state: AppState) -> None:
        newest = self.watcher.newest_snapshot
        if not self.follow or newest is None or newest == self.followed:
            return
        # Short runs rewrite snapshot-000000.pt: the same path needs a new render to load the new weights.
        self.rewritten_snapshot = self.followed is not None and self.followed.path == newest.path
        self.followed = newest
        state.checkpoint = str(newest.path)
        self._say(f"viewer follows {newest.path.name}" + (" (rewritten)" if self.rewritten_snapshot else ""))

    def _prefill_from_run(self, run_dir: Path) -> None:
        """Fills an empty launch form from the run's options, so that Resume works after attaching."""
        options = read_run_options(run_dir)
        if not self.options.data and isinstance(options.get("data"), str):
            self.options.data = options["data"]
        if not self.options.outdir:
            self.options.outdir = str(run_dir.parent)
        if isinstance(options.get("preset"), str):
            self.options.preset = options["preset"]

    def _ended(self) -> None:
        """The process is gone: finished, stopped, or died (then the end of its output says why)."""
        # Read what it wrote last, so that its final lines and snapshot are shown.
        if self.console is not None:
            self.console.poll()
        if self.watcher is None and self.process.find_run_dir() is not None:
            self.watcher = RunWatcher(self.process.record.run_dir)
        if self.watcher is not None:
            self.watcher.poll()
        code = self.process.exit_code
        log_lines = list(self.watcher.log.lines) if self.watcher is not None else []
        cleanly = any("training finished" in line or "last snapshot is complete" in line for line in log_lines[-3:])
        # torchrun itself exits 1 after forwarding SIGINT (its convention): the run's own log decides then.
        if code == 0 or cleanly:
            self.status = "finished"
            self._say("training " + ("stopped; its last snapshot is complete" if log_lines and "signal" in
                                     log_lines[-1] else "finished"))
        else:
            self.status = "failed"
            source = self.console if self.console is not None and self.console.lines else None
            lines = list(source.lines) if source is not None else log_lines
            self.ended_log = "\n".join(lines[-DEATH_LOG_LINES:])
            self._say(f"training ended with exit status {code if code is not None else 'unknown'}; "
                      "the end of its output is shown below")
        self._remember()

    def _remember(self) -> None:
        """Keeps running launches in the active-runs file (for the next session); drops ended ones."""
        records = [record for record in self.active_runs.load()
                   if self.process is None or record.pid != self.process.record.pid]
        if self.process is not None and self.status in ("running", "stopping"):
            records.append(self.process.record)
        try:
            self.active_runs.save(records)
        except OSError as error:
            self._say(f"could not remember the active runs in {self.active_runs.path}: {error}")

    def _say(self, text: str) -> None:
        self.messages.append(text)
        del self.messages[:-20]
