"""The `generate` benchmark section reports its contract figure names, and fps and frame time agree."""
from __future__ import annotations

import pytest
import torch

from core.bench import generate as bench
from core.bench.harness import BenchContext


def test_quick_run_reports_video_fps_for_tiny_on_cpu(monkeypatch):
    monkeypatch.setattr(bench, "QUICK", {"tiny": 2})  # two frames: the names and arithmetic, not the speed
    figures = bench.run(BenchContext(quick=True, device=torch.device("cpu")))
    assert set(figures) == {"generate.video_fps.tiny.cpu", "generate.video_frame_ms.tiny.cpu"}
    fps = figures["generate.video_fps.tiny.cpu"]
    assert 0 < fps < float("inf")
    assert figures["generate.video_frame_ms.tiny.cpu"] == pytest.approx(1000.0 / fps)
