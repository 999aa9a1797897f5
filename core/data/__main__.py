"""Dataset tools: `python -m core.data synth|check|preview ...` (see docs/data.md)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from core.cli import command_line


def _synth(args: argparse.Namespace) -> int:
    from core.data.synth import SynthSettings, synthesize  # lazy: --help stays fast (torch, the body, GL)

    settings = SynthSettings(
        resolution=args.resolution,
        seed=args.seed,
        views_per_identity=args.views_per_identity,
        supersample=args.supersample,
        vary_shape=not args.mean_shape,
        feature_scale=args.feature_scale,
        pose_scale=args.pose_scale,
        body_path=str(Path(args.body).expanduser().resolve()) if args.body else None,
    )
    start = time.perf_counter()
    root = synthesize(args.out, args.count, settings, workers=args.workers, as_zip=args.zip)
    seconds = time.perf_counter() - start
    print(f"wrote {args.count} images to {root} in {seconds:.1f} s ({args.count / seconds:.1f} images/s, "
          f"start-up included); check it with `python -m core.data check {root}`")
    return 0


def _check(args: argparse.Namespace) -> int:
    from core.data.check import check_main  # lazy: --help stays fast (torch)

    return check_main(Path(args.path), Path(args.masks) if args.masks else None)


def _preview(args: argparse.Namespace) -> int:
    from core.data.preview import preview_main  # lazy: --help stays fast (torch, PIL)

    return preview_main(Path(args.path), Path(args.out), args.count, args.columns, args.cell, args.masks)


def _power_of_two(text: str) -> int:
    value = int(text)
    if value < 8 or value & (value - 1):
        raise argparse.ArgumentTypeError(f"{value} is not a power of two >= 8 (e.g. 64, 128, 256, 512)")
    return value


def _float_in(low, high, why: str):
    """An argparse type for a number in [low, high]; `why` explains the range in the error."""

    def parse(text: str) -> float:
        value = float(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high} ({why})")
        return value

    return parse


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


@command_line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser("synth", help="render a synthetic 360-degree portrait dataset")
    synth.add_argument("--out", required=True, help="new output folder (images, masks, synth.json)")
    synth.add_argument("--count", type=_positive, required=True, help="number of images")
    synth.add_argument("--resolution", type=_power_of_two, default=128, help="image side in pixels")
    synth.add_argument("--seed", type=int, default=0, help="base random seed")
    synth.add_argument("--workers", type=_positive, default=2, help="rendering processes (one per CPU core)")
    synth.add_argument("--zip", action="store_true", help="write uncompressed images.zip and masks.zip")
    synth.add_argument("--views-per-identity", type=_positive, default=1, help="consecutive images of one person")
    synth.add_argument("--supersample", type=_positive, default=2, help="anti-aliasing sub-pixels per side")
    synth.add_argument("--mean-shape", action="store_true", help="do not vary the body shape (betas)")
    feature_scale = _float_in(0.5, 2.0, "larger features overlap on the face")
    synth.add_argument("--feature-scale", type=feature_scale, default=1.0,
                       help="size of eyes, brows, nose and mouth (1.5 keeps faces legible at 64 px)")
    synth.add_argument("--pose-scale", type=_float_in(0, 1, "1 is the full pose distribution"), default=1.0,
                       help="multiplies the neck/head angles (0: rest pose, for training with --warp none)")
    synth.add_argument("--body", default=None, help="SMPL model file/folder (default: the shipped stand-in)")
    synth.set_defaults(run=_synth)

    check = commands.add_parser("check", help="validate a dataset and print a summary")
    check.add_argument("path", help="dataset folder, image zip, or synth output folder")
    check.add_argument("--masks", default=None, help="mask folder or zip (found automatically in synth output)")
    check.set_defaults(run=_check)

    preview = commands.add_parser("preview", help="write a contact sheet of a dataset")
    preview.add_argument("path", help="dataset folder, image zip, or synth output folder")
    preview.add_argument("--out", required=True, help="PNG file to write")
    preview.add_argument("--count", type=_positive, default=24, help="samples on the sheet")
    preview.add_argument("--columns", type=_positive, default=6, help="samples per row")
    preview.add_argument("--cell", type=_positive, default=128, help="thumbnail side in pixels")
    preview.add_argument("--masks", action="store_true", help="show each mask beside its image")
    preview.set_defaults(run=_preview)

    args = parser.parse_args(argv)
    from core.data.storage import DatasetError  # lazy: --help and usage errors answer before numpy and PIL load

    try:
        return args.run(args)
    except (DatasetError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
