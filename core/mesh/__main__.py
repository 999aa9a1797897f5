"""Extract a coloured mesh of one seed's shape from a checkpoint.

  python -m core.mesh CHECKPOINT --seed S [--posed NECK,HEAD] --resolution N --level L --out FILE

CHECKPOINT is a .pt file or preset:NAME (an untrained, randomly initialised model). --posed takes the
body pose in degrees: six numbers "nx,ny,nz,hx,hy,hz" (neck then head axis-angle, x nod, y turn, z tilt),
two triples "nx,ny,nz hx,hy,hz", or two numbers "NECK,HEAD" (a nod of each). Without --posed the
canonical shape is extracted. --level is on the raw density (default 10, the reference's); the command
prints the grid's range so a level can be chosen for untrained models. OUT ends in .ply, .obj or .glb.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from core.body import load_body_model
from core.body.warp import DEFAULT_GRID_RESOLUTION, WARP_MODES
from core.budget import MAX_GRID_SMOOTH_VOXELS, MAX_SMOOTH_STEPS, BudgetError, check_limit
from core.checkpoint import checkpoint_body_path
from core.device import DEVICE_HELP
from core.generate.options import load_model, parse_device, parse_pose
from core.mesh.generator_mesh import DEFAULT_LEVEL, MeshOptions, generator_mesh
from core.mesh.grid import MESH_FORMATS, GridTooLargeError, check_grid_budget, export_mesh, save_grid
from core.paths.model import DEFAULT_PSI
from core.rendering.volume import CROPPED_SIGMA
from core.scene import SceneBuilder, SceneSpec
from core.cli import command_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.mesh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="checkpoint .pt file, or preset:NAME for an untrained model")
    parser.add_argument("--seed", type=int, required=True, help="latent seed")
    parser.add_argument("--posed", nargs="+", default=None, metavar="ANGLES",
                        help='body pose in degrees: "nx,ny,nz,hx,hy,hz", "nx,ny,nz hx,hy,hz" or "NECK,HEAD"')
    parser.add_argument("--resolution", type=int, default=256, help="grid samples per side (default %(default)s)")
    parser.add_argument("--level", type=float, default=DEFAULT_LEVEL,
                        help="iso-level on raw sigma (default %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="mesh file: .ply, .obj or .glb")
    parser.add_argument("--grid-out", type=Path, default=None, help="also save the raw density grid as .npy")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--psi", type=float, default=DEFAULT_PSI, help="truncation psi (default %(default)s)")
    parser.add_argument("--smooth", type=int, default=0, help="Taubin smoothing steps on the mesh (default 0)")
    parser.add_argument("--grid-smooth", type=float, default=0.0,
                        help="Gaussian sigma in voxels on the grid before marching cubes (default 0)")
    parser.add_argument("--no-colors", action="store_true", help="skip the vertex colours")
    parser.add_argument("--warp", choices=WARP_MODES, default="fast",
                        help="body warp of posed shapes: fast (default, as the renders), grid or exact "
                             "(about 100x slower per point)")
    parser.add_argument("--warp-resolution", type=int, default=DEFAULT_GRID_RESOLUTION,
                        help="nodes per side of the per-pose grid of --warp grid (default %(default)s)")
    parser.add_argument("--body-model", default=None,
                        help="SMPL-format body file (default: the checkpoint's training body, else the stand-in)")
    parser.add_argument("--memory-budget", type=float, default=None, metavar="GIB",
                        help="GiB the extraction may use at its peak (default: 16, less where free memory is smaller)")
    return parser


def check_sizes(args: argparse.Namespace) -> int | None:
    """Every size the command line asks for, before any work (core.budget); returns the budget in bytes."""
    if args.resolution < 2:
        raise BudgetError(f"--resolution {args.resolution}: a grid needs at least 2 samples per side")
    if args.smooth < 0 or args.grid_smooth < 0:
        raise BudgetError("--smooth and --grid-smooth cannot be negative")
    check_limit("--smooth", args.smooth, MAX_SMOOTH_STEPS, "10-50 steps are typical")
    check_limit("--grid-smooth", args.grid_smooth, MAX_GRID_SMOOTH_VOXELS, "1-2 voxels are typical")
    budget = None
    if args.memory_budget is not None:
        if not 0 < args.memory_budget < 1 << 20:
            raise BudgetError(f"--memory-budget {args.memory_budget:g}: give the GiB the extraction may use, e.g. 8")
        budget = int(args.memory_budget * 2**30)
    try:
        check_grid_budget(args.resolution, budget)
    except GridTooLargeError as error:
        raise BudgetError(f"--resolution {args.resolution}: {error}") from None
    return budget


def pose_degrees(values: list[str] | None) -> tuple[float, ...]:
    """The 6 pose angles in degrees from the --posed words (all zero without --posed)."""
    if not values:
        return (0.0,) * 6
    return parse_pose(",".join(values))


@command_line
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.out.suffix.lower() not in MESH_FORMATS:
        parser.error(f"--out {args.out}: the mesh format follows the suffix; use one of {', '.join(MESH_FORMATS)}")
    if args.grid_out is not None and args.grid_out.suffix.lower() != ".npy":
        parser.error(f"--grid-out {args.grid_out}: density grids are saved as .npy")
    try:
        pose_deg = pose_degrees(args.posed)
    except argparse.ArgumentTypeError as error:
        parser.error(f"--posed: {error}")
    try:
        budget = check_sizes(args)
    except BudgetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        device = parse_device(args.device)
        generator, description = load_model(args.checkpoint, device)
    except Exception as error:  # a missing or bad file: one clear line, no traceback
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"model: {description}", file=sys.stderr)
    # The canonical shape of the seed conditioned on its pose, frontal conditioning camera (core.scene).
    spec = SceneSpec(seeds=((args.seed, 1.0),), truncation_psi=args.psi, cond_pose_deg=pose_deg, pose_deg=pose_deg,
                     warp_mode=args.warp, warp_resolution=args.warp_resolution)
    body_path = args.body_model or checkpoint_body_path(args.checkpoint)
    scenes = SceneBuilder(generator, lambda: load_body_model(body_path, device=device))
    with torch.no_grad():
        ws = scenes.ws(spec)
        planes = scenes.planes(spec, ws)
        point_warp = scenes.warp(spec)
    options = MeshOptions(resolution=args.resolution, level=args.level, grid_smoothing=args.grid_smooth,
                          taubin_steps=args.smooth, colors=not args.no_colors, memory_budget=budget)
    with tqdm(total=100, desc="mesh", unit="%", bar_format="{l_bar}{bar}| {elapsed}<{remaining}") as bar:
        def progress(fraction: float) -> None:
            bar.update(round(fraction * 100) - bar.n)

        try:
            mesh = generator_mesh(generator, planes, ws, options, point_warp=point_warp, progress=progress)
        except GridTooLargeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    if args.grid_out is not None:  # a file system error is one line (core.cli.command_line)
        print(f"density grid: {save_grid(args.grid_out, mesh.grid)}", file=sys.stderr)
    inside = mesh.grid[mesh.grid > CROPPED_SIGMA]  # leave out the cropped walls
    low, high = (float(inside.min()), float(inside.max())) if inside.size else (float("nan"),) * 2
    if len(mesh.faces) == 0:
        print(f"error: no surface at level {args.level}: the raw density ranges from {low:.3f} to {high:.3f}; "
              f"choose a --level inside that range", file=sys.stderr)
        return 1
    export_mesh(args.out, mesh.vertices, mesh.faces, mesh.colors)
    timings = ", ".join(f"{stage} {ms / 1e3:.2f} s" for stage, ms in mesh.timings_ms.items())
    print(f"{args.out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces at level {args.level} "
          f"(raw density {low:.3f} to {high:.3f}; {timings})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
