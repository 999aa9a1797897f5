"""The viz benchmark section produces its contract figures through the real process-mode client."""
from __future__ import annotations

import pytest
import torch

from renderer.bench import viz
from core.bench.harness import BenchContext


@pytest.mark.slow
def test_viz_section_reports_the_contract_figures():
    figures = viz.run(BenchContext(quick=True, device=torch.device("cpu")))
    assert set(figures) == {"viz.preview_latency_ms.cpu", "viz.full_render_ms.cpu",
                            "viz.preview_latency_model_is_default", "viz.worker_first_frame_ms.cpu",
                            "viz.pose_change_ms.cpu", "viz.pose_change_ratio.cpu",
                            "viz.pose_change_linked_ms.cpu", "viz.pose_change_linked_ratio.cpu",
                            "viz.full_render_ms.small.cpu", "viz.preview_ms.small.cpu", "viz.warmup_s.cpu",
                            "viz.warmup_s.small.cpu", "viz.warmup_full_ms.small.cpu"}
    assert figures["viz.warmup_s.small.cpu"] > 0 and figures["viz.warmup_full_ms.small.cpu"] > 0
    assert 0 < figures["viz.preview_ms.small.cpu"] < figures["viz.full_render_ms.small.cpu"]
    assert figures["viz.preview_latency_model_is_default"] == float(viz.DEFAULT_CHECKPOINT.is_file())
    assert 0 < figures["viz.preview_latency_ms.cpu"] < figures["viz.worker_first_frame_ms.cpu"]
    assert figures["viz.full_render_ms.cpu"] > 0 and figures["viz.pose_change_ms.cpu"] > 0
    assert figures["viz.pose_change_ratio.cpu"] > 0
