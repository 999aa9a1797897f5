"""Invert a photo into a model (docs/invert.md).

  python -m core.invert PHOTO --checkpoint C --out DIR [--mask MASK] [--camera YAW,PITCH | --search-camera]
                        [--steps N] [--finetune-steps M] [--w-plus] [--crop LEFT,TOP,SIZE]

Writes DIR/latent.npz (for the viewer and `core.generate --latent`), DIR/finetuned.pt (with --finetune-steps),
DIR/before_after.png, DIR/strip_360.png and DIR/report.json. Ctrl+C stops and writes the best result so far.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from tqdm import tqdm

from core.budget import MAX_INVERT_STEPS
from core.cli import command_line
from core.device import DEVICE_HELP
from core.invert.photo import InvertInputError, parse_crop


def parse_camera(text: str) -> tuple[float, float]:
    try:
        yaw, pitch = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give YAW,PITCH in degrees, e.g. --camera 30,5") from None
    return yaw, pitch


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.invert", description=__doc__.splitlines()[0])
    parser.add_argument("photo", help="the photo (PNG/JPEG), ideally a portrait centred in a square")
    parser.add_argument("--checkpoint", default=None, help="generator .pt/.pkl or preset:<name>; default "
                        "checkpoints/default.pt (a checkpoint keeping D_ema also gives the pose and D features)")
    parser.add_argument("--out", required=True, help="folder for latent.npz, report.json and the pictures")
    parser.add_argument("--mask", default=None, help="mask image of the photo's size (white = the person); default: "
                        "estimated from the background colours, else every pixel counts")
    parser.add_argument("--crop", type=parse_crop, default=None, help="LEFT,TOP,SIZE square in photo pixels "
                        "(default: the centred square); give 0,0,SIZE for an aligned square photo")
    camera = parser.add_mutually_exclusive_group()
    camera.add_argument("--camera", type=parse_camera, default=None, help="YAW,PITCH degrees of the photo's view")
    camera.add_argument("--search-camera", action="store_true", help="search the whole yaw circle (the default)")
    parser.add_argument("--steps", type=int, default=200, help="latent optimisation steps (default %(default)s)")
    parser.add_argument("--finetune-steps", type=int, default=0,
                        help="pivotal-tuning steps of a copy of G, written as finetuned.pt (default 0: none)")
    parser.add_argument("--w-plus", action="store_true", help="optimise one w per layer (W+; default: one w)")
    parser.add_argument("--no-fit-pose", action="store_true", help="keep the body pose at its initial value")
    parser.add_argument("--no-fit-camera", action="store_true", help="keep the camera at the searched/given one")
    parser.add_argument("--pose-init", choices=("auto", "discriminator", "rest"), default="auto",
                        help="initial body pose: D's pose head when the checkpoint keeps D (auto), or rest")
    parser.add_argument("--perceptual", choices=("auto", "lpips", "discriminator", "none"), default="auto",
                        help="perceptual term: LPIPS when installed with cached weights, else D's features (auto)")
    parser.add_argument("--body-model", default=None, help="SMPL-format body file (default: the checkpoint's)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _check(args: argparse.Namespace) -> None:
    for option, value in (("--steps", args.steps), ("--finetune-steps", args.finetune_steps)):
        if not 0 <= value <= MAX_INVERT_STEPS:
            raise InvertInputError(f"{option} {value}: give 0 to {MAX_INVERT_STEPS}")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise InvertInputError(f"--out {out}: exists and is not a folder; give a folder")


@command_line
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.invert.session import InvertSetupError, open_inversion  # lazy: --help answers without torch

    try:
        _check(args)
        started = time.perf_counter()
        session = open_inversion(args.photo, args.checkpoint, args.device, mask=args.mask, crop=args.crop,
                                 body_model=args.body_model, camera=args.camera, steps=args.steps,
                                 finetune_steps=args.finetune_steps, w_plus=args.w_plus,
                                 fit_pose=not args.no_fit_pose, fit_camera=not args.no_fit_camera,
                                 pose_init=args.pose_init, perceptual=args.perceptual)
    except (InvertInputError, InvertSetupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for line in session.notes():
        print(line, file=sys.stderr)
    interrupted = False
    bar = tqdm(total=100, disable=args.no_progress, unit="%", bar_format="{desc} {percentage:3.0f}%|{bar}| {elapsed}")
    try:
        last = None
        for phase, fraction in session.steps():
            if phase != last:
                last = phase
                bar.reset(total=100)
            inversion = session.inversion
            loss = inversion.finetune_loss if phase == "finetune" else inversion.best.loss
            shown = f"{loss:.4f}" if loss is not None and math.isfinite(loss) else "-"
            bar.set_description(f"{phase:8s} loss {shown}", refresh=False)
            bar.update(round(100 * fraction) - bar.n)  # tqdm redraws at most every 0.1 s
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: writing the best result so far", file=sys.stderr)
    finally:
        bar.close()
    report = session.write(Path(args.out).expanduser(), interrupted, time.perf_counter() - started)
    iou = "n/a" if report["mask_iou"] is None else f"{report['mask_iou']:.3f}"
    print(f"yaw {report['yaw_deg']:.1f} pitch {report['pitch_deg']:.1f} | PSNR {report['psnr_db']:.2f} dB | mask IoU "
          f"{iou} | perceptual {report['perceptual']} | {report['latent']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
