"""Benchmark section `data`: synthetic portrait rendering throughput and dataset reading speed.

Figures:
- `data.synth_img_per_s.<res>.cpu`: images per second written by the synthesiser's rendering workers
  (two processes, offscreen GL on the CPU, PNG encoding included, worker start-up excluded).
- `data.synth_cpu_ms_per_img.<res>.cpu`: CPU milliseconds one worker spends per image (robust to other
  load on the machine; 2000 / this is the rate two idle cores can reach).
- `data.read_img_per_s.<res>.cpu`: images per second the reader decodes (image, mask, label; one process).
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from core.bench.harness import BenchContext
from core.data.reader import PortraitDataset
from core.data.synth import SynthesisPool, SynthSettings, synthesize

WORKERS = 2  # the target machine has two cores


def _synth_rate(resolution: int, count: int, root: Path) -> float:
    settings = SynthSettings(resolution=resolution, seed=1)
    with SynthesisPool(settings, WORKERS) as pool:
        pool.warm_up()
        start = time.perf_counter()
        synthesize(root / f"synth{resolution}", count, settings, progress=False, pool=pool)
        return count / (time.perf_counter() - start)


def _synth_cpu_ms(resolution: int, count: int, root: Path) -> float:
    settings = SynthSettings(resolution=resolution, seed=2)
    with SynthesisPool(settings, 1) as pool:
        pool.warm_up()
        before = pool.cpu_seconds()
        synthesize(root / f"cpu{resolution}", count, settings, progress=False, pool=pool)
        return (pool.cpu_seconds() - before) * 1e3 / count


def _read_rate(root: Path) -> float:
    dataset = PortraitDataset(root)
    start = time.perf_counter()
    for index in range(len(dataset)):
        dataset[index]
    return len(dataset) / (time.perf_counter() - start)


def run(ctx: BenchContext) -> dict[str, float]:
    figures: dict[str, float] = {}
    plan = {128: 48} if ctx.quick else {64: 400, 128: 400}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as folder:
        for resolution, count in plan.items():
            figures[f"data.synth_img_per_s.{resolution}.cpu"] = _synth_rate(resolution, count, Path(folder))
            cpu_ms = _synth_cpu_ms(resolution, count // 2, Path(folder))
            figures[f"data.synth_cpu_ms_per_img.{resolution}.cpu"] = cpu_ms
            figures[f"data.read_img_per_s.{resolution}.cpu"] = _read_rate(Path(folder) / f"synth{resolution}")
    return figures
