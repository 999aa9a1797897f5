"""Evaluation against the synthetic ground truth: pose figures of D's pose head and G's pose branch, each
beside a baseline that it must beat, and the geometry figures.

Figures (degrees; poses are axis-angle, neck then head; details in docs/training.md "Evaluation"):
- `Eval/D_pose_real/{neck,head}_deg`: D_ema's pose head on held-out real images against their labels, and
  per axis `Eval/D_pose_real/<axis>_deg` and `_corr` (axes: neck/head x nod, y turn, z tilt);
- `Eval/baseline/{zero_pose,mean_pose}/...`: the same errors for always answering the zero pose or the
  training set's mean pose: a pose head that has learned something is well below both;
- `Eval/G_pose_dist/<axis>_spread_ratio` and `_w1_deg`: how the distribution of G_ema's poses (random latents,
  training cameras) matches the data's: spread ratio std(G)/std(data), Wasserstein-1 distance; beside
  `Eval/baseline/mean_pose/<axis>_w1_deg` (always the mean pose);
- `Eval/G_pose_data/{neck,head}_deg`: G's pose for a random latent against an unrelated label (kept for
  old scripts; collapsing to the mean wins it, so it says nothing about learning);
- `Eval/D_pose_fake/{neck,head}_deg`: D_ema on G_ema's fakes, rendered posed through the body warp;
- `Eval/D_pose_fake_shuffled/{neck,head}_deg`: the same fakes rendered with another fake's pose (the batch rolled
  by one), which their latent and camera do not predict, beside `Eval/baseline/fake_mean_pose/...` (always G's
  mean pose): a pose head that reads the geometry does as well here as on `D_pose_fake`; one that reads the
  camera or the latent stays at the baseline (the shortcut `--d-pose-shuffle` removes, docs/training.md);
- `Eval/canonical/head_yaw_spread_deg`: spread over latents of the canonical (unwarped) head's yaw, beside
  `Eval/baseline/data_head_yaw_spread_deg`, the spread of the data's neck + head turn: a canonical avatar at
  rest varies far less than the data;
- `Eval/geometry/{chamfer,accuracy,completeness}` (world units) on synthetic datasets: see core.train.geometry.
Written to stats.jsonl at every snapshot and printed by `python -m core.train eval SNAPSHOT --data PATH`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from core.camera import orbit_camera
from core.checkpoint import load_checkpoint, load_discriminator, load_state_into
from core.config import GeneratorConfig
from core.device import resolve_device
from core.generator import TriGridGenerator
from core.mesh import DEFAULT_MESH_BOUNDS
from core.train.body_choice import load_training_body, make_warp_factory
from core.train.config import TrainingConfig
from core.train.data import open_training_data
from core.train.distributed import DistributedContext
from core.train.geometry import GroundTruthSurfaces, evaluate_geometry
from core.train.losses import DiscriminatorInput, pose_error_deg, real_discriminator_input, run_discriminator
from core.train.pose_figures import (baseline_figures, cylinder_points, distribution_figures, head_yaw_offsets,
                                     per_axis_figures)
from core.train.schedules import ScheduleValues
from core.train.snapshots import latest_snapshot

EVAL_SEED = 321  # latents of the evaluation fakes, fixed so that figures are comparable over time
DISTRIBUTION_SAMPLES = 512  # latents whose G poses are compared with the data's pose distribution
CANONICAL_HEADS = 16  # latents whose canonical head yaw is measured
HEAD_CENTRE_ABOVE_JOINT = 0.06  # the cylinders around the head sit this far above the head joint (world units)


def _usable_count(available: int, requested: int, mbstd_group: int) -> int:
    """Evaluation batch size: at most `requested`, a multiple of D's minibatch-std group when possible."""
    count = min(available, requested)
    group = min(mbstd_group, count)
    return max(count - count % group, 1)


def _neck_head(prefix: str, predicted: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    neck, head = pose_error_deg(predicted, target)
    return {f"{prefix}/neck_deg": float(neck), f"{prefix}/head_deg": float(head)}


@torch.no_grad()
def evaluate_pose(G_ema, D_ema, data, schedule: ScheduleValues, config: TrainingConfig, device: torch.device,
                  warp_factory: Callable | None = None) -> dict[str, float]:
    """Pose figures of D_ema and G_ema on the held-out images (module docstring); D_ema None (a file without
    D, e.g. an older export) gives G's figures and the baselines only."""
    group = D_ema.config.mbstd_group if D_ema is not None else 1
    count = _usable_count(len(data.held_out), config.eval_images, group)
    real = data.held_out_batch(count, device)
    cameras, poses = data.labels(device)
    figures = {"Eval/images": float(count)}
    figures.update(baseline_figures(real.pose, poses.mean(dim=0, keepdim=True)))
    figures.update(_distribution(G_ema, cameras, poses, device))
    z = torch.randn(count, G_ema.config.z_dim, generator=torch.Generator().manual_seed(EVAL_SEED)).to(device)
    g_pose = G_ema.predict_pose(z, real.camera)
    figures.update(_neck_head("Eval/G_pose_data", g_pose, real.pose))
    if D_ema is None:
        return figures
    real_input = real_discriminator_input(real.image, real.mask, real.camera, schedule.neural_resolution,
                                          schedule.blur_sigma)
    d_real = run_discriminator(D_ema, real_input, schedule.blur_sigma)
    figures.update(_neck_head("Eval/D_pose_real", d_real.pose, real.pose))
    figures.update(per_axis_figures(d_real.pose, real.pose, "Eval/D_pose_real"))
    ws = G_ema.mapping(z, real.camera, g_pose)
    planes = G_ema.synthesize_trigrid(ws, noise_mode="const")
    shuffled_pose = g_pose.roll(1, dims=0)
    for name, render_pose in (("Eval/D_pose_fake", g_pose), ("Eval/D_pose_fake_shuffled", shuffled_pose)):
        fake = G_ema.render(ws, planes, real.camera, neural_resolution=schedule.neural_resolution,
                            point_warp=warp_factory(render_pose) if warp_factory else None, noise_mode="const",
                            outputs=("image", "image_raw", "image_mask"))
        d_fake = run_discriminator(D_ema, DiscriminatorInput(fake.image, fake.image_raw, fake.image_mask,
                                                             real.camera), schedule.blur_sigma)
        figures.update(_neck_head(name, d_fake.pose, render_pose))
    figures.update(_neck_head("Eval/baseline/fake_mean_pose", g_pose.mean(dim=0, keepdim=True).expand_as(g_pose),
                              shuffled_pose))
    return figures


def _distribution(G_ema, cameras: torch.Tensor, poses: torch.Tensor, device: torch.device) -> dict[str, float]:
    """G's pose distribution (random latents, training cameras) against the data's poses at those indices."""
    generator = torch.Generator().manual_seed(EVAL_SEED + 1)
    indices = torch.randint(len(cameras), (DISTRIBUTION_SAMPLES,), generator=generator).to(device)
    z = torch.randn(DISTRIBUTION_SAMPLES, G_ema.config.z_dim, generator=generator).to(device)
    return distribution_figures(G_ema.predict_pose(z, cameras[indices]), poses[indices])


@torch.no_grad()
def evaluate_canonical_rest(G_ema, head_joint: torch.Tensor, data_poses: torch.Tensor,
                            device: torch.device) -> dict[str, float]:
    """Spread of the canonical head's yaw over latents beside the data's head-turn spread (module docstring)."""
    z = torch.randn(CANONICAL_HEADS, G_ema.config.z_dim, generator=torch.Generator().manual_seed(EVAL_SEED + 2))
    z = z.to(device)
    camera = orbit_camera(0.0, 0.0, device=device).expand(CANONICAL_HEADS, -1)
    ws = G_ema.mapping(z, camera, G_ema.predict_pose(z, camera))
    planes = G_ema.synthesize_trigrid(ws, noise_mode="const")
    centre = head_joint.detach().cpu() + torch.tensor([0.0, HEAD_CENTRE_ABOVE_JOINT, 0.0])
    points = cylinder_points(centre).to(device)
    sigma, _ = G_ema.sample_density(planes, points[None].expand(CANONICAL_HEADS, -1, -1))
    density = torch.nn.functional.softplus(sigma[..., 0]).reshape(CANONICAL_HEADS, 90, -1).cpu()
    yaw = head_yaw_offsets(density)
    data_yaw = (data_poses[:, 1] + data_poses[:, 4]).rad2deg().cpu()
    return {"Eval/canonical/head_yaw_spread_deg": float(yaw.std()),
            "Eval/baseline/data_head_yaw_spread_deg": float(data_yaw.std())}


def evaluate_all(G_ema, D_ema, data, schedule: ScheduleValues, config: TrainingConfig, device: torch.device,
                 warp_factory: Callable | None, truth, head_joint: torch.Tensor | None = None) -> dict[str, float]:
    """Pose figures, the canonical-rest check when the body's head joint is given, and the geometry figures
    when the dataset has ground-truth surfaces (`truth` not None)."""
    figures = evaluate_pose(G_ema, D_ema, data, schedule, config, device, warp_factory)
    if head_joint is not None:
        figures.update(evaluate_canonical_rest(G_ema, head_joint, data.labels(device)[1], device))
    if truth is not None:
        figures.update(evaluate_geometry(G_ema, truth, device))
    return figures


def evaluate_snapshot(snapshot: str | Path, data_path: str | Path, masks: str | Path | None, device: str,
                      images: int) -> dict[str, float | str]:
    """Evaluate the G_ema and D_ema of a training snapshot, or of an exported file that keeps D
    (`core.checkpoint export --with-discriminator`, as the shipped default), on `data_path`'s held-out images.
    A file without D_ema gets G's figures and the baselines, and `"D": "absent"` says why the rest is missing."""
    path = latest_snapshot(snapshot)
    payload = load_checkpoint(path)
    metadata = payload.get("metadata", {})
    context = DistributedContext(rank=0, world_size=1, device=resolve_device(device))
    saved = metadata.get("training_config")
    config = TrainingConfig.from_dict(saved) if saved else TrainingConfig()
    config = TrainingConfig(**{**config.__dict__, "eval_images": images, "batch": 1})
    G_ema = TriGridGenerator(GeneratorConfig.from_dict(payload["config"]))
    load_state_into(path, G_ema, payload["G_ema"], "G_ema")
    G_ema.to(context.device).eval()
    D_ema = load_discriminator(path, context.device)  # None for a file without D: G's figures only
    data = open_training_data(data_path, masks, G_ema.config.img_resolution, context, config)
    schedule = ScheduleValues(swap_prob=0.0, pose_prior_weight=0.0, blur_sigma=float(metadata.get("blur_sigma", 0.0)),
                              density_noise=0.0, neural_resolution=int(metadata.get("neural_resolution",
                                                                                    G_ema.config.neural_resolution)),
                              ema_beta=0.0)
    truth = GroundTruthSurfaces.find(data.path, DEFAULT_MESH_BOUNDS)
    body = load_training_body(metadata.get("body_path"), context.device)
    warps = make_warp_factory("fast", context.device, G_ema.config, body, pose_gradient=False)
    figures = evaluate_all(G_ema, D_ema, data, schedule, config, context.device, warps, truth, body.head_joint)
    return {"snapshot": str(path), "kimg": float(metadata.get("kimg", 0.0)),
            "D": "kept" if D_ema is not None else "absent",
            **figures}
