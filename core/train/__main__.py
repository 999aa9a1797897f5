"""`python -m core.train --data PATH --preset NAME --kimg K --outdir DIR [--batch B] [--resume RUN|SNAPSHOT]`
and `python -m core.train eval SNAPSHOT --data PATH`.

Several GPUs or machines: `torchrun --nproc_per_node N -m core.train ...` (NCCL on GPUs, gloo on CPUs).
Exit status: 0 when training finished or was stopped by SIGINT/SIGTERM after writing its last snapshot,
1 when the dataset, a snapshot or the options are unusable (the message says which and how to fix it).
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from core.checkpoint import CheckpointError
from core.cli import command_line
from core.config import PRESETS
from core.data.storage import DatasetError
from core.device import DEVICE_HELP, resolve_device
from core.train.config import TrainingConfig, TrainingError


def _non_negative(text: str) -> float:
    """A loss weight: a float >= 0 (a negative weight would train against its own loss)."""
    value = float(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"{text} is not a weight >= 0")
    return value


def _share(text: str) -> float:
    """A probability: a float in [0, 1]."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> float:
    """A length in kimg: a finite float > 0."""
    value = float(text)
    if not (value > 0.0 and value < float("inf")):
        raise argparse.ArgumentTypeError(f"{text} is not a number > 0")
    return value


def _count(text: str) -> int:
    """A count of ticks, images or samples: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number >= 1")
    return value


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.train", description="Train a tri-grid portrait GAN.",
                                     epilog="Evaluate a snapshot: python -m core.train eval SNAPSHOT --data PATH")
    parser.add_argument("--data", required=True, type=Path, help="dataset folder, image zip or synth output root")
    parser.add_argument("--masks", type=Path, default=None, help="mask folder/zip when not beside the images")
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS), help="generator size (fresh runs)")
    parser.add_argument("--kimg", type=_positive, required=True, help="train until this many thousand real images")
    parser.add_argument("--outdir", type=Path, required=True, help="parent folder of the run folders")
    parser.add_argument("--batch", type=_count, default=None, help="global batch (default 32 on CUDA, 4 on CPU)")
    parser.add_argument("--resume", type=Path, default=None, help="run folder or snapshot to continue")
    parser.add_argument("--init", type=Path, default=None,
                        help="start a new run from this checkpoint's networks (G_ema; D_ema when it has one), "
                             "with fresh optimisers and schedules")
    parser.add_argument("--d-warmup-kimg", type=_non_negative, default=None,
                        help="train D alone for the run's first kimg (with --init: a fresh D catches up first)")
    parser.add_argument("--pose-prior-kimg", type=_non_negative, default=None,
                        help="kimg the pose prior holds before fading over as long again (default: scaled to --kimg)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--tick-kimg", type=_positive, default=None, help="kimg per progress tick (default: scaled)")
    parser.add_argument("--snap-ticks", type=_count, default=None, help="ticks between snapshots (default 50)")
    parser.add_argument("--image-snap-ticks", type=_count, default=None, help="ticks between image grids (default 25)")
    parser.add_argument("--neural-resolution-final", type=int, default=None, help="fade R to this (stage 3)")
    parser.add_argument("--freeze-g-pose-branch", action="store_true", help="stages 2-3: stop training G's branch")
    parser.add_argument("--warp", default="fast", choices=["fast", "exact", "grid", "none"],
                        help="body warp of fakes: fast (default; rigid neck/head groups), exact (the reference's "
                             "nearest-face search, slow), grid (no pose gradient: needs --freeze-g-pose-branch), "
                             "none (no posed necks)")
    parser.add_argument("--body", default=None,
                        help="SMPL body file or folder, or 'standin' (default: the body a synthetic dataset was "
                             "made with, else the shipped stand-in)")
    parser.add_argument("--gamma", type=_non_negative, default=None, help="R1 weight of image and raw image")
    parser.add_argument("--gamma-seg", type=_non_negative, default=None, help="R1 weight of the mask")
    parser.add_argument("--pose-loss-weight", type=_non_negative, default=None,
                        help="weight of D's pose-head loss on fakes (default 1; 0 for --warp none on rest-pose data)")
    parser.add_argument("--d-pose-shuffle", type=_share, default=None,
                        help="share of D's fakes rendered with another sample's pose to train its pose head "
                             "(default 0.5; 0 = the reference, whose pose head can read the pose from the camera)")
    parser.add_argument("--grid-size", type=_count, default=None,
                        help="samples per side of the image grids (default 4)")
    parser.add_argument("--eval-images", type=_count, default=None, help="held-out images per evaluation (default 16)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    return parser


def _training_config(args: argparse.Namespace, batch: int) -> TrainingConfig:
    overrides = {"seed": args.seed, "warp_mode": args.warp, "train_g_pose_branch": not args.freeze_g_pose_branch}
    for name, value in (("tick_kimg", args.tick_kimg), ("snap_ticks", args.snap_ticks),
                        ("image_snap_ticks", args.image_snap_ticks),
                        ("neural_resolution_final", args.neural_resolution_final),
                        ("r1_gamma", args.gamma), ("r1_gamma_seg", args.gamma_seg), ("grid_size", args.grid_size),
                        ("eval_images", args.eval_images), ("pose_loss_weight", args.pose_loss_weight),
                        ("pose_prior_kimg", args.pose_prior_kimg), ("d_warmup_kimg", args.d_warmup_kimg),
                        ("d_pose_shuffle", args.d_pose_shuffle)):
        if value is not None:
            overrides[name] = value
    return TrainingConfig.for_run(args.kimg, batch, **overrides)


def train_main(argv: list[str]) -> int:
    """Parse the training options and run; returns the exit status."""
    from core.train.loop import RunOptions, train  # lazy: --help stays fast (the networks, data, body)

    args = _train_parser().parse_args(argv)
    try:
        on_cuda = resolve_device(args.device).type == "cuda"
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    batch = args.batch or (32 if on_cuda else 4)
    options = RunOptions(data=args.data, outdir=args.outdir, preset=args.preset, masks=args.masks, resume=args.resume,
                         device=None if args.device == "auto" else args.device, progress_bar=not args.no_progress,
                         body=args.body, init=args.init,
                         command=" ".join(shlex.quote(part) for part in ["python", "-m", "core.train", *argv]))
    try:
        train(options, _training_config(args, batch))
    except (TrainingError, DatasetError, CheckpointError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def eval_main(argv: list[str]) -> int:
    """`eval SNAPSHOT --data PATH`: print the pose errors of a training snapshot as JSON."""
    parser = argparse.ArgumentParser(prog="python -m core.train eval",
                                     description="Pose errors of a snapshot on a dataset's held-out images.")
    parser.add_argument("snapshot", type=Path, help="snapshot-*.pt or a run folder (its latest snapshot)")
    parser.add_argument("--data", required=True, type=Path, help="dataset with ground-truth poses")
    parser.add_argument("--masks", type=Path, default=None, help="mask folder/zip when not beside the images")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--images", type=_count, default=64, help="held-out images to use")
    args = parser.parse_args(argv)
    from core.train.evaluate import evaluate_snapshot  # lazy: --help stays fast (the networks, data, body)

    try:
        resolve_device(args.device)  # a bad --device is one line, before anything loads
        figures = evaluate_snapshot(args.snapshot, args.data, args.masks, args.device, args.images)
    except (TrainingError, DatasetError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(figures, indent=1))
    return 0


@command_line
def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "eval":
        return eval_main(argv[1:])
    return train_main(argv)


if __name__ == "__main__":
    sys.exit(main())
