"""Inverting held-out synthetic portraits (camera and pose known) with the shipped default, beside baselines.

Figures measured on 10 held-out images of synth64b with 60 steps are in docs/invert.md; this test runs a
smaller fit on 4 fresh images so that it stays in the suite's budget.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.bench.invert import HELD_OUT_SEED
from core.body import load_body_model
from core.camera import angle_between_deg, camera_yaw_pitch_deg
from core.checkpoint import load_discriminator
from core.data.reader import PortraitDataset
from core.data.synth import SynthesisPool, SynthSettings, synthesize
from core.shipped import DEFAULT_CHECKPOINT
from core.invert.fit import FitState, Inversion, InvertOptions
from core.invert.photo import target_from_sample
from core.loading import load_generator

COUNT = 4
YAW_TOLERANCE_DEG = 20.0


@pytest.fixture(scope="module")
def fits(tmp_path_factory):
    settings = SynthSettings(resolution=64, seed=HELD_OUT_SEED + 1, feature_scale=1.5)
    with SynthesisPool(settings, 1) as pool:
        root = synthesize(tmp_path_factory.mktemp("held-out") / "set", COUNT, settings, progress=False, pool=pool)
    generator, metadata = load_generator(DEFAULT_CHECKPOINT)
    body = load_body_model(metadata.get("body_path"))
    discriminator = load_discriminator(DEFAULT_CHECKPOINT)
    results = []
    for item in PortraitDataset(root):
        yaw, _ = camera_yaw_pitch_deg(torch.from_numpy(item["camera"])[None])
        target = target_from_sample(item)
        inversion = Inversion(generator, body, target, InvertOptions(steps=20, search_steps=8), discriminator)
        inversion.search_camera()
        for _ in range(inversion.options.steps):
            inversion.step()
        best = inversion.best
        mean_face = FitState(inversion.w_avg, best.yaw_deg, best.pitch_deg, best.pose)
        results.append({
            "yaw_error": angle_between_deg(best.yaw_deg, float(yaw)),
            "psnr": inversion.quality().psnr_db, "psnr_mean_face": inversion.quality(mean_face).psnr_db,
            "pose_error": float(np.abs(np.array(best.pose_deg) - np.degrees(item["pose"])).mean()),
            "zero_pose_error": float(np.abs(np.degrees(item["pose"])).mean()),
        })
    return results


def test_the_found_yaw_is_near_the_label_on_most_images(fits):
    errors = [fit["yaw_error"] for fit in fits]
    # A guess uniform over the circle is within 20 degrees 11% of the time and 90 degrees off on average.
    assert sum(error <= YAW_TOLERANCE_DEG for error in errors) >= COUNT / 2, errors
    assert float(np.median(errors)) < 45.0, errors


def test_the_fit_beats_the_mean_face_at_the_same_camera(fits):
    gains = [fit["psnr"] - fit["psnr_mean_face"] for fit in fits]
    assert min(gains) > 0.5 and float(np.mean(gains)) > 1.5, gains
    assert min(fit["psnr"] for fit in fits) > 17.0, fits  # the floor measured on synth64b: 19-26 dB at 60 steps


def test_the_pose_is_no_worse_than_the_rest_pose(fits):
    # Not below: the default was trained without the warp and keeps no D, so its fitted poses only match the
    # rest-pose baseline (docs/invert.md has the figures); a fit that drifts away from it fails here.
    fitted = float(np.mean([fit["pose_error"] for fit in fits]))
    rest = float(np.mean([fit["zero_pose_error"] for fit in fits]))
    assert fitted <= rest + 1.5, (fitted, rest)
