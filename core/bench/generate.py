"""Benchmark section `generate`: frames per second of a turntable video, rendering and encoding included.

Figures (contract names): `generate.video_fps.<preset>.<device>`, frames per second of
`render_path_frames` on a turntable at the preset's full quality (deterministic, one seed) with every
frame appended to an MP4 writer, plus `generate.video_frame_ms.<preset>.<device>`, its inverse in
milliseconds. Quick mode films a handful of frames of tiny; full mode also small and paper-256.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from core.bench.harness import BenchContext, synchronize
from core.config import preset
from core.generate import VideoWriter, render_path_frames
from core.generator import TriGridGenerator
from core.paths import preset_path

QUICK = {"tiny": 8}  # preset -> frames filmed (a handful: the whole section well under 30 s on 2 cores)
FULL = {"tiny": 30, "small": 12, "paper-256": 6}
BENCH_FPS = 30.0  # video frame rate; it sets how far the camera turns between frames, not the speed


def film(name: str, frames: int, device: torch.device) -> float:
    """Seconds to render and encode `frames` turntable frames of a random `name` model on `device`."""
    torch.manual_seed(0)
    generator = TriGridGenerator(preset(name)).to(device).eval().requires_grad_(False)
    path = preset_path("turntable", frames / BENCH_FPS)
    # One untimed frame first: allocator and kernel warm-up are not what a video costs per frame.
    render_path_frames(generator, preset_path("turntable", 1.0 / BENCH_FPS), BENCH_FPS, seeds=(0,))
    with tempfile.TemporaryDirectory() as folder, VideoWriter(Path(folder) / "bench.mp4", BENCH_FPS) as writer:
        synchronize(device)
        start = time.perf_counter()
        render_path_frames(generator, path, BENCH_FPS, seeds=(0,), frame_sink=writer.append)
        synchronize(device)
        return time.perf_counter() - start


def run(ctx: BenchContext) -> dict[str, float]:
    """The section's figures; see the module docstring for the names."""
    figures: dict[str, float] = {}
    for name, frames in (QUICK if ctx.quick else FULL).items():
        seconds = film(name, frames, ctx.device)
        suffix = f"{name}.{ctx.device_name}"
        figures[f"generate.video_fps.{suffix}"] = frames / seconds
        figures[f"generate.video_frame_ms.{suffix}"] = seconds / frames * 1e3
    return figures
