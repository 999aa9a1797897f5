"""Evaluation against the synthetic ground truth: pose errors of D's pose head and of G's pose branch.

Figures (mean absolute error in degrees over the neck's and the head's three axis-angle values):
- `Eval/D_pose_real/{neck,head}_deg`: D_ema's pose head on held-out real images against their labels;
- `Eval/G_pose_data/{neck,head}_deg`: G_ema's pose branch for the held-out cameras against the labels;
- `Eval/D_pose_fake/{neck,head}_deg`: D_ema on G_ema's posed renders against the pose they were rendered with.
Written to stats.jsonl at every snapshot and printed by `python -m core.train eval SNAPSHOT --data PATH`.
- `Eval/geometry/{chamfer,accuracy,completeness}` (world units) on synthetic datasets: see core.train.geometry.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from core.train.config import TrainingConfig
from core.train.losses import DiscriminatorInput, pose_error_deg, real_discriminator_input, run_discriminator
from core.train.schedules import ScheduleValues

EVAL_SEED = 321  # latents of the evaluation fakes, fixed so that figures are comparable over time


def _usable_count(available: int, requested: int, mbstd_group: int) -> int:
    """Evaluation batch size: at most `requested`, a multiple of D's minibatch-std group when possible."""
    count = min(available, requested)
    group = min(mbstd_group, count)
    return max(count - count % group, 1)


@torch.no_grad()
def evaluate_pose(G_ema, D_ema, data, schedule: ScheduleValues, config: TrainingConfig, device: torch.device,
                  warp_factory: Callable | None = None) -> dict[str, float]:
    """Pose errors (degrees) of D_ema and G_ema on the held-out images; see the module docstring."""
    count = _usable_count(len(data.held_out), config.eval_images, D_ema.config.mbstd_group)
    real = data.held_out_batch(count, device)
    real_input = real_discriminator_input(real.image, real.mask, real.camera, schedule.neural_resolution,
                                          schedule.blur_sigma)
    figures = {}
    d_real = run_discriminator(D_ema, real_input, schedule.blur_sigma)
    figures["Eval/D_pose_real/neck_deg"], figures["Eval/D_pose_real/head_deg"] = pose_error_deg(d_real.pose, real.pose)
    z = torch.randn(count, G_ema.config.z_dim, generator=torch.Generator().manual_seed(EVAL_SEED)).to(device)
    g_pose = G_ema.predict_pose(z, real.camera)
    figures["Eval/G_pose_data/neck_deg"], figures["Eval/G_pose_data/head_deg"] = pose_error_deg(g_pose, real.pose)
    ws = G_ema.mapping(z, real.camera, g_pose)
    planes = G_ema.synthesize_trigrid(ws, noise_mode="const")
    fake = G_ema.render(ws, planes, real.camera, neural_resolution=schedule.neural_resolution,
                        point_warp=warp_factory(g_pose) if warp_factory else None, noise_mode="const",
                        outputs=("image", "image_raw", "image_mask"))
    d_fake = run_discriminator(D_ema, DiscriminatorInput(fake.image, fake.image_raw, fake.image_mask, real.camera),
                               schedule.blur_sigma)
    figures["Eval/D_pose_fake/neck_deg"], figures["Eval/D_pose_fake/head_deg"] = pose_error_deg(d_fake.pose, g_pose)
    figures["Eval/images"] = count
    return {name: float(value) for name, value in figures.items()}


def evaluate_all(G_ema, D_ema, data, schedule: ScheduleValues, config: TrainingConfig, device: torch.device,
                 warp_factory: Callable | None, truth) -> dict[str, float]:
    """Pose figures, plus the geometry figures when the dataset has ground-truth surfaces (`truth` not None)."""
    figures = evaluate_pose(G_ema, D_ema, data, schedule, config, device, warp_factory)
    if truth is not None:
        from core.train.geometry import evaluate_geometry

        figures.update(evaluate_geometry(G_ema, truth, device))
    return figures


def evaluate_snapshot(snapshot: str | Path, data_path: str | Path, masks: str | Path | None, device: str,
                      images: int) -> dict[str, float | str]:
    """Load a training snapshot's G_ema and D_ema and evaluate them on `data_path`'s held-out images."""
    from core.checkpoint import load_state_into
    from core.config import GeneratorConfig
    from core.generator import TriGridGenerator
    from core.networks.discriminator import PoseAwareDiscriminator
    from core.train.data import open_training_data
    from core.train.distributed import DistributedContext
    from core.train.snapshots import discriminator_config_from_dict, load_training_snapshot

    path, payload = load_training_snapshot(snapshot)
    metadata = payload["metadata"]
    context = DistributedContext(rank=0, world_size=1, device=torch.device(device))
    config = TrainingConfig.from_dict(metadata["training_config"])
    config = TrainingConfig(**{**config.__dict__, "eval_images": images, "batch": 1})
    G_ema = TriGridGenerator(GeneratorConfig.from_dict(payload["config"]))
    D_ema = PoseAwareDiscriminator(discriminator_config_from_dict(metadata["discriminator_config"]))
    load_state_into(path, G_ema, payload["G_ema"], "G_ema")
    load_state_into(path, D_ema, payload["D_ema"], "D_ema")
    G_ema.to(context.device).eval()
    D_ema.to(context.device).eval()
    data = open_training_data(data_path, masks, G_ema.config.img_resolution, context, config)
    schedule = ScheduleValues(swap_prob=0.0, pose_prior_weight=0.0, blur_sigma=float(metadata.get("blur_sigma", 0.0)),
                              density_noise=0.0, neural_resolution=int(metadata.get("neural_resolution",
                                                                                    G_ema.config.neural_resolution)),
                              ema_beta=0.0)
    from core.mesh import DEFAULT_MESH_BOUNDS
    from core.train.geometry import GroundTruthSurfaces

    truth = GroundTruthSurfaces.find(data.path, DEFAULT_MESH_BOUNDS)
    figures = evaluate_all(G_ema, D_ema, data, schedule, config, context.device, None, truth)
    return {"snapshot": str(path), "kimg": float(metadata.get("kimg", 0.0)), **figures}
