"""Watching a run folder (stats, log, image grids, snapshots) and checking a dataset in a subprocess."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from viz.training.files import LogTail, StatsReader
from viz.training.process import REPO_ROOT

SNAPSHOT_NAME = re.compile(r"^snapshot-(\d{6})\.pt$")  # written atomically by core.train
GRID_NAME = re.compile(r"^fakes(\d{6})_posed\.png$")  # G_ema's sample grid at each image tick
CHECK_TIMEOUT_S = 300.0  # a dataset check that takes longer is reported as stuck


@dataclass(frozen=True)
class SnapshotFile:
    """A complete snapshot: its path and modification time (short runs rewrite snapshot-000000.pt)."""

    path: Path  # run_dir/snapshot-<kimg>.pt
    mtime_ns: int  # changes when the file is replaced


class RunWatcher:
    """Follows one run folder; `poll()` reads only what changed."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)  # the run folder watched
        self.stats = StatsReader(self.run_dir / "stats.jsonl")  # one row per tick
        self.log = LogTail(self.run_dir / "log.txt")  # the run's own log
        self.snapshots: list[SnapshotFile] = []  # complete snapshots, oldest first
        self.newest_grid: Path | None = None  # newest posed sample grid
        self.grid_mtime_ns = 0  # of `newest_grid`, to notice a rewritten file

    def poll(self) -> bool:
        """Reads new stats and log lines and lists snapshots and grids; True if anything changed."""
        changed = bool(self.stats.poll()) | bool(self.log.poll())
        snapshots, grid, grid_mtime = [], None, 0
        try:
            entries = list(self.run_dir.iterdir())
        except FileNotFoundError:
            return changed
        for entry in entries:
            try:
                mtime = entry.stat().st_mtime_ns
            except FileNotFoundError:  # replaced between listing and stat
                continue
            if SNAPSHOT_NAME.match(entry.name):
                snapshots.append(SnapshotFile(entry, mtime))
            elif GRID_NAME.match(entry.name) and (grid is None or (entry.name, mtime) > (grid.name, grid_mtime)):
                grid, grid_mtime = entry, mtime
        snapshots.sort(key=lambda snapshot: (snapshot.path.name, snapshot.mtime_ns))
        if snapshots != self.snapshots:
            self.snapshots, changed = snapshots, True
        if (grid, grid_mtime) != (self.newest_grid, self.grid_mtime_ns):
            self.newest_grid, self.grid_mtime_ns, changed = grid, grid_mtime, True
        return changed

    @property
    def newest_snapshot(self) -> SnapshotFile | None:
        return self.snapshots[-1] if self.snapshots else None

    def progress(self) -> dict[str, float]:
        """kimg done, images per second, seconds so far, from the newest stats row ({} before the first tick)."""
        if not self.stats.rows:
            return {}
        figures = {}
        for key, name in (("kimg", "Progress/kimg"), ("img_per_s", "Timing/img_per_s"),
                          ("total_s", "Timing/total_sec"), ("cpu_mem_gb", "Resources/peak_cpu_mem_gb"),
                          ("gpu_mem_gb", "Resources/peak_gpu_mem_gb")):
            value = self.stats.latest(name)
            if value is not None:
                figures[key] = value
        return figures


def time_left_s(kimg_done: float, kimg_total: float, img_per_s: float) -> float | None:
    """Seconds to reach `kimg_total` at `img_per_s`; None when the rate is unknown."""
    if img_per_s <= 0:
        return None
    return max(kimg_total - kimg_done, 0.0) * 1000.0 / img_per_s


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


def read_run_options(run_dir: str | Path) -> dict:
    """The run's training_options.json ({} if missing or unreadable)."""
    try:
        options = json.loads((Path(run_dir) / "training_options.json").read_text())
    except (OSError, ValueError):
        return {}
    return options if isinstance(options, dict) else {}


def run_total_kimg(run_dir: str | Path) -> float | None:
    """The run's target kimg from training_options.json (None if unreadable)."""
    try:
        return float(read_run_options(run_dir)["training"]["total_kimg"])
    except (KeyError, TypeError, ValueError):
        return None


class DatasetCheck:
    """`python -m core.data check PATH` in a background thread (the check needs torch; the GUI must not)."""

    def __init__(self, path: str, python: str = sys.executable):
        self.path = path  # the dataset checked
        self.done = False  # the check finished (or failed to run)
        self.ok = False  # the dataset is usable
        self.summary = ""  # the checker's output: counts, histograms, errors naming files
        self._thread = threading.Thread(target=self._run, args=(python,), daemon=True)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        self._thread.join(timeout_s)
        return self.done

    def _run(self, python: str) -> None:
        try:
            # TQDM_DISABLE keeps the checker's progress bars out of the summary.
            finished = subprocess.run([python, "-m", "core.data", "check", str(Path(self.path).expanduser())],
                                      cwd=REPO_ROOT, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S,
                                      env=dict(os.environ, TQDM_DISABLE="1"))
            self.ok = finished.returncode == 0
            self.summary = (finished.stdout + finished.stderr).strip()
        except subprocess.TimeoutExpired:
            self.summary = f"the dataset check of {self.path} took over {CHECK_TIMEOUT_S:.0f} s and was abandoned"
        except OSError as error:
            self.summary = f"could not run the dataset check: {error}"
        self.done = True
