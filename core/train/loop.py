"""The training loop: data, networks, resume, ticks, statistics, grids, snapshots, evaluation and signals.

Only rank 0 writes files. Every step seeds the global random generator from (seed, rank, step), so a
resumed run draws exactly the latents, swaps and noise that the uninterrupted run would have drawn.
SIGINT and SIGTERM finish the current step, write a last snapshot and return normally.
"""
from __future__ import annotations

import copy
import dataclasses
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from core.config import GeneratorConfig, preset as generator_preset
from core.generator import TriGridGenerator
from core.networks.discriminator import DiscriminatorConfig, PoseAwareDiscriminator
from core.train import distributed
from core.train.body_choice import (describe as describe_body, load_training_body, make_warp_factory,
                                    training_body_path)
from core.train.config import TrainingConfig, TrainingError
from core.train.data import open_training_data
from core.train.evaluate import evaluate_all
from core.mesh import DEFAULT_MESH_BOUNDS
from core.train.geometry import GroundTruthSurfaces
from core.train.grids import save_fake_grids, save_real_grid
from core.train.phases import TrainingStep, requires_grad
from core.train.schedules import schedule_values
from core.train.snapshots import (Progress, discriminator_config_from_dict, load_training_snapshot, random_state,
                                  restore_random_state, save_snapshot, training_payload)
from core.train.losses import density_noise_hook
from core.train.stats import (RunLog, StatsCollector, append_stats_line, create_run_dir, memory_stats,
                              write_json_atomic)
from core.checkpoint import generator_config_of, load_checkpoint, load_state_into
from core.cli import describe_os_error


@dataclass
class RunOptions:
    """What the command line decides besides the TrainingConfig."""

    data: Path  # dataset: image folder/zip or synth output root
    outdir: Path  # parent of the run folders
    preset: str = "tiny"  # generator preset of a fresh run (a resumed run keeps its snapshot's)
    masks: Path | None = None  # mask folder/zip when not beside the images
    resume: Path | None = None  # run folder or snapshot to continue
    init: Path | None = None  # checkpoint whose G_ema (and D_ema, if it has one) start a new run (`--init`)
    device: str | None = None  # None = cuda:LOCAL_RANK when available, else cpu
    progress_bar: bool = True  # tqdm on rank 0
    echo_log: bool = True  # print log lines as well as writing log.txt
    command: str = ""  # the command line, stored in snapshots
    init_method: str | None = None  # process-group rendezvous (tests); None = torchrun's environment
    rank: int | None = None  # explicit rank (tests); None = from the environment
    world_size: int | None = None  # explicit world size (tests); None = from the environment
    body: str | None = None  # body model file (`--body`); None = the dataset's recorded body or the stand-in
    extra_metadata: dict[str, Any] = field(default_factory=dict)  # stored in every snapshot


class _StopRequest:
    """Turns SIGINT/SIGTERM into a flag checked between steps (installed in the main thread only)."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.requested:  # a second signal: the user does not want to wait for the snapshot
            self.restore()
            raise KeyboardInterrupt
        self.requested = True

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 7_919 + step * 104_729) % (2**63 - 1)


def train(options: RunOptions, config: TrainingConfig) -> Path | None:
    """Run (or resume) a training; returns the run folder on rank 0 (None elsewhere)."""
    context = distributed.setup(options.device, options.init_method, options.rank, options.world_size)
    try:
        return _train(options, config, context)
    finally:
        distributed.teardown(context)


def _train(options: RunOptions, config: TrainingConfig, context: distributed.DistributedContext) -> Path | None:
    device = context.device
    if options.init is not None and options.resume is not None:
        raise TrainingError("--init starts a new run from a checkpoint's networks and --resume continues a run; "
                            "give one of them")
    if config.batch % context.world_size:
        raise TrainingError(f"--batch {config.batch} must be a multiple of the number of processes "
                            f"({context.world_size})")
    payload = snapshot_path = None
    if options.resume is not None:
        snapshot_path, payload = load_training_snapshot(options.resume)
        saved = TrainingConfig.from_dict(payload["metadata"]["training_config"])
        config = config.continued_from(saved)
        generator_config = GeneratorConfig.from_dict(payload["config"])
        discriminator_config = discriminator_config_from_dict(payload["metadata"]["discriminator_config"])
        preset_name = payload["metadata"].get("preset", options.preset)
    elif options.init is not None:
        # A trained G keeps its look: no blur on D's inputs and no density noise, which a fresh run fades out.
        config = dataclasses.replace(config, blur_fade_kimg=0.0, density_noise_fade_kimg=0.0)
        init_payload = load_checkpoint(options.init)
        generator_config = generator_config_of(options.init, init_payload)
        init_metadata = init_payload.get("metadata", {})
        discriminator_config = (discriminator_config_from_dict(init_metadata["discriminator_config"])
                                if "D_ema" in init_payload and "discriminator_config" in init_metadata
                                else DiscriminatorConfig.for_generator(generator_config, config.mbstd_group))
        preset_name = init_metadata.get("preset", options.preset)
    else:
        generator_config = generator_preset(options.preset)
        discriminator_config = DiscriminatorConfig.for_generator(generator_config, config.mbstd_group)
        preset_name = options.preset
    body_path = training_body_path(options.body, options.data)
    data = open_training_data(options.data, options.masks, generator_config.img_resolution, context, config)

    torch.manual_seed(config.seed)
    G = TriGridGenerator(generator_config).to(device).train()
    D = PoseAwareDiscriminator(discriminator_config).to(device).train()
    G_ema = copy.deepcopy(G).eval()
    D_ema = copy.deepcopy(D).eval()
    G_opt = torch.optim.Adam([p for n, p in G.named_parameters()
                              if config.train_g_pose_branch or not n.startswith("pose_branch.")],
                             lr=config.g_lr, betas=config.betas, eps=config.adam_eps)
    D_opt = torch.optim.Adam(D.parameters(), lr=config.d_lr_effective, betas=config.d_betas_effective,
                             eps=config.adam_eps)
    progress = Progress()
    restarted_g_optimizer = False
    if payload is None and options.init is not None:
        # A warm start: networks from the checkpoint, fresh optimisers and schedules (a D it lacks starts anew).
        for module, key in ((G, "G"), (G_ema, "G_ema"), (D, "D"), (D_ema, "D_ema")):
            source = key if key in init_payload else {"G": "G_ema", "D": "D_ema"}.get(key)
            if source in init_payload:
                load_state_into(options.init, module, init_payload[source], source)
    if payload is not None:
        for module, key in ((G, "G"), (G_ema, "G_ema"), (D, "D"), (D_ema, "D_ema")):
            load_state_into(snapshot_path, module, payload[key], key)
        if saved.train_g_pose_branch == config.train_g_pose_branch:
            G_opt.load_state_dict(payload["optimizers"]["G"])
        else:
            restarted_g_optimizer = True  # the trained parameter set changed (a new stage): fresh Adam moments
        D_opt.load_state_dict(payload["optimizers"]["D"])
        restore_random_state(payload["rng"], device)
        progress = Progress(**payload["metadata"]["progress"])
        progress.resume_nimg = progress.cur_nimg
        if progress.cur_nimg >= round(config.total_kimg * 1000):  # before a run folder exists: nothing left empty
            raise TrainingError(f"{snapshot_path} is at {progress.cur_nimg / 1000:g} kimg, already past --kimg "
                                f"{config.total_kimg:g}; give a larger --kimg to continue it")
    for module in (G, D, G_ema, D_ema):
        distributed.broadcast_module(module, context)
    requires_grad(G_ema, False)
    requires_grad(D_ema, False)

    run_dir = log = None
    if context.is_main:
        run_dir = create_run_dir(options.outdir, preset_name, data.name)
        log = RunLog(run_dir / "log.txt", echo=options.echo_log)
        write_json_atomic(run_dir / "training_options.json", {
            "generator": generator_config.to_dict(), "discriminator": discriminator_config.__dict__,
            "training": config.to_dict(), "preset": preset_name, "data": str(data.path),
            "resume": str(snapshot_path) if payload is not None else None, "world_size": context.world_size,
            "device": str(device), "command": options.command, "dataset_size": data.size,
        })
        log(f"run folder {run_dir}; {data.describe()}; {context.world_size} process(es) on {device}; "
            f"body {describe_body(body_path)}, warp {config.warp_mode}")
        if options.init is not None and payload is None:
            log(f"networks initialised from {options.init}; no blur or density noise"
                + ("" if "D_ema" in init_payload else "; D starts from scratch (the checkpoint has none)")
                + (f"; D alone for the first {config.d_warmup_kimg:g} kimg" if config.d_warmup_kimg else ""))
        if payload is not None:
            log(f"resuming {snapshot_path} at {progress.cur_nimg / 1000:.3f} kimg"
                + ("; G's optimiser restarts (pose-branch training switched)" if restarted_g_optimizer else ""))
        save_real_grid(run_dir / "reals.png", data, config.grid_size)

    schedule = schedule_values(progress.cur_nimg, progress.resume_nimg, generator_config.neural_resolution, config)
    noise_handle = G.decoder.register_forward_hook(density_noise_hook(lambda: schedule.density_noise))
    sampler = distributed.InfiniteSampler(data.train_size, context.rank, context.world_size, config.seed,
                                          progress.sampler_position)
    body = load_training_body(body_path, device)
    step = TrainingStep(G, D, G_ema, D_ema, G_opt, D_opt, config, context, data.labels(device),
                        make_warp_factory(config.warp_mode, device, generator_config, body, config.train_g_pose_branch))
    # Evaluation always renders posed fakes, also for a run that trains without the warp.
    eval_warps = step.warp_factory or make_warp_factory("fast", device, generator_config, body, False)
    stop = _StopRequest()
    stop.install()
    collector = StatsCollector()
    total_nimg = int(round(config.total_kimg * 1000))
    bar = tqdm(total=round(config.total_kimg, 3), initial=round(progress.cur_nimg / 1000, 3), unit="kimg",
               disable=not (context.is_main and options.progress_bar), file=sys.stderr, dynamic_ncols=True)
    tick_start_nimg, tick_start_time, run_start_time = progress.cur_nimg, time.perf_counter(), time.perf_counter()
    interrupted = False
    ground_truth = None  # [surfaces or None], built at the first snapshot (synthetic datasets only)

    def write_snapshot(reason: str) -> None:
        metadata = {"preset": preset_name, "dataset": str(data.path), "command": options.command,
                    "blur_sigma": schedule.blur_sigma, "neural_resolution": schedule.neural_resolution,
                    "body_path": body_path, "warp_mode": config.warp_mode,
                    **options.extra_metadata}
        try:
            path = save_snapshot(run_dir, training_payload(
                G=G, G_ema=G_ema, D=D, D_ema=D_ema, G_opt=G_opt, D_opt=D_opt, progress=progress,
                training_config=config.to_dict(), discriminator_config=discriminator_config,
                metadata=metadata, rng=random_state(device)))
        except OSError as error:  # a full or read-only disk: the log says so before the run stops
            log(f"{reason}: FAILED to write the snapshot at {progress.cur_nimg / 1000:.3f} kimg: "
                f"{describe_os_error(error)}; the earlier snapshots are intact, resume from the newest")
            raise
        log(f"{reason}: wrote {path.name}")

    try:
        while progress.cur_nimg < total_nimg:
            # cur_nimg is absolute, so the EMA ramp-up continues smoothly on resume (no need to switch it off).
            schedule = schedule_values(progress.cur_nimg, progress.resume_nimg, generator_config.neural_resolution,
                                       config)
            torch.manual_seed(_step_seed(config.seed, context.rank, progress.batch_index))
            real = data.real_batch(sampler.take(config.batch // context.world_size), device)
            progress.sampler_position = sampler.position
            warming_up = progress.cur_nimg - progress.resume_nimg < config.d_warmup_kimg * 1000 and payload is None
            collector.add(step.run(real, schedule, progress.batch_index, train_generator=not warming_up))
            progress.cur_nimg += config.batch
            progress.batch_index += 1
            bar.update(round(progress.cur_nimg / 1000 - bar.n, 6))
            elapsed = time.perf_counter() - tick_start_time
            bar.set_postfix(img_s=f"{(progress.cur_nimg - tick_start_nimg) / max(elapsed, 1e-9):.1f}")
            stop_now = _agree_on_stop(stop.requested, context)
            done = progress.cur_nimg >= total_nimg or stop_now
            if not done and progress.cur_nimg < tick_start_nimg + config.tick_kimg * 1000:
                continue
            progress.tick += 1
            stats = collector.reduce(context)
            snapshot_due = progress.tick % config.snap_ticks == 0 or done
            if snapshot_due:
                for module, name in ((G, "G"), (D, "D"), (G_ema, "G_ema"), (D_ema, "D_ema")):
                    distributed.check_identical(module, context, name)
            if context.is_main:
                elapsed = time.perf_counter() - tick_start_time
                stats.update(_progress_stats(progress, schedule, tick_start_nimg, elapsed, run_start_time, device))
                if snapshot_due:
                    if ground_truth is None:
                        ground_truth = [GroundTruthSurfaces.find(data.path, DEFAULT_MESH_BOUNDS)]
                    stats.update(evaluate_all(G_ema, D_ema, data, schedule, config, device, eval_warps,
                                              ground_truth[0], body.head_joint))
                append_stats_line(run_dir / "stats.jsonl", stats)
                log(_tick_line(stats))
                if progress.tick % config.image_snap_ticks == 0 or done:
                    save_fake_grids(run_dir, G_ema, data, schedule, config, progress.cur_nimg, device,
                                    step.warp_factory)
                if snapshot_due:
                    write_snapshot("stopped by signal" if stop_now else "snapshot")
            tick_start_nimg, tick_start_time = progress.cur_nimg, time.perf_counter()
            if stop_now:
                interrupted = True
                break
    finally:
        bar.close()
        stop.restore()
        noise_handle.remove()
    if context.is_main:
        log("stopped by signal; the last snapshot is complete" if interrupted else "training finished")
    return run_dir


def _agree_on_stop(requested: bool, context: distributed.DistributedContext) -> bool:
    """Stop on every rank when any rank got a signal (one tiny all-reduce per step in multi-process runs)."""
    if not context.active:
        return requested
    flag = torch.tensor([1.0 if requested else 0.0], device=context.device)
    return bool(distributed.all_reduce_mean(flag, context).item() > 0)


def _progress_stats(progress: Progress, schedule, tick_start_nimg: int, elapsed: float, run_start: float,
                    device: torch.device) -> dict[str, float]:
    """The Progress/, Timing/ and Resources/ entries of a stats.jsonl line."""
    images = progress.cur_nimg - tick_start_nimg
    return {
        "Progress/tick": progress.tick, "Progress/kimg": progress.cur_nimg / 1000,
        "Progress/swap_prob": schedule.swap_prob, "Progress/rendering_res": schedule.neural_resolution,
        "Progress/pose_prior_weight": schedule.pose_prior_weight, "Progress/blur_sigma": schedule.blur_sigma,
        "Progress/density_noise": schedule.density_noise, "Progress/ema_beta": schedule.ema_beta,
        "Timing/sec_per_tick": elapsed, "Timing/img_per_s": images / max(elapsed, 1e-9),
        "Timing/total_sec": time.perf_counter() - run_start, **memory_stats(device),
    }


def _tick_line(stats: dict[str, Any]) -> str:
    """One human-readable log line per tick."""
    def mean(name: str) -> float:
        value = stats.get(name, float("nan"))
        return value["mean"] if isinstance(value, dict) else float(value)

    return (f"tick {stats['Progress/tick']:d} kimg {stats['Progress/kimg']:.3f} "
            f"img/s {stats['Timing/img_per_s']:.2f} R {stats['Progress/rendering_res']} "
            f"G {mean('Loss/G/loss'):.3f} D {mean('Loss/D/loss'):.3f} "
            f"pose D-real {mean('Pose/D_real/neck_deg'):.1f}/{mean('Pose/D_real/head_deg'):.1f} deg")


__all__ = ["RunOptions", "TrainingError", "train"]
