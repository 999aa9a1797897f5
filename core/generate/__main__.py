"""Sample grids and 360-degree videos from the command line (docs/generate.md).

  python -m core.generate images --checkpoint C --seeds 0-15 | --latent FILE.npz [--yaw ...] [--pitch ...]
                                 [--pose NECK,HEAD | 6 numbers]
                                 [--grid 4x4] [--outputs image,depth,mask] [--psi P] --out DIR
  python -m core.generate video --checkpoint C --seeds 0,3 --path turntable|nod|shake|lookaround|morph|FILE.json
                                [--fps 30 --seconds 6 --resolution N] --out FILE.mp4|FILE.gif
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from core.body.warp import DEFAULT_GRID_RESOLUTION, WARP_MODES
from core.checkpoint import CheckpointError, checkpoint_body_path
from core.invert.latent_file import load_latent
from core.generate.media import VideoWriter, check_video_target, write_png
from core.generate.options import (
    load_model, parse_device, parse_floats, parse_grid, parse_outputs, parse_pose, parse_seeds,
)
from core.generate.render import (
    OUTPUT_ALIASES, RenderCancelled, RenderSettings, ViewRenderer, grid_shape, render_path_frames,
    tile,
)
from core.budget import (MAX_IMAGE_SIDE, MAX_IMAGES, MAX_NEURAL_RESOLUTION, MAX_SAMPLES_PER_RAY, BudgetError,
                         check_limit)
from core.config import CAMERA_CONVENTIONS, IMPORTANCE_SAMPLERS
from core.device import DEVICE_HELP
from core.paths import PRESET_NAMES, CameraKey, LatentKey, PathFileError, load_path, preset_path, save_path
from core.paths.evaluate import frame_count
from core.paths.model import DEFAULT_FOCAL, DEFAULT_PSI, DEFAULT_RADIUS
from core.cli import command_line, describe_os_error
from core.shipped import DEFAULT_CHECKPOINT

FILE_SUFFIX = {name: "" if name == "image" else "_" + short for short, name in OUTPUT_ALIASES.items()}


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", default=None,
                        help="generator .pt/.pkl file or preset:<name> (untrained); default checkpoints/default.pt")
    parser.add_argument("--psi", type=float, default=DEFAULT_PSI, help="truncation psi (default %(default)s)")
    parser.add_argument("--truncation-cutoff", type=int, default=None, help="truncate only the first N ws")
    parser.add_argument("--pose", type=parse_pose, default=(0.0,) * 6,
                        help="body pose in degrees: neck x,y,z,head x,y,z or NECK,HEAD nods (default rest)")
    parser.add_argument("--cond-pose", type=parse_pose, default=None,
                        help="pose the mapping is conditioned on (images: the rendered pose, as the visualizer; "
                             "video: --pose, fixed for the whole video)")
    parser.add_argument("--cond-yaw", type=float, default=0.0,
                        help="yaw of the camera the mapping is conditioned on (default 0: frontal, as in training)")
    parser.add_argument("--cond-pitch", type=float, default=0.0, help="pitch of the conditioning camera (default 0)")
    parser.add_argument("--radius", type=float, default=DEFAULT_RADIUS, help="camera distance (default %(default)s)")
    parser.add_argument("--focal", type=float, default=DEFAULT_FOCAL, help="normalised focal length (zoom)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--neural-resolution", type=int, default=None, help="rays per side (default: the model's)")
    parser.add_argument("--depth-samples", type=int, default=None, help="coarse samples per ray")
    parser.add_argument("--importance-samples", type=int, default=None, help="fine samples per ray")
    parser.add_argument("--warp", choices=WARP_MODES, default="fast",
                        help="body warp for posed renders: fast (default, as the viewer), grid or exact")
    parser.add_argument("--warp-resolution", type=int, default=DEFAULT_GRID_RESOLUTION,
                        help="nodes per side of the per-pose grid of --warp grid (default %(default)s)")
    parser.add_argument("--no-skip-empty-space", action="store_true",
                        help="decode every sample (default: skip the latent's empty cells, as the viewer does)")
    parser.add_argument("--camera-convention", choices=CAMERA_CONVENTIONS, default="project",
                        help="project (default: orbit the look-at point) or reference (the authors' cameras: orbit "
                             "the world origin, aimed at the look-at point; docs/released-checkpoints.md)")
    parser.add_argument("--importance-sampler", choices=IMPORTANCE_SAMPLERS, default=None,
                        help="project or reference (the authors' EG3D sampler); default: the model's own "
                             "(reference for imported released models)")
    parser.add_argument("--body-model", default=None,
                        help="SMPL-format body file (default: the checkpoint's training body, else the stand-in)")


def _check_sizes(args: argparse.Namespace) -> None:
    """Every size the command line asks for, before the model loads (core.budget)."""
    for option, value, low, high in (("--depth-samples", args.depth_samples, 2, MAX_SAMPLES_PER_RAY),
                                     ("--importance-samples", args.importance_samples, 0, MAX_SAMPLES_PER_RAY),
                                     ("--neural-resolution", args.neural_resolution, 2, MAX_NEURAL_RESOLUTION),
                                     ("--resolution", args.resolution, 2, MAX_IMAGE_SIDE)):
        if value is not None:
            if value < low:
                raise BudgetError(f"{option} {value}: too small ({low} at least)")
            check_limit(option, value, high)
    if getattr(args, "fps", None) is not None and not 0 < args.fps <= 1000:
        raise BudgetError(f"--fps {args.fps:g}: give a frame rate between 0 and 1000, e.g. 30")
    if getattr(args, "seconds", None) is not None and not args.seconds > 0:
        raise BudgetError(f"--seconds {args.seconds:g}: give a positive length")
    grid = getattr(args, "grid", None)
    if grid is not None:
        check_limit("--grid cells", grid[0] * grid[1], MAX_IMAGES)


def _settings(args: argparse.Namespace, output_size: int | None, cond_pose_deg=None) -> RenderSettings:
    return RenderSettings(
        neural_resolution=args.neural_resolution, depth_samples=args.depth_samples,
        importance_samples=args.importance_samples, truncation_cutoff=args.truncation_cutoff,
        cond_pose_deg=cond_pose_deg, warp_mode=args.warp, warp_resolution=args.warp_resolution,
        body_model_path=args.body_model or checkpoint_body_path(args.checkpoint or DEFAULT_CHECKPOINT),
        output_size=output_size, camera_convention=args.camera_convention,
        cond_yaw_deg=args.cond_yaw, cond_pitch_deg=args.cond_pitch, skip_empty_space=not args.no_skip_empty_space,
        importance_sampler=args.importance_sampler,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    images = commands.add_parser("images", help="one PNG per seed and view, and a grid sheet per output")
    _common_options(images)
    images.add_argument("--seeds", type=parse_seeds, default=None, help="seeds and ranges, e.g. 0-15 or 0,3,7")
    images.add_argument("--latent", default=None,
                        help="an inverted latent (latent.npz of python -m core.invert) instead of --seeds")
    images.add_argument("--yaw", type=parse_floats, default=(0.0,), help="camera yaws in degrees, e.g. -30,0,30")
    images.add_argument("--pitch", type=parse_floats, default=(0.0,), help="camera pitches (one, or one per yaw)")
    images.add_argument("--grid", type=parse_grid, default=None,
                        help="COLUMNSxROWS of the sheet (default: a row per seed with several views, else square)")
    images.add_argument("--outputs", type=parse_outputs, default=("image",),
                        help=f"comma-separated from {', '.join(OUTPUT_ALIASES)} (default image)")
    images.add_argument("--resolution", type=int, default=None, help="resize every image to N pixels per side")
    images.add_argument("--out", type=Path, required=True, help="output folder")

    video = commands.add_parser("video", help="a video along a camera/pose path (MP4 or GIF)")
    _common_options(video)
    video.add_argument("--seeds", type=parse_seeds, default=None,
                       help="seeds: one grid cell each, or the identities a morph passes through (default 0); "
                            "a path file with latents shows its own")
    video.add_argument("--latent", default=None,
                       help="an inverted latent (latent.npz of python -m core.invert) shown instead of seeds")
    video.add_argument("--path", required=True, help=f"a preset ({', '.join(PRESET_NAMES)}) or a path .json file")
    video.add_argument("--fps", type=float, default=30.0, help="frames per second (default %(default)s)")
    video.add_argument("--seconds", type=float, default=None, help="length (default: the path's own)")
    video.add_argument("--resolution", type=int, default=None, help="pixels per side of each cell (MP4: even)")
    video.add_argument("--yaw", type=float, default=0.0, help="starting camera yaw of a preset path")
    video.add_argument("--pitch", type=float, default=0.0, help="camera pitch of a preset path")
    video.add_argument("--output", choices=list(OUTPUT_ALIASES), default="image", help="which product to film")
    video.add_argument("--grid", type=parse_grid, default=None, help="COLUMNSxROWS of the seed grid")
    video.add_argument("--save-path", type=Path, default=None, help="also write the path as editable JSON")
    video.add_argument("--out", type=Path, required=True, help="output .mp4 or .gif")
    return parser


def _views(yaws: tuple[float, ...], pitches: tuple[float, ...]) -> list[tuple[float, float]]:
    if len(pitches) == 1:
        return [(yaw, pitches[0]) for yaw in yaws]
    if len(yaws) == 1:
        return [(yaws[0], pitch) for pitch in pitches]
    if len(yaws) != len(pitches):
        raise ValueError(f"--yaw has {len(yaws)} values and --pitch {len(pitches)}: give one pitch or one per yaw")
    return list(zip(yaws, pitches))


def _latent_key(args: argparse.Namespace) -> LatentKey | None:
    """--latent as a LatentKey (its file checked now, before the model loads), or None."""
    if args.latent is None:
        return None
    if args.seeds is not None:
        raise ValueError("give --seeds or --latent, not both")
    file = Path(args.latent).expanduser().resolve()
    load_latent(file)
    return LatentKey((), args.psi, file=str(file))


def _identities(args: argparse.Namespace) -> list[tuple[str, LatentKey]]:
    """(file name stem, latent) of each identity the images command shows."""
    inverted = _latent_key(args)
    if inverted is not None:
        return [(Path(inverted.file).stem, inverted)]
    if args.seeds is None:
        raise ValueError("give --seeds (e.g. --seeds 0-15) or --latent FILE.npz")
    return [(f"seed{seed:04d}", LatentKey(((seed, 1.0),), args.psi)) for seed in args.seeds]


def run_images(args: argparse.Namespace) -> int:
    _check_sizes(args)
    device = parse_device(args.device)
    views = _views(args.yaw, args.pitch)
    identities = _identities(args)
    count = len(identities) * len(views)
    check_limit("images (identities x views)", count, MAX_IMAGES, "split the job into several commands")
    if args.grid is not None and args.grid[0] * args.grid[1] < count:
        raise ValueError(f"--grid {args.grid[0]}x{args.grid[1]} holds fewer cells than the {count} images "
                         f"({len(identities)} identities x {len(views)} views)")
    generator, description = load_model(args.checkpoint, device)
    print(f"model: {description}; device {device}", file=sys.stderr)
    renderer = ViewRenderer(generator, _settings(args, args.resolution, args.cond_pose))
    sheets: dict[str, list] = {name: [] for name in args.outputs}
    with tqdm(total=count, desc="images", unit="image") as bar:
        for stem, latent in identities:
            for yaw, pitch in views:
                camera = CameraKey(yaw, pitch, args.radius, args.focal)
                products = renderer.render(latent, camera, args.pose, args.outputs)
                view_tag = f"_yaw{yaw:g}_pitch{pitch:g}" if len(views) > 1 else ""
                for name, pixels in products.items():
                    write_png(pixels, args.out / f"{stem}{view_tag}{FILE_SUFFIX[name]}.png")
                    sheets[name].append(pixels)
                bar.update(1)
    columns, rows = args.grid or ((len(views), len(identities)) if len(views) > 1 else grid_shape(count, None))
    for name, images in sheets.items():
        write_png(tile(images, columns, rows), args.out / f"grid{FILE_SUFFIX[name]}.png")
    print(f"wrote {count} views x {len(args.outputs)} outputs and {len(sheets)} grid sheets to {args.out}",
          file=sys.stderr)
    return 0


def _video_path(args: argparse.Namespace):
    camera = CameraKey(args.yaw, args.pitch, args.radius, args.focal)
    if args.path in PRESET_NAMES:
        return preset_path(args.path, args.seconds, args.seeds or (0,), args.psi, camera, args.pose)
    if not args.path.endswith(".json"):
        raise ValueError(f"--path {args.path!r}: not a preset ({', '.join(PRESET_NAMES)}) nor a .json path file")
    return load_path(Path(args.path).expanduser())


def run_video(args: argparse.Namespace) -> int:
    check_video_target(args.out)
    _check_sizes(args)
    device = parse_device(args.device)
    path = _video_path(args)
    inverted = _latent_key(args)
    if inverted is not None:  # the inverted identity in every keyframe
        path = dataclasses.replace(path, keyframes=tuple(dataclasses.replace(key, latent=inverted)
                                                         for key in path.keyframes))
    frame_count(path, args.fps, args.seconds)  # a path file's own length is checked before the model loads
    has_latents = path.keyframes[0].latent is not None
    if has_latents and args.seeds is not None and args.path not in PRESET_NAMES:
        print(f"note: {args.path} has its own latents; --seeds is not used", file=sys.stderr)
    args.seeds = args.seeds or (0,)
    if args.grid is not None and not has_latents and args.grid[0] * args.grid[1] < len(args.seeds):
        raise ValueError(f"--grid {args.grid[0]}x{args.grid[1]} holds fewer cells than the {len(args.seeds)} seeds")
    if args.save_path is not None:
        save_path(path, args.save_path)
    generator, description = load_model(args.checkpoint, device)
    print(f"model: {description}; device {device}", file=sys.stderr)
    # A fixed conditioning pose keeps the identity steady while the head moves (one tri-grid per seed).
    cond_pose = args.cond_pose if args.cond_pose is not None else tuple(args.pose)
    with VideoWriter(args.out, args.fps) as writer, tqdm(desc=f"video {path.name}", unit="frame") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        render_path_frames(generator, path, args.fps, args.seconds, seeds=args.seeds, psi=args.psi,
                           output=args.output, settings=_settings(args, args.resolution, cond_pose), grid=args.grid,
                           progress=progress, frame_sink=writer.append)
    print(f"wrote {writer.frames_written} frames at {args.fps:g} fps to {args.out}", file=sys.stderr)
    return 0


# Options whose values may start with a minus sign.
ANGLE_OPTIONS = ("--yaw", "--pitch", "--pose", "--cond-pose", "--cond-yaw", "--cond-pitch")


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--yaw -30,0,30` -> `--yaw=-30,0,30`: argparse would take a leading minus for an option name."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        token = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else ""
        if token in ANGLE_OPTIONS and following[:1] == "-" and (following[1:2].isdigit() or following[1:2] == "."):
            joined.append(f"{token}={following}")
            index += 2
        else:
            joined.append(token)
            index += 1
    return joined


@command_line
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(_join_negative_values(sys.argv[1:] if argv is None else list(argv)))
    if torch.cuda.is_available():
        # Reproducible pixels on the GPU too: no autotuned, nondeterministic convolution algorithms.
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    try:
        return run_images(args) if args.command == "images" else run_video(args)
    except OSError as error:  # a folder that is a file, a read-only or full disk
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except (PathFileError, CheckpointError, ValueError, RenderCancelled) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
