"""Benchmark section `render`: empty-space skipping (core.rendering.occupancy) against full sampling.

Figures (contract names): `render.skip_speedup.<preset>.<device>` (full-quality render time with every sample
decoded / with the empty cells skipped, the same view measured side by side, tri-grid and occupancy grid
cached as in the viewer) and `render.skip_psnr_db.<preset>` (the skipped image against the full one; >= 40 dB
is the requirement), plus `render.occupied_fraction.<preset>` and `render.occupancy_build_ms.<preset>.<device>`.
`tiny` is the shipped default model when it exists (`render.model_is_default`); `paper-512` (random weights,
neural resolution 32, 24+24 samples, the raw image) runs in full mode only.
"""
from __future__ import annotations

import dataclasses

import torch

from core.bench.harness import BenchContext, time_call
from core.camera import orbit_camera
from core.config import preset
from core.generate.options import load_model
from core.generator import TriGridGenerator
from core.scene import SceneBuilder, SceneSpec
from core.shipped import DEFAULT_CHECKPOINT

VIEW = (30.0, 10.0)  # yaw, pitch of the timed view


def psnr_db(reference: torch.Tensor, other: torch.Tensor) -> float:
    """PSNR of images in [-1, 1] (peak-to-peak 2); identical images give 99."""
    mse = float((reference.float() - other.float()).square().mean())
    return 99.0 if mse == 0.0 else float(10 * torch.log10(torch.tensor(4.0 / mse)))


@torch.no_grad()
def skip_figures(generator, name: str, device: torch.device, repeats: int, neural_resolution: int | None = None,
                 outputs: tuple[str, ...] = ("image",), samples: int | None = None) -> dict[str, float]:
    """Speed-up and PSNR of empty-space skipping for one view of seed 0 of `generator`."""
    scenes = SceneBuilder(generator, lambda: None)
    spec = SceneSpec(seeds=((0, 1.0),))
    ws = scenes.ws(spec)
    planes = scenes.planes(spec, ws)
    build_ms = time_call(lambda: scenes.occupancy(spec, planes), device, repeats=1, warmup=0)
    occupancy = scenes.occupancy(spec, planes)
    rendering = dataclasses.replace(generator.config.rendering, deterministic=True)
    if samples is not None:
        rendering = dataclasses.replace(rendering, depth_resolution=samples, depth_resolution_importance=samples)
    camera = orbit_camera(*VIEW, device=device)

    def render(grid):
        output = generator.render(ws, planes, camera, neural_resolution=neural_resolution, rendering=rendering,
                                  outputs=outputs, occupancy=grid)
        return getattr(output, outputs[0])

    full_ms = time_call(lambda: render(None), device, repeats=repeats)
    skip_ms = time_call(lambda: render(occupancy), device, repeats=repeats)
    suffix = device.type
    return {f"render.skip_speedup.{name}.{suffix}": full_ms / skip_ms,
            f"render.skip_psnr_db.{name}": psnr_db(render(None), render(occupancy)),
            f"render.occupied_fraction.{name}": occupancy.fraction,
            f"render.occupancy_build_ms.{name}.{suffix}": build_ms}


def run(ctx: BenchContext) -> dict[str, float]:
    uses_default = DEFAULT_CHECKPOINT.is_file()
    generator, _ = load_model(str(DEFAULT_CHECKPOINT) if uses_default else "preset:tiny", ctx.device)
    figures = {"render.model_is_default": 1.0 if uses_default else 0.0}
    figures.update(skip_figures(generator, "tiny", ctx.device, repeats=5))
    if not ctx.quick:
        torch.manual_seed(0)
        paper = TriGridGenerator(preset("paper-512")).to(ctx.device).eval()
        figures.update(skip_figures(paper, "paper-512", ctx.device, repeats=2, neural_resolution=32,
                                    outputs=("image_raw",), samples=24))
    return figures
