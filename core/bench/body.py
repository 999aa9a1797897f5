"""Benchmark section `body`: cost of the pose warp per frame (exact and grid), grid build time, grid error.

Points are those a render of the default camera feeds to the warp: R*R rays x (48 + 48) samples.
The exact warp is slow on a CPU, so it is timed on an evenly spread subset of the rays and scaled to the
full frame (its cost is linear in the number of points); the subset is the whole frame on CUDA.
"""
from __future__ import annotations

import torch

from core.bench.harness import BenchContext, time_call
from core.body import load_body_model, pose_from_degrees
from core.body.probe_points import render_sample_points
from core.body.warp import ExactWarp, GridWarp

BENCH_POSE_DEG = ((12.0, -20.0, 5.0), (-15.0, 30.0, 10.0))  # neck and head: a clearly posed portrait
SAMPLES_PER_RAY = 96  # 48 coarse + 48 fine, the reference's per-ray budget


def _exact_ms_per_frame(exact: ExactWarp, points: torch.Tensor, ray_stride: int, device) -> float:
    """Milliseconds for the whole frame, timed on every `ray_stride`-th ray and scaled."""
    rays = points.reshape(1, -1, SAMPLES_PER_RAY, 3)[:, ::ray_stride].reshape(1, -1, 3)
    milliseconds = time_call(lambda: exact(rays), device, repeats=1, warmup=0)
    return milliseconds * points.shape[1] / rays.shape[1]


def _grid_error(body, pose, grid: GridWarp, exact: ExactWarp, resolution: int, device) -> tuple[float, float]:
    """Mean and 95th percentile of |grid - exact| (box units) over render samples inside box and shell."""
    points = render_sample_points(resolution, yaw_deg=30.0, device=device)
    distance, _ = exact.nearest(points)
    inside = (distance[0] < exact.thickness) & (points[0].abs() <= grid.box_warp / 2).all(dim=1)
    error = (grid(points) - exact(points))[0, inside].norm(dim=-1)
    return float(error.mean()), float(torch.quantile(error, 0.95))


def run(ctx: BenchContext) -> dict[str, float]:
    device, name = ctx.device, ctx.device_name
    body = load_body_model(device=device)
    pose = pose_from_degrees(*BENCH_POSE_DEG).to(device)
    figures: dict[str, float] = {}
    exact = ExactWarp(body, pose)
    grid = GridWarp(body, pose)
    strides = {64: 1, 128: 1} if device.type == "cuda" else ({64: 16, 128: 64} if ctx.quick else {64: 4, 128: 16})
    for resolution in (64, 128):
        points = render_sample_points(resolution, device=device)
        figures[f"body.warp_exact_ms.{resolution}.{name}"] = _exact_ms_per_frame(
            exact, points, strides[resolution], device)
        figures[f"body.warp_grid_ms.{resolution}.{name}"] = time_call(lambda: grid(points), device, repeats=3)
    other_pose = pose_from_degrees((-8.0, 15.0, 0.0), (10.0, -25.0, 5.0)).to(device)
    figures[f"body.warp_grid_build_ms.{name}"] = time_call(lambda: GridWarp(body, other_pose), device,
                                                           repeats=1 if ctx.quick else 3, warmup=0)
    figures[f"body.warp_speedup.128.{name}"] = (figures[f"body.warp_exact_ms.128.{name}"]
                                                / figures[f"body.warp_grid_ms.128.{name}"])
    mean, p95 = _grid_error(body, pose, grid, exact, 24 if ctx.quick else 64, device)
    figures["body.warp_grid_err_mean"], figures["body.warp_grid_err_p95"] = mean, p95
    return figures
