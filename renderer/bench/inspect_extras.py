"""Cost of the render worker's inspect extras and mesh jobs, on the shipped default model (or the preset of its size).

Figures (names are contracts):
- `inspect.planes_ms.<device>`: a render whose only change is asking for the "planes" extra (PCA pictures of
  every plane and depth slice; the per-model basis already fitted), shown image reused.
- `inspect.density_slice_256_ms.<device>`: a 256^2 canonical raw-sigma slice at a new offset, no body overlay.
- `inspect.density_slice_posed_256_ms.<device>`: the same in posed space (each point warped first).
- `inspect.slice_body_overlay_256_ms.<device>`: the body cross-section and thickness shell of a new 256^2 slice.
- `inspect.ray_profile_ms.<device>`: the profile of one pixel's ray.
- `inspect.mesh_job_128_ms.<device>`, `inspect.mesh_job_256_ms.<device>`: a canonical mesh job with vertex
  colours and no files, from start_job to its final status (inline client; 256 is left out with --quick).
- `inspect.mesh_cancel_latency_ms.<device>`: from cancel_job to the "cancelled" status of a running 256^3 job.
- `inspect.model_is_default`: 1 when checkpoints/default.pt was used, 0 for "preset:small".
"""
from __future__ import annotations

import itertools
import statistics
import time

import numpy as np

from core.bench.harness import BenchContext
from core.mesh import DEFAULT_LEVEL
from core.shipped import DEFAULT_CHECKPOINT
from renderer.engine import Renderer
from renderer.jobs import MeshJob
from renderer.requests import InspectOptions, RenderRequest
from renderer.worker import RenderClient

POSE = (15.0, 0.0, 0.0, 0.0, 25.0, 0.0)  # a neck nod and a head turn for the posed slice
JOB_TIMEOUT_S = 600.0


def run(ctx: BenchContext) -> dict[str, float]:
    uses_default = DEFAULT_CHECKPOINT.is_file()
    checkpoint = str(DEFAULT_CHECKPOINT) if uses_default else "preset:small"
    repeats = 3 if ctx.quick else 7
    base = RenderRequest(checkpoint=checkpoint, device=str(ctx.device), deterministic=True,
                         inspect=InspectOptions(slice_resolution=256, slice_body=False))
    renderer = Renderer(str(ctx.device))
    shown = renderer.render(base)
    if shown.error:
        raise RuntimeError(f"render failed: {shown.error}")
    # The profiled ray goes through the middle of the shown image, whatever the model's output size.
    centre = (shown.image.shape[0] // 2, shown.image.shape[1] // 2)
    base = base.replace(inspect=base.inspect.replace(ray_pixel=centre))
    offsets = (0.01 * step for step in itertools.count(1))  # every slice is new: no cache can answer it
    suffix = ctx.device_name
    figures = {
        f"inspect.planes_ms.{suffix}": _extra_ms(renderer, base, ("planes",), repeats, lambda o: o),
        f"inspect.density_slice_256_ms.{suffix}": _extra_ms(
            renderer, base, ("density_slice",), repeats, lambda o: o.replace(slice_offset=next(offsets))),
        f"inspect.density_slice_posed_256_ms.{suffix}": _extra_ms(
            renderer, base.replace(pose_deg=POSE), ("density_slice",), repeats,
            lambda o: o.replace(slice_space="posed", slice_offset=next(offsets))),
        f"inspect.ray_profile_ms.{suffix}": _extra_ms(renderer, base, ("ray_profile",), repeats, lambda o: o),
    }
    with_body = base.replace(inspect=base.inspect.replace(slice_body=True))
    slice_only = figures[f"inspect.density_slice_256_ms.{suffix}"]
    figures[f"inspect.slice_body_overlay_256_ms.{suffix}"] = max(0.0, _extra_ms(
        renderer, with_body, ("density_slice",), repeats, lambda o: o.replace(slice_offset=next(offsets))) - slice_only)
    level = DEFAULT_LEVEL if uses_default else _untrained_level(renderer, base)
    with RenderClient("inline", device=str(ctx.device)) as client:
        for resolution in (128,) if ctx.quick else (128, 256):
            start = time.perf_counter()
            job = MeshJob(base, resolution=resolution, level=level, formats=())
            status = client.wait_job(client.start_job(job), JOB_TIMEOUT_S)
            if status is None or status.state != "done":
                raise RuntimeError(f"mesh job {resolution}^3 ended as {status}")
            figures[f"inspect.mesh_job_{resolution}_ms.{suffix}"] = (time.perf_counter() - start) * 1e3
        figures[f"inspect.mesh_cancel_latency_ms.{suffix}"] = _cancel_latency_ms(client, base)
    figures["inspect.model_is_default"] = 1.0 if uses_default else 0.0
    return figures


def _extra_ms(renderer: Renderer, request: RenderRequest, extras: tuple[str, ...], repeats: int, vary) -> float:
    """Median extra milliseconds of a render asking for `extras` over the same render reusing its shown image."""
    plain = renderer.render(request)  # warm: model, ws, tri-grid, warp and the shown image are cached
    if plain.error:
        raise RuntimeError(f"render failed: {plain.error}")
    renderer.render(request.replace(extras=extras))  # one-off costs (PCA basis, warp) stay out of the figure
    samples = []
    for _ in range(repeats):
        varied = request.replace(extras=extras, inspect=vary(request.inspect))
        start = time.perf_counter()
        result = renderer.render(varied)
        elapsed = (time.perf_counter() - start) * 1e3
        if result.error or "errors" in result.extras:
            raise RuntimeError(f"extras {extras} failed: {result.error or result.extras['errors']}")
        start = time.perf_counter()
        renderer.render(varied.replace(extras=()))  # without the extras: the bookkeeping of a cached frame
        samples.append(elapsed - (time.perf_counter() - start) * 1e3)
    return max(0.0, statistics.median(samples))


def _untrained_level(renderer: Renderer, request: RenderRequest) -> float:
    """A level that cuts an untrained model's field: the median raw sigma of its central slice."""
    result = renderer.render(request.replace(extras=("density_slice",)))
    return float(np.median(result.extras["density_slice"].values))


def _cancel_latency_ms(client: RenderClient, request: RenderRequest) -> float:
    job_id = client.start_job(MeshJob(request, resolution=256, level=0.0, formats=(), colors=False))
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while client.job_progress(job_id).fraction <= 0.0 and time.monotonic() < deadline:
        time.sleep(0.001)
    start = time.perf_counter()
    client.cancel_job(job_id)
    status = client.wait_job(job_id, JOB_TIMEOUT_S, interval_s=0.001)
    if status is None or status.state != "cancelled":
        raise RuntimeError(f"the cancelled mesh job ended as {status}")
    return (time.perf_counter() - start) * 1e3
