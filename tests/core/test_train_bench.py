"""The train bench's warp ratio: the median of interleaved pairs, robust to one slow sample."""
from __future__ import annotations

import torch

import core.bench.train as train_bench
from core.bench.harness import BenchContext


def test_the_warp_ratio_is_the_median_of_interleaved_pairs(monkeypatch):
    # (warp, no warp) per pair: the machine slows down during the second pair, and one warp sample is slow.
    answers = iter([3.0, 4.0, 1.5, 2.0, 1.0, 5.0])
    asked = []

    def images_per_second(name, device, warp_mode, repeats):
        asked.append(warp_mode)
        return next(answers)

    monkeypatch.setattr(train_bench, "images_per_second", images_per_second)
    monkeypatch.setattr(train_bench, "PAIRS", 3)
    figures = train_bench.run(BenchContext(quick=True, device=torch.device("cpu")))
    assert asked == [train_bench.DEFAULT_WARP, "none"] * 3  # interleaved
    assert figures["train.warp_throughput_ratio.tiny.cpu"] == 0.75  # median of 0.75, 0.75, 0.2 (max / max: 0.6)
    assert figures["train.img_per_s.tiny.cpu"] == 3.0 and figures["train.img_per_s.tiny.no_warp.cpu"] == 5.0
