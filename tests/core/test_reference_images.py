"""Reference images: fixed views of the shipped default through the viewer's renderer, against PNGs kept in
tests/reference_images/ with a tolerance for float rounding across CPUs. On failure the difference image is
saved beside the test's temporary files and named in the message. After an intended change of the pixels,
`UPDATE_REFERENCE_IMAGES=1 python -m pytest tests/core/test_reference_images.py` rewrites them (look at them)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from renderer.engine import Renderer
from renderer.requests import RenderRequest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "checkpoints" / "default.pt"
FOLDER = ROOT / "tests" / "reference_images"
VIEWS = {
    "front": dict(yaw_deg=0.0),
    "three_quarter_back": dict(yaw_deg=135.0, pitch_deg=10.0),
    "posed": dict(yaw_deg=30.0, pose_deg=(10.0, 25.0, 0.0, 0.0, 15.0, 0.0)),
}
MEAN_TOLERANCE = 1.0  # levels of 255, averaged over the image
PEAK_TOLERANCE = 24  # the largest single-pixel difference allowed (edges move by rounding first)


@pytest.fixture(scope="module")
def renderer():
    return Renderer("cpu")


@pytest.mark.skipif(not DEFAULT.is_file(), reason="the shipped default checkpoint is missing")
@pytest.mark.parametrize("name", sorted(VIEWS))
def test_the_default_renders_its_reference_views(renderer, name, tmp_path):
    result = renderer.render(RenderRequest(checkpoint=str(DEFAULT), seeds=((7, 1.0),), **VIEWS[name]))
    assert result.error is None, result.error
    reference_file = FOLDER / f"{name}.png"
    if os.environ.get("UPDATE_REFERENCE_IMAGES") == "1":
        Image.fromarray(result.image).save(reference_file)
    reference = np.asarray(Image.open(reference_file).convert("RGB")).astype(np.int16)
    difference = np.abs(result.image.astype(np.int16) - reference)
    if difference.mean() > MEAN_TOLERANCE or difference.max() > PEAK_TOLERANCE:
        diff_file = tmp_path / f"{name}_difference.png"
        Image.fromarray(np.clip(difference * 8, 0, 255).astype(np.uint8)).save(diff_file)
        Image.fromarray(result.image).save(tmp_path / f"{name}_rendered.png")
        pytest.fail(f"{name}: mean difference {difference.mean():.2f}, largest {difference.max()} against "
                    f"{reference_file}; the difference (x8) is in {diff_file}")
