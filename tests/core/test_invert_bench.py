"""The `invert` benchmark section: its held-out image is a labelled synthetic portrait, its names are contracts."""
from __future__ import annotations

import numpy as np
import torch

from core.bench import invert as bench
from core.bench.harness import BenchContext


def test_held_out_image_has_a_label_and_a_person_shaped_mask(tmp_path):
    target, yaw, pitch = bench.held_out_target(tmp_path)
    assert target.image.shape == (64, 64, 3) and target.image.dtype == np.uint8
    assert 0.05 < float((target.mask > 0.5).mean()) < 0.9  # a head and shoulders, not an empty or full frame
    assert -180 <= yaw <= 180 and -90 <= pitch <= 90


def test_quick_run_reports_the_step_time(monkeypatch):
    figures = bench.run(BenchContext(quick=True, device=torch.device("cpu")))
    assert set(figures) == {"invert.step_ms.tiny.cpu"} and 0 < figures["invert.step_ms.tiny.cpu"] < float("inf")
