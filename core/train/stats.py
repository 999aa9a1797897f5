"""Training statistics and the run folder: stats.jsonl (one line per tick), log.txt, the resolved config.

The GUI follows a run through these files alone, so every file that others read is written atomically
(whole-file writes) or appended one complete line at a time (stats.jsonl, log.txt).
"""
from __future__ import annotations

import json
import math
import os
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_output
from core.train.distributed import DistributedContext, all_reduce_mean

RUN_NAME = re.compile(r"^(\d{5})-")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as indented JSON to `path` through a temporary file and a rename."""
    with atomic_output(path, "w", durable=False) as stream:
        json.dump(data, stream, indent=2, sort_keys=True)


def create_run_dir(outdir: str | os.PathLike, preset: str, dataset_name: str) -> Path:
    """Make `<outdir>/<NNNNN>-<preset>-<dataset>` with NNNNN one above the highest existing run number."""
    outdir = Path(outdir).expanduser().resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    numbers = [int(match.group(1)) for entry in outdir.iterdir() if (match := RUN_NAME.match(entry.name))]
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_name) or "data"
    for number in range(max(numbers, default=-1) + 1, max(numbers, default=-1) + 100):
        run_dir = outdir / f"{number:05d}-{preset}-{safe_name}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # another run took this number at the same moment
            continue
    raise RuntimeError(f"{outdir}: could not create a new run folder")


class RunLog:
    """log.txt of the run: every line printed by the main process, time-stamped, flushed at once."""

    def __init__(self, path: Path | None, echo: bool = True):
        self.path = path
        self.echo = echo

    def __call__(self, message: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {message}"
        if self.echo:
            print(line, flush=True)
        if self.path is not None:
            with open(self.path, "a") as stream:
                stream.write(line + "\n")


class StatsCollector:
    """Scalars gathered during a tick; `reduce` gives {name: {num, mean, std}} over every rank."""

    def __init__(self):
        self._sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])

    def add(self, values: dict[str, torch.Tensor | float]) -> None:
        """Record one value per name (tensors are read once here, after the step)."""
        for name, value in values.items():
            number = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
            if math.isfinite(number):
                entry = self._sums[name]
                entry[0] += 1
                entry[1] += number
                entry[2] += number * number

    def reduce(self, context: DistributedContext) -> dict[str, dict[str, float]]:
        """Means and standard deviations over the tick and all ranks; empties the collector.

        Every rank must have added the same names (they run the same phases), so one all-reduce suffices.
        """
        names = sorted(self._sums)
        if not names:
            return {}
        totals = torch.tensor([self._sums[name] for name in names], dtype=torch.float64)
        totals = all_reduce_mean(totals.to(context.device), context).cpu() * context.world_size
        self._sums.clear()
        result = {}
        for name, (count, total, total_sq) in zip(names, totals.tolist()):
            mean = total / max(count, 1)
            variance = max(total_sq / max(count, 1) - mean * mean, 0.0)
            result[name] = {"num": int(round(count)), "mean": mean, "std": math.sqrt(variance)}
        return result


def append_stats_line(path: Path, stats: dict[str, Any]) -> None:
    """Append one complete JSON line to stats.jsonl (a single write, so a reader never sees half a line)."""
    line = json.dumps({**stats, "timestamp": time.time()}, sort_keys=True) + "\n"
    with open(path, "a") as stream:
        stream.write(line)
        stream.flush()


def memory_stats(device: torch.device) -> dict[str, float]:
    """Peak accelerator memory and the process's resident memory, in GB."""
    result = {}
    if device.type == "cuda":
        result["Resources/peak_gpu_mem_gb"] = torch.cuda.max_memory_allocated(device) / 2**30
        torch.cuda.reset_peak_memory_stats(device)
    try:
        import resource  # lazy: Unix only; elsewhere the ImportError below skips the figure

        result["Resources/peak_cpu_mem_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    except ImportError:  # not on every platform
        pass
    return result
