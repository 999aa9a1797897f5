"""Benchmark section `generator`: model sizes and the cost of one rendered image, split by stage.

Figures (contract names): `generator.params.<preset>` for the paper presets, and per preset and device
`generator.render_ms` (mapping + tri-grid + render + super-resolution, nothing cached), its split
`generator.mapping_ms`, `generator.trigrid_ms`, `generator.rendering_ms`, `generator.superres_ms`, and
`generator.render_ms_cached` (tri-grid reused). Quick mode times tiny and small; full mode adds the paper sizes.
"""
from __future__ import annotations

import statistics

import torch

from core.bench.harness import BenchContext, time_call
from core.camera import orbit_camera
from core.config import preset
from core.generator import TriGridGenerator

QUICK_PRESETS = ("tiny", "small")  # cheap enough for a CPU run of well under 30 s
FULL_PRESETS = QUICK_PRESETS + ("paper-256", "paper-512")
COUNTED_PRESETS = ("paper-512", "paper-256")  # parameter counts reported in every mode (built on meta: free)
REPEATS = {"tiny": 5, "small": 3, "paper-256": 2, "paper-512": 2}  # timed runs per figure (after one warm-up)


def parameter_count(name: str) -> int:
    """Parameters of the preset's generator (buffers excluded), built on the meta device without memory."""
    with torch.device("meta"):
        generator = TriGridGenerator(preset(name))
    return sum(parameter.numel() for parameter in generator.parameters())


@torch.no_grad()
def time_preset(name: str, device: torch.device, repeats: int) -> dict[str, float]:
    """Median milliseconds of each stage of one image (batch 1) of the preset on the device."""
    torch.manual_seed(0)
    generator = TriGridGenerator(preset(name)).to(device).eval()
    z = torch.randn(1, generator.config.z_dim, device=device)
    camera = orbit_camera(30.0, 10.0, device=device)
    ws = generator.mapping(z, camera)
    planes = generator.synthesize_trigrid(ws)
    stage_samples: dict[str, list[float]] = {"rendering": [], "superresolution": []}

    def render_cached() -> None:
        output = generator.render(ws, planes, camera)
        for stage, samples in stage_samples.items():
            samples.append(output.timings_ms[stage])

    suffix = f"{name}.{device.type}"
    figures = {
        f"generator.render_ms.{suffix}": time_call(lambda: generator(z, camera), device, repeats=repeats),
        f"generator.mapping_ms.{suffix}": time_call(lambda: generator.mapping(z, camera), device, repeats=repeats),
        f"generator.trigrid_ms.{suffix}": time_call(lambda: generator.synthesize_trigrid(ws), device,
                                                    repeats=repeats),
        f"generator.render_ms_cached.{suffix}": time_call(render_cached, device, repeats=repeats),
    }
    figures[f"generator.rendering_ms.{suffix}"] = statistics.median(stage_samples["rendering"])
    figures[f"generator.superres_ms.{suffix}"] = statistics.median(stage_samples["superresolution"])
    return figures


def run(ctx: BenchContext) -> dict[str, float]:
    """The section's figures; see the module docstring for the names."""
    figures = {f"generator.params.{name}": float(parameter_count(name)) for name in COUNTED_PRESETS}
    for name in QUICK_PRESETS if ctx.quick else FULL_PRESETS:
        figures.update(time_preset(name, ctx.device, REPEATS[name]))
    return figures
