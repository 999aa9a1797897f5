"""Timing helpers shared by the benchmark sections."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class BenchContext:
    """What every benchmark section is given."""

    quick: bool  # keep the whole run under a minute on 2 CPU cores
    device: torch.device  # where the models run

    @property
    def device_name(self) -> str:
        """`cpu` or `cuda`, the suffix of device-specific figure names."""
        return self.device.type


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock milliseconds of `fn()` over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)
