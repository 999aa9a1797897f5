"""Mesh extraction: grid evaluation, marching cubes and vertex colours of one latent's shape.

Figures (names are contracts):
- `mesh.extract_ms.<res>.<device>`: canonical mesh at res^3 (128, and 256 unless quick), colours included.
- `mesh.extract_ms.posed.<res>.<device>`: the same through the renderer's grid warp of a turned, nodding
  head (the warp is built beforehand, as the render worker caches it per pose).
- `mesh.warp_build_ms.<device>`: building that grid warp once (what a never-seen pose adds).
- `mesh.taubin5_ms.128.<device>`, `mesh.grid_smooth_ms.128.<device>`: the two smoothing options at 128^3
  (5 Taubin steps on the mesh; a Gaussian of 1 voxel on the grid).
- `mesh.model_is_default`: 1 when checkpoints/default.pt was used, 0 for a random preset:small model
  (then the level is the grid's median raw sigma, so that marching cubes has a real surface to trace).
"""
from __future__ import annotations

import dataclasses

import torch

from core.bench.harness import BenchContext, time_call
from core.body import load_body_model, pose_from_degrees
from core.body.warp import make_warp
from core.generate.options import load_model
from core.mesh import DEFAULT_LEVEL, MeshOptions, generator_mesh, median_level, smooth_grid, taubin_smooth
from core.mesh.separable import separable_density_grid
from core.scene import SceneBuilder, SceneSpec
from core.shipped import DEFAULT_CHECKPOINT

BENCH_SEED = 0  # the latent whose shape is extracted
BENCH_POSE_DEG = ((10.0, 0.0, 0.0), (0.0, 30.0, 0.0))  # neck nod, head turn: a typical posed request


def run(ctx: BenchContext) -> dict[str, float]:
    uses_default = DEFAULT_CHECKPOINT.is_file()
    generator, _ = load_model(str(DEFAULT_CHECKPOINT) if uses_default else "preset:small", ctx.device)
    device, suffix = ctx.device, ctx.device_name
    pose = pose_from_degrees(*BENCH_POSE_DEG)[None].to(device)
    pose_deg = (*BENCH_POSE_DEG[0], *BENCH_POSE_DEG[1])
    spec = SceneSpec(seeds=((BENCH_SEED, 1.0),), truncation_psi=0.7, cond_pose_deg=pose_deg, pose_deg=pose_deg)
    with torch.no_grad():  # the warp is built below, timed: the builder gives the latent and tri-grid only
        scenes = SceneBuilder(generator, lambda: None)
        ws = scenes.ws(spec)
        planes = scenes.planes(spec, ws)
    options = MeshOptions(resolution=64)
    level = DEFAULT_LEVEL if uses_default else median_level(
        separable_density_grid(generator, planes, 64, options.bounds))
    figures: dict[str, float] = {"mesh.model_is_default": 1.0 if uses_default else 0.0}
    body = load_body_model(device=device)
    warp_holder = {}

    def build_warp() -> None:
        warp_holder["warp"] = make_warp(body, pose, "grid", thickness=generator.config.thickness)

    # Building takes seconds on the CPU: one timed run is enough to see it.
    figures[f"mesh.warp_build_ms.{suffix}"] = time_call(build_warp, device, repeats=1, warmup=0)
    resolutions = (128,) if ctx.quick else (128, 256)
    repeats = 1 if ctx.quick and device.type == "cpu" else 3
    for resolution in resolutions:
        options = MeshOptions(resolution=resolution, level=level)
        figures[f"mesh.extract_ms.{resolution}.{suffix}"] = time_call(
            lambda: generator_mesh(generator, planes, ws, options), device, repeats=repeats, warmup=1)
        figures[f"mesh.extract_ms.posed.{resolution}.{suffix}"] = time_call(
            lambda: generator_mesh(generator, planes, ws, options, point_warp=warp_holder["warp"]), device,
            repeats=repeats, warmup=0)
    mesh = generator_mesh(generator, planes, ws, dataclasses.replace(options, resolution=128, colors=False))
    figures[f"mesh.taubin5_ms.128.{suffix}"] = time_call(lambda: taubin_smooth(mesh.vertices, mesh.faces, 5),
                                                         device, repeats=3)
    figures[f"mesh.grid_smooth_ms.128.{suffix}"] = time_call(lambda: smooth_grid(mesh.grid, 1.0), device, repeats=3)
    return figures
