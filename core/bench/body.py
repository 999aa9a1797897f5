"""Benchmark section `body`: cost of the pose warp per frame (exact, grid, fast), build times, errors.

Fast-warp figures (contract names): `body.warp_fast_setup_ms.<device>` (a new pose, the body's canonical fields
already built), `body.warp_fast_ms.{64,128}.<device>`, `body.warp_fast_fields_ms.<device>` (once per body;
`body.warp_fast_fields_read_ms.<device>`: read back from the user's cache by a later process),
`body.warp_fast_err_mean` and `body.warp_fast_err_p95` (box units, against ExactWarp, samples inside the box
and the shell), and `body.warp_fast_err_mean.large_pose` (neck 20/40/-10, head 25/-40/15 degrees).

Points are those a render of the default camera feeds to the warp: R*R rays x (48 + 48) samples.
The exact warp is slow on a CPU, so it is timed on an evenly spread subset of the rays and scaled to the
full frame (its cost is linear in the number of points); the subset is the whole frame on CUDA.
"""
from __future__ import annotations

import torch

from core.bench.harness import BenchContext, time_call
from core.body import field_store, load_body_model, pose_from_degrees
from core.body.probe_points import render_sample_points
from core.body.fast_warp import CanonicalFields, FastWarp, stored_fields_key
from core.body.warp import ExactWarp, GridWarp

BENCH_POSE_DEG = ((12.0, -20.0, 5.0), (-15.0, 30.0, 10.0))  # neck and head: a clearly posed portrait
LARGE_POSE_DEG = ((20.0, 40.0, -10.0), (25.0, -40.0, 15.0))  # beyond the synthetic data's spread
SAMPLES_PER_RAY = 96  # 48 coarse + 48 fine, the reference's per-ray budget


def _exact_ms_per_frame(exact: ExactWarp, points: torch.Tensor, ray_stride: int, device) -> float:
    """Milliseconds for the whole frame, timed on every `ray_stride`-th ray and scaled."""
    rays = points.reshape(1, -1, SAMPLES_PER_RAY, 3)[:, ::ray_stride].reshape(1, -1, 3)
    milliseconds = time_call(lambda: exact(rays), device, repeats=1, warmup=0)
    return milliseconds * points.shape[1] / rays.shape[1]


def _grid_error(body, pose, grid, exact: ExactWarp, resolution: int, device) -> tuple[float, float]:
    """Mean and 95th percentile of |warp - exact| (box units) over render samples inside box and shell."""
    points = render_sample_points(resolution, yaw_deg=30.0, device=device)
    distance, _ = exact.nearest(points)
    inside = (distance[0] < exact.thickness) & (points[0].abs() <= 0.5).all(dim=1)
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
    figures.update(_fast_figures(ctx, body, pose, exact, other_pose))
    return figures


def _fast_figures(ctx: BenchContext, body, pose, exact: ExactWarp, other_pose) -> dict[str, float]:
    device, name = ctx.device, ctx.device_name
    figures = {f"body.warp_fast_fields_ms.{name}": time_call(lambda: CanonicalFields(body), device, repeats=1,
                                                             warmup=0)}
    fields = CanonicalFields.for_body(body)
    key = stored_fields_key(body, fields.thickness, fields.box_warp, fields.resolution)  # the file the warp reads
    shapes = CanonicalFields.stored_shapes(fields.resolution)
    if field_store.load_stored(key, shapes, device) is None:  # a cache that could not be written keeps none
        field_store.save_stored(key, fields)
    figures[f"body.warp_fast_fields_read_ms.{name}"] = time_call(
        lambda: field_store.load_stored(key, shapes, device), device, repeats=3)
    figures[f"body.warp_fast_setup_ms.{name}"] = time_call(lambda: FastWarp(body, other_pose, fields=fields), device,
                                                           repeats=5)
    fast = FastWarp(body, pose, fields=fields)
    for resolution in (64, 128):
        points = render_sample_points(resolution, device=device)
        figures[f"body.warp_fast_ms.{resolution}.{name}"] = time_call(lambda: fast(points), device, repeats=3)
    resolution = 24 if ctx.quick else 64
    figures["body.warp_fast_err_mean"], figures["body.warp_fast_err_p95"] = _grid_error(
        body, pose, fast, exact, resolution, device)
    large = pose_from_degrees(*LARGE_POSE_DEG).to(device)
    figures["body.warp_fast_err_mean.large_pose"], _ = _grid_error(
        body, large, FastWarp(body, large, fields=fields), ExactWarp(body, large), resolution, device)
    return figures
