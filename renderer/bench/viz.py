"""Visualizer responsiveness: how long a slider move takes to come back as pixels through the real worker.

Figures (names are contracts):
- `viz.preview_latency_ms.<device>`: submit of a changed request (new yaw, preview mode) until its result
  arrives through the process-mode RenderClient, median over several moves.
- `viz.full_render_ms.<device>`: the same for a full-quality request (the frame shown when the input rests).
- `viz.pose_change_ms.<device>`: a full-quality request with a new neck/head pose and camera, as the viewer sends
  it by default (the mapping keeps the rest-pose condition, so the latent's tri-grid is reused and the default
  warp's per-pose setup is the extra cost); measured interleaved with the camera moves of `full_render_ms`,
  so `viz.pose_change_ratio.<device>` (pose change / camera change) compares the two under the same load.
  `viz.pose_change_linked_ms.<device>` and `viz.pose_change_linked_ratio.<device>`: the same with the mapping
  conditioned on the new pose (Pose panel "Condition on the rendered pose": new ws and tri-grid per pose).
- `viz.preview_latency_model_is_default`: 1 when checkpoints/default.pt was used, 0 for "preset:tiny".
- `viz.worker_first_frame_ms.<device>`: from starting the worker to its first frame (spawn, torch import,
  model load, mapping and tri-grid included): what a user waits for after opening the visualizer.
  `viz.warmup_s.<device>`: seconds after that until the worker's warm-up thread is done (below); moves are timed
  after it.
- `viz.full_render_ms.<preset>.<device>` and `viz.preview_ms.<preset>.<device>`: camera moves at full quality
  and as previews of a randomly initialised preset (the cost of a trained one): `small` always, `paper-512`
  in full mode (`viz.first_full_ms.paper-512.<device>`: its first full frame of a new latent).
  Timed moves start once the worker's warm-up thread is done (it loads the compiled CPU loops after the first frame
  and slows the frames beside it): `viz.warmup_s.<preset>.<device>` is how long that took after the first new
  latent's frame, the camera moving (full quality) meanwhile; `viz.warmup_full_ms.<preset>.<device>` the median of
  those moves (the first second of dragging after the model opened).
"""
from __future__ import annotations

import statistics
import time

from core.bench.harness import BenchContext
from core.names import REST_POSE
from core.shipped import DEFAULT_CHECKPOINT
from renderer.requests import RenderRequest
from renderer.worker import RenderClient

# The first request loads the model in a freshly spawned process (torch import included).
STARTUP_TIMEOUT_S = 300.0
RENDER_TIMEOUT_S = 120.0
WARMUP_TIMEOUT_S = 120.0  # a warm-up still running after this is measured beside the moves


def run(ctx: BenchContext) -> dict[str, float]:
    uses_default = DEFAULT_CHECKPOINT.is_file()
    checkpoint = str(DEFAULT_CHECKPOINT) if uses_default else "preset:tiny"
    moves = 4 if ctx.quick else 10
    base = RenderRequest(checkpoint=checkpoint, device=str(ctx.device), deterministic=True, cond_pose_deg=REST_POSE)
    start = time.perf_counter()
    with RenderClient("process", device=str(ctx.device)) as client:
        # Warm up: spawn, model load, mapping and tri-grid happen here, not in the timed slider moves.
        _round_trip(client, base, STARTUP_TIMEOUT_S)
        first_frame = (time.perf_counter() - start) * 1e3
        warmup_s = _moves_until_warm(client, base)[0]
        _round_trip(client, base.replace(preview=True, yaw_deg=1.0), RENDER_TIMEOUT_S)
        preview = [_round_trip(client, base.replace(preview=True, yaw_deg=2.0 + 3.0 * step), RENDER_TIMEOUT_S)
                   for step in range(moves)]
        # The first posed request builds the body's canonical warp fields (once per worker): not timed.
        _round_trip(client, base.replace(pose_deg=(5.0, 0.0, 0.0, 0.0, 0.0, 0.0)), STARTUP_TIMEOUT_S)
        full, posed, linked = [], [], []
        for step in range(max(3, moves // 2)):
            full.append(_round_trip(client, base.replace(yaw_deg=-2.0 - 3.0 * step), RENDER_TIMEOUT_S))
            pose = (4.0 + 2.0 * step, -10.0 + 3.0 * step, 0.0, -5.0, 8.0 + 2.0 * step, 0.0)
            posed.append(_round_trip(client, base.replace(yaw_deg=-2.0 - 3.0 * step, pose_deg=pose),
                                     RENDER_TIMEOUT_S))
            linked_pose = pose[:5] + (1.0,)  # a pose (and so a condition) not seen before: new ws and tri-grid
            linked.append(_round_trip(client, base.replace(yaw_deg=-1.0 - 3.0 * step, pose_deg=linked_pose,
                                                           cond_pose_deg=linked_pose), RENDER_TIMEOUT_S))
    suffix = ctx.device_name
    presets = {}
    for name in ("small",) if ctx.quick else ("small", "paper-512"):
        presets.update(preset_figures(ctx, name, moves=3 if ctx.quick or name == "paper-512" else 6))
    return presets | {
        f"viz.preview_latency_ms.{suffix}": statistics.median(preview),
        f"viz.full_render_ms.{suffix}": statistics.median(full),
        f"viz.pose_change_ms.{suffix}": statistics.median(posed),
        f"viz.pose_change_ratio.{suffix}": statistics.median(p / f for p, f in zip(posed, full)),
        f"viz.pose_change_linked_ms.{suffix}": statistics.median(linked),
        f"viz.pose_change_linked_ratio.{suffix}": statistics.median(p / f for p, f in zip(linked, full)),
        "viz.preview_latency_model_is_default": 1.0 if uses_default else 0.0,
        f"viz.worker_first_frame_ms.{suffix}": first_frame,
        f"viz.warmup_s.{suffix}": warmup_s,
    }


def preset_figures(ctx: BenchContext, name: str, moves: int) -> dict[str, float]:
    """Camera moves (full quality and previews) of `preset:<name>` through a fresh process-mode worker."""
    base = RenderRequest(checkpoint=f"preset:{name}", device=str(ctx.device), deterministic=True)
    suffix = ctx.device_name
    with RenderClient("process", device=str(ctx.device)) as client:
        first = _round_trip(client, base, STARTUP_TIMEOUT_S)  # model build and the first tri-grid
        first_full = _round_trip(client, base.replace(seeds=((1, 1.0),)), STARTUP_TIMEOUT_S)  # a new latent
        warmup_s, warmup_moves = _moves_until_warm(client, base.replace(seeds=((1, 1.0),)))
        full = [_round_trip(client, base.replace(seeds=((1, 1.0),), yaw_deg=3.0 * (step + 1)), RENDER_TIMEOUT_S)
                for step in range(moves)]
        preview = [_round_trip(client, base.replace(seeds=((1, 1.0),), yaw_deg=-3.0 * (step + 1), preview=True),
                               RENDER_TIMEOUT_S) for step in range(moves)]
    del first
    figures = {f"viz.full_render_ms.{name}.{suffix}": statistics.median(full),
               f"viz.preview_ms.{name}.{suffix}": statistics.median(preview),
               f"viz.warmup_s.{name}.{suffix}": warmup_s,
               f"viz.warmup_full_ms.{name}.{suffix}": statistics.median(warmup_moves)}
    if name == "paper-512":
        figures[f"viz.first_full_ms.{name}.{suffix}"] = first_full
    return figures


def _moves_until_warm(client: RenderClient, request: RenderRequest) -> tuple[float, list[float]]:
    """Camera moves of `request` until a frame comes back from a warmed-up worker: (seconds that took, the
    milliseconds of each move; at least one)."""
    start = time.perf_counter()
    moves: list[float] = []
    while True:
        elapsed, warming_up = _timed_result(client, request.replace(yaw_deg=0.5 * (len(moves) + 1)), RENDER_TIMEOUT_S)
        moves.append(elapsed)
        if not warming_up or time.perf_counter() - start > WARMUP_TIMEOUT_S:
            return time.perf_counter() - start, moves


def _round_trip(client: RenderClient, request: RenderRequest, timeout_s: float) -> float:
    """Milliseconds from submit to the arrival of the request's result; a render error fails the section."""
    return _timed_result(client, request, timeout_s)[0]


def _timed_result(client: RenderClient, request: RenderRequest, timeout_s: float) -> tuple[float, bool]:
    """(milliseconds from submit to the arrival of the request's result, whether the worker was still warming
    up); a render error fails the section."""
    start = time.perf_counter()
    client.submit(request)
    result = client.wait(timeout_s, interval_s=0.0005)
    elapsed = (time.perf_counter() - start) * 1e3
    if result is None:
        raise RuntimeError(f"no render result within {timeout_s:.0f} s for {request.checkpoint}")
    if result.error:
        raise RuntimeError(f"render failed: {result.error}")
    return elapsed, result.warming_up
