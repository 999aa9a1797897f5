"""The shipped default model: small enough to ship, says how it was made, and renders a head that turns
through 360 degrees and follows the neck and head pose (what the visualizer opens on)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import load_checkpoint
from core.generate.render import RenderSettings, ViewRenderer
from core.paths import CameraKey, LatentKey

DEFAULT = Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"
MAX_BYTES = 25 * 2**20  # the limit for a file in the repository


@pytest.fixture(scope="module")
def generator():
    from core.loading import load_generator

    return load_generator(DEFAULT, "cpu")[0]


@pytest.fixture(scope="module")
def renderer(generator):
    return ViewRenderer(generator, RenderSettings())


def _views(renderer, yaw: float, pose=(0.0,) * 6, seed: int = 1) -> dict[str, np.ndarray]:
    views = renderer.render(LatentKey(((seed, 1.0),), 0.7), CameraKey(yaw, 0.0), pose, ("image", "image_mask"))
    return {name: pixels.astype(np.float32) / 255.0 for name, pixels in views.items()}


def test_the_default_is_a_small_trained_generator_that_says_how_it_was_made():
    assert DEFAULT.is_file() and DEFAULT.stat().st_size <= MAX_BYTES
    payload = load_checkpoint(DEFAULT)
    metadata = payload["metadata"]
    assert payload["kind"] == "generator" and metadata["preset"] == "tiny"
    assert metadata["kimg"] > 10
    assert metadata["command"].startswith("python -m core.train ")
    assert "python -m core.data synth" in metadata["note"]


def test_a_head_stands_in_the_middle_of_every_view_around_the_circle(renderer):
    for yaw in range(0, 360, 45):
        mask = _views(renderer, yaw)["image_mask"][..., 0]
        size = mask.shape[0]
        head = mask[size // 5: size // 2, 2 * size // 5: 3 * size // 5]  # above the shoulders, in the middle
        sky = np.concatenate([mask[: size // 10, : size // 10], mask[: size // 10, -(size // 10):]])  # top corners
        assert head.mean() > 0.8 and sky.mean() < 0.2, (yaw, head.mean(), sky.mean())


def test_opposite_views_see_mirrored_silhouettes_and_different_sides(renderer):
    front, back = _views(renderer, 0.0), _views(renderer, 180.0)
    # The camera goes round the same head: the back's outline is the front's mirrored.
    front_mask, back_mask = front["image_mask"][..., 0] > 0.5, back["image_mask"][..., 0][:, ::-1] > 0.5
    iou = (front_mask & back_mask).sum() / (front_mask | back_mask).sum()
    assert iou > 0.8, iou
    # ... but what it sees there differs (a face, the back of the hair).
    size = front["image"].shape[0]  # the mask comes at the neural resolution, the image at the output's
    face = (slice(size // 4, size // 2), slice(2 * size // 5, 3 * size // 5))
    assert np.abs(front["image"][face] - back["image"][:, ::-1][face]).mean() > 0.05


def test_turning_the_neck_and_head_moves_the_head_and_leaves_the_shoulders(generator):
    # A fixed conditioning pose isolates the body warp (the visualizer also conditions on the pose by default).
    renderer = ViewRenderer(generator, RenderSettings(cond_pose_deg=(0.0,) * 6))
    rest = _views(renderer, 0.0)["image"]
    turned = _views(renderer, 0.0, pose=(0.0, 25.0, 0.0, 0.0, 20.0, 0.0))["image"]
    size = rest.shape[0]
    change = np.abs(turned - rest).mean(axis=-1)
    head, shoulders = change[size // 5: size // 2].mean(), change[-size // 6:].mean()
    assert head > 0.03 and head > 2.5 * shoulders, (head, shoulders)
