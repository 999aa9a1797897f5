"""Benchmark section `train`: training throughput and the discriminator's size.

Figures (contract names):
- `train.img_per_s.tiny.cpu`: real images per second of full training iterations (G phase, D phase, lazy R1
  amortised 1/16, EMA) of the tiny preset at batch 4 with the default (fast) body warp, one process;
- `train.img_per_s.tiny.no_warp.cpu`: the same without the body warp (`--warp none`);
- `train.warp_throughput_ratio.tiny.cpu`: the median over interleaved pairs of (with warp / without): a pair
  shares the machine's load of its moment, which swings more than the warp costs;
- on CUDA, `train.img_per_s.<preset>.cuda` for small, paper-256 and paper-512 at batch 4 (the reference's
  per-GPU batch);
- `discriminator.params.paper-512`: trainable parameters of D at the paper size (the reference has 49.3 M).
"""
from __future__ import annotations

import copy
import statistics

import torch

from core.bench.harness import BenchContext, time_call
from core.camera import orbit_camera
from core.config import preset
from core.generator import TriGridGenerator
from core.networks.discriminator import DiscriminatorConfig, PoseAwareDiscriminator, parameter_count
from core.train.body_choice import make_warp_factory
from core.train.config import TrainingConfig
from core.train.distributed import DistributedContext
from core.train.phases import RealBatch, TrainingStep
from core.train.schedules import schedule_values

DEFAULT_WARP = TrainingConfig().warp_mode  # what `python -m core.train` uses without --warp
BATCH = 4  # per-process batch of the measurements (the reference's batch per GPU)
PAIRS = 3  # interleaved (warp, no warp) measurements on a CPU; the ratio is their median


def _training_step(preset_name: str, device: torch.device, warp_mode: str) -> tuple[TrainingStep, RealBatch, object]:
    """A TrainingStep on random reals whose labels come from a small yaw sweep, plus mid-run schedule values."""
    generator_config = preset(preset_name)
    config = TrainingConfig.for_run(1000.0, batch=BATCH, warp_mode=warp_mode)
    torch.manual_seed(0)
    G = TriGridGenerator(generator_config).to(device).train()
    D = PoseAwareDiscriminator(DiscriminatorConfig.for_generator(generator_config, config.mbstd_group)).to(device)
    G_opt = torch.optim.Adam(G.parameters(), lr=config.g_lr, betas=config.betas, eps=config.adam_eps)
    D_opt = torch.optim.Adam(D.parameters(), lr=config.d_lr_effective, betas=config.d_betas_effective)
    cameras = orbit_camera(torch.linspace(-170.0, 170.0, 16), torch.zeros(16), device=device)
    poses = (torch.rand(16, 6, device=device) - 0.5) * 0.4
    context = DistributedContext(rank=0, world_size=1, device=device)
    warp_factory = None
    if warp_mode != "none":
        warp_factory = make_warp_factory(warp_mode, device, generator_config)
    step = TrainingStep(G, D, copy.deepcopy(G).eval(), copy.deepcopy(D).eval(), G_opt, D_opt, config, context,
                        (cameras, poses), warp_factory)
    resolution = generator_config.img_resolution
    real = RealBatch(image=torch.rand(BATCH, 3, resolution, resolution, device=device) * 2 - 1,
                     mask=torch.rand(BATCH, 1, resolution, resolution, device=device),
                     camera=cameras[:BATCH], pose=poses[:BATCH])
    schedule = schedule_values(100_000, 0, generator_config.neural_resolution, config)
    return step, real, schedule


def images_per_second(preset_name: str, device: torch.device, warp_mode: str, repeats: int) -> float:
    """Real images per second of whole iterations; the R1 step's cost is amortised over its interval."""
    step, real, schedule = _training_step(preset_name, device, warp_mode)
    main_ms = time_call(lambda: step.run(real, schedule, batch_index=1), device, repeats=repeats)
    r1_ms = time_call(lambda: step.regularization_phase(real, schedule), device, repeats=1)
    per_iteration_ms = main_ms + r1_ms / step.config.d_reg_interval
    return BATCH / (per_iteration_ms / 1e3)


def run(ctx: BenchContext) -> dict[str, float]:
    """The figures listed in the module docstring."""
    discriminator = PoseAwareDiscriminator(DiscriminatorConfig.for_generator(preset("paper-512")))
    figures = {"discriminator.params.paper-512": float(parameter_count(discriminator))}
    del discriminator
    repeats = 2 if ctx.quick else 3
    if ctx.device.type == "cpu":
        # Interleaved pairs, so that a change in the machine's load hits both figures of a pair alike.
        with_warp, without = [], []
        for _ in range(PAIRS):
            with_warp.append(images_per_second("tiny", ctx.device, DEFAULT_WARP, repeats))
            without.append(images_per_second("tiny", ctx.device, "none", repeats))
        figures["train.img_per_s.tiny.cpu"] = max(with_warp)
        figures["train.img_per_s.tiny.no_warp.cpu"] = max(without)
        figures["train.warp_throughput_ratio.tiny.cpu"] = statistics.median(
            warped / plain for warped, plain in zip(with_warp, without))
    else:
        names = ("tiny", "small") if ctx.quick else ("tiny", "small", "paper-256", "paper-512")
        for name in names:
            figures[f"train.img_per_s.{name}.{ctx.device_name}"] = images_per_second(name, ctx.device, DEFAULT_WARP,
                                                                                       repeats)
    return figures
