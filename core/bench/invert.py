"""Benchmark section `invert`: photo inversion with the shipped default on a fixed held-out synthetic image.

Figures:
- `invert.step_ms.tiny.<device>`: one latent optimisation step (render, loss, backward, Adam) with the camera
  and body pose fitted too, median of several.
- `invert.psnr_200.tiny.<device>`: masked PSNR (dB) after the camera search and 200 steps; beside it
  `invert.psnr_mean_face.tiny.<device>`, the mean face (w_avg) at the same camera and pose, the trivial baseline.
- `invert.yaw_error_deg.tiny`: the found yaw's distance from the image's label (a random guess: 90 on average).
The image is person 0 of a synthetic set with seed HELD_OUT_SEED (the default was trained on seed 0 sets).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from core.bench.harness import BenchContext, time_call
from core.body import load_body_model
from core.camera import angle_between_deg, camera_yaw_pitch_deg
from core.checkpoint import load_discriminator
from core.data.reader import PortraitDataset
from core.data.synth import SynthesisPool, SynthSettings, synthesize
from core.shipped import DEFAULT_CHECKPOINT
from core.invert.fit import FitState, Inversion, InvertOptions
from core.invert.photo import target_from_sample
from core.loading import load_generator

HELD_OUT_SEED = 20261202  # no training set of the shipped default used this seed
FULL_STEPS = 200


def held_out_target(folder: Path):
    """(Target, label yaw, label pitch) of one synthetic 64-pixel portrait the default never saw."""
    settings = SynthSettings(resolution=64, seed=HELD_OUT_SEED, feature_scale=1.5)
    with SynthesisPool(settings, 1) as pool:
        root = synthesize(folder / "held-out", 1, settings, progress=False, pool=pool)
    item = PortraitDataset(root)[0]
    yaw, pitch = camera_yaw_pitch_deg(torch.from_numpy(item["camera"])[None])
    target = target_from_sample(item)
    return target, float(yaw), float(pitch)


def run(ctx: BenchContext) -> dict[str, float]:
    device, tag = ctx.device, ctx.device.type
    generator, metadata = load_generator(DEFAULT_CHECKPOINT, device)
    body = load_body_model(metadata.get("body_path"), device=device)
    discriminator = load_discriminator(DEFAULT_CHECKPOINT, device)  # pose head and features, when it keeps one
    with tempfile.TemporaryDirectory(prefix="bench-invert-") as folder:
        target, label_yaw, _ = held_out_target(Path(folder))
    figures: dict[str, float] = {}
    timed = Inversion(generator, body, target, InvertOptions(camera=(label_yaw, 0.0), steps=10**6),
                      discriminator)
    figures[f"invert.step_ms.tiny.{tag}"] = time_call(timed.step, device, repeats=3 if ctx.quick else 7)
    if ctx.quick:
        return figures
    inversion = Inversion(generator, body, target, InvertOptions(steps=FULL_STEPS), discriminator)
    inversion.search_camera()
    for _ in range(FULL_STEPS):
        inversion.step()
    best = inversion.best
    mean_face = FitState(inversion.w_avg, best.yaw_deg, best.pitch_deg, best.pose)
    figures[f"invert.psnr_200.tiny.{tag}"] = inversion.quality().psnr_db
    figures[f"invert.psnr_mean_face.tiny.{tag}"] = inversion.quality(mean_face).psnr_db
    figures["invert.yaw_error_deg.tiny"] = angle_between_deg(best.yaw_deg, label_yaw)
    return figures
