"""The `generator` benchmark section reports its contract figure names with plausible values."""
from __future__ import annotations

import torch

from core.bench import generator as bench


def test_time_preset_reports_every_stage_for_tiny_on_cpu():
    figures = bench.time_preset("tiny", torch.device("cpu"), repeats=1)
    stages = ("render_ms", "mapping_ms", "trigrid_ms", "rendering_ms", "superres_ms", "render_ms_cached")
    assert set(figures) == {f"generator.{stage}.tiny.cpu" for stage in stages}
    assert all(0 < value < float("inf") for value in figures.values())
