"""Incremental readers of files another process is appending to: stats.jsonl and a log's tail.

Each `poll()` reads only the bytes added since the last call. A last line without its newline is kept back until
it is complete; a file that shrank (replaced or truncated) is read again from the start.
"""
from __future__ import annotations

import json
import math
from collections import deque
from pathlib import Path
from typing import Any

TAIL_LINES = 200  # log lines kept for the panel
MAX_READ_BYTES = 4 << 20  # per poll: a long run's stats (tens of MB) are read over several frames, not in one stall


class _AppendedBytes:
    """Yields the complete new lines of a growing file."""

    def __init__(self, path: str | Path, max_bytes: int = MAX_READ_BYTES):
        self.path = Path(path)  # the file followed (it may not exist yet)
        self.max_bytes = max_bytes  # most bytes read per call
        self._offset = 0  # bytes consumed so far
        self._pending = b""  # the start of a line whose newline has not been written yet
        self.restarted = False  # the file shrank and was read again from its start (the reader clears this)

    def new_lines(self) -> list[str]:
        """Complete lines appended since the previous call (decoded, without newlines)."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return []
        if size < self._offset:  # replaced or truncated: start over
            self._offset, self._pending, self.restarted = 0, b"", True
        if size == self._offset:
            return []
        with open(self.path, "rb") as stream:
            stream.seek(self._offset)
            data = stream.read(min(size - self._offset, self.max_bytes))
        self._offset += len(data)
        *complete, self._pending = (self._pending + data).split(b"\n")
        return [line.decode("utf-8", errors="replace").rstrip("\r") for line in complete]

    def reset(self) -> None:
        self._offset, self._pending = 0, b""


class StatsReader:
    """Reads stats.jsonl: one JSON object per tick; `{name: {mean, ...}}` entries become their mean."""

    def __init__(self, path: str | Path):
        self._lines = _AppendedBytes(path)
        self.rows: list[dict[str, float]] = []  # one flat {name: value} per tick, in file order
        self._columns: dict[tuple[str, str], tuple[list[float], list[float]]] = {}  # (y, x) name -> (xs, ys)
        self.bad_lines = 0  # complete lines that were not a JSON object (skipped)
        self.generation = 0  # counts restarts on a rewritten file (caches of derived curves compare it)

    @property
    def path(self) -> Path:
        return self._lines.path

    def poll(self) -> int:
        """Reads what was appended; returns the number of new rows."""
        lines = self._lines.new_lines()
        if self._lines.restarted:  # a rewritten file: its rows replace the old ones
            self._lines.restarted = False
            self.rows, self._columns = [], {}
            self.generation += 1
        before = len(self.rows)
        for line in lines:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                self.bad_lines += 1
                continue
            if not isinstance(record, dict):
                self.bad_lines += 1
                continue
            row = flatten_stats(record)
            self.rows.append(row)
            for (name, x_name), (xs, ys) in self._columns.items():
                if name in row and x_name in row:
                    xs.append(row[x_name])
                    ys.append(row[name])
        return len(self.rows) - before

    def names(self) -> list[str]:
        """Every statistic name seen so far, sorted."""
        return sorted({name for row in self.rows for name in row})

    def series(self, name: str, x_name: str = "Progress/kimg") -> tuple[list[float], list[float]]:
        """(x, y) of the rows that have both `x_name` and `name` (kept up to date after the first call: the panel
        asks every frame). The lists are the reader's own: do not modify them."""
        key = (name, x_name)
        if key not in self._columns:
            self._columns[key] = ([row[x_name] for row in self.rows if name in row and x_name in row],
                                  [row[name] for row in self.rows if name in row and x_name in row])
        return self._columns[key]

    def latest(self, name: str, default: float | None = None) -> float | None:
        for row in reversed(self.rows):
            if name in row:
                return row[name]
        return default


def flatten_stats(record: dict[str, Any]) -> dict[str, float]:
    """`{"Loss/G/loss": {"mean": m, ...}, "Progress/kimg": k}` -> `{"Loss/G/loss": m, "Progress/kimg": k}`."""
    flat = {}
    for name, value in record.items():
        if isinstance(value, dict):
            value = value.get("mean")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            flat[name] = float(value)
    return flat


class LogTail:
    """The last `TAIL_LINES` lines of a growing text file."""

    def __init__(self, path: str | Path, max_lines: int = TAIL_LINES):
        self._lines = _AppendedBytes(path)
        self.lines: deque[str] = deque(maxlen=max_lines)  # newest last

    @property
    def path(self) -> Path:
        return self._lines.path

    def poll(self) -> int:
        """Reads appended lines (tqdm's carriage-return updates keep only their last state); returns their count."""
        new = [line.split("\r")[-1] for line in self._lines.new_lines()]
        self.lines.extend(new)
        return len(new)

    def text(self, last: int | None = None) -> str:
        lines = list(self.lines)
        return "\n".join(lines if last is None else lines[-last:])


def smooth(values: list[float], weight: float) -> list[float]:
    """Exponential moving average with debiasing (TensorBoard's smoothing): weight 0 = raw, towards 1 = smoother."""
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    smoothed, average, total = [], 0.0, 0.0
    for value in values:
        average = weight * average + (1.0 - weight) * value
        total = weight * total + (1.0 - weight)
        smoothed.append(average / total)
    return smoothed
