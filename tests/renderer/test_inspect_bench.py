"""The inspect_extras benchmark section reports its contract figures with sensible values."""
from __future__ import annotations

import pytest
import torch

from renderer.bench import inspect_extras
from core.bench.harness import BenchContext


@pytest.mark.slow
def test_inspect_extras_section_reports_the_contract_figures():
    figures = inspect_extras.run(BenchContext(quick=True, device=torch.device("cpu")))
    timed = {"planes", "density_slice_256", "density_slice_posed_256", "slice_body_overlay_256", "ray_profile",
             "mesh_job_128", "mesh_cancel_latency"}
    assert set(figures) == {f"inspect.{name}_ms.cpu" for name in timed} | {"inspect.model_is_default"}
    assert figures["inspect.model_is_default"] == float(inspect_extras.DEFAULT_CHECKPOINT.is_file())
    assert all(figures[f"inspect.{name}_ms.cpu"] >= 0 for name in timed)
    # A slice decodes 65k points; the ray profile one ray's samples.
    assert figures["inspect.ray_profile_ms.cpu"] < figures["inspect.density_slice_256_ms.cpu"]
    assert figures["inspect.mesh_cancel_latency_ms.cpu"] < figures["inspect.mesh_job_128_ms.cpu"]
