"""Volume rendering of decoded densities and features along rays, with importance sampling (reference-spec.md §1.7)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from core.compiled import map_on_cores
from core.config import RenderingConfig
from core.rendering.sampling import importance_depths, stratified_depths

# decode(points [B, N, 3]) -> (sigma_raw [B, N, 1], features [B, N, C]) at canonical points.
DecodeFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
# point_warp(points [B, N, 3]) -> [B, N, 3]: observation space to canonical space.
PointWarp = Callable[[torch.Tensor], torch.Tensor]
# occupancy(points [B, N, 3] canonical space) -> [B, N] bool: False where a sample may be skipped (empty space).
Occupancy = Callable[[torch.Tensor], torch.Tensor]

class RaysCancelled(Exception):
    """`render_rays` stopped between chunks because its `cancel()` returned True (a newer request waits)."""


CROPPED_SIGMA = -1000.0  # raw density of cropped points: softplus(-1000 + bias) is exactly 0 in float32
MAX_POINTS_PER_DECODE = 1 << 21  # default bound on points per decode call: ~0.5 GB of decoder activations
# On a CPU smaller calls are faster: their temporaries stay in the caches and under glibc's 32 MB mmap threshold
# (a fresh mmap per larger temporary pays page faults on every op); `small` frames 0.78x at 32k against 2M points.
# Renders only: CPU training iterations measured 0.93x (within noise) and keep whole calls.
CPU_POINTS_PER_DECODE = 1 << 15
# Empty-space skipping compacts the samples only when it leaves out more than this share: gathering the kept
# points and scattering their outputs back cost about what decoding 15% of them saves (random `small` and
# `paper-512`: 1.05x and 1.19x the rendering time when compacting at 82-94% kept; README, render figures).
MIN_SKIPPED_SHARE = 0.15
TRANSMITTANCE_EPS = 1e-10  # added to every (1 - alpha) factor, as in the reference, so T never reaches exactly 0


@dataclass
class RaySamples:
    """The merged, sorted samples of each ray, kept for inspection (e.g. a density plot along a clicked ray)."""

    depths: torch.Tensor  # [B, M, S] sample depths along each ray, world units, sorted
    sigma_raw: torch.Tensor  # [B, M, S] raw decoder density at the samples, after the crop
    weights: torch.Tensor  # [B, M, S-1] compositing weight of each interval [depths_i, depths_(i+1)]


@dataclass
class RayRenderResult:
    """What `render_rays` returns for M rays of B images."""

    features: torch.Tensor  # [B, M, C] composited features (no background)
    depth: torch.Tensor  # [B, M, 1] expected depth of the visible surface, world units along the ray
    weights_sum: torch.Tensor  # [B, M, 1] opacity: sum of the weights (1 - it is the background's weight)
    samples: RaySamples | None = None  # per-sample data when asked for with keep_samples=True


@dataclass
class MarchResult:
    """Output of `march` for one set of sorted samples."""

    features: torch.Tensor  # [B, M, C]
    depth: torch.Tensor  # [B, M, 1] unclamped; NaN (no weight at all) already replaced by +inf
    weights_sum: torch.Tensor  # [B, M, 1]
    weights: torch.Tensor  # [B, M, S-1, 1]


def interval_weights(depths: torch.Tensor, sigma_raw: torch.Tensor, density_bias: float) -> torch.Tensor:
    """Compositing weights [B, M, S-1, 1] of the intervals between sorted samples (depths, sigma_raw: [B, M, S, 1]).

    The mip ray marcher: density is averaged at interval midpoints before its activation,
    sigma = softplus(sigma_mid + bias), alpha_i = 1 - exp(-sigma_i delta_i),
    T_i = prod_(k<i) (1 - alpha_k + 1e-10), w_i = alpha_i T_i.
    """
    deltas = depths[:, :, 1:] - depths[:, :, :-1]
    sigma_mid = 0.5 * (sigma_raw[:, :, :-1] + sigma_raw[:, :, 1:])
    alpha = 1.0 - torch.exp(-F.softplus(sigma_mid + density_bias) * deltas)
    transmittance = torch.cumprod(1.0 - alpha + TRANSMITTANCE_EPS, dim=2)
    transmittance = torch.cat([torch.ones_like(transmittance[:, :, :1]), transmittance[:, :, :-1]], dim=2)
    return alpha * transmittance


def sample_weights_of(weights: torch.Tensor) -> torch.Tensor:
    """Per-sample weights s [B, M, S] of interval weights w [B, M, S-1, 1]: sum_j s_j c_j = sum_i w_i (c_i + c_i+1) / 2.

    Compositing midpoint features this way needs no midpoint copy of the features.
    """
    weights = weights[..., 0]
    return 0.5 * (F.pad(weights, (0, 1)) + F.pad(weights, (1, 0)))


def composite(sample_weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """sum_j s_j c_j [B, M, C] of per-sample weights [B, M, S] and features [B, M, S, C], as one batched product."""
    batch, num_rays, num_samples, channels = features.shape
    return torch.bmm(
        sample_weights.reshape(batch * num_rays, 1, num_samples),
        features.reshape(batch * num_rays, num_samples, channels),
    ).reshape(batch, num_rays, channels)


def expected_depth(depths: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(depth [B, M, 1], weights_sum [B, M, 1]): the weighted mean of interval midpoints; +inf where no weight at all.

    The reference's 0/0 = NaN -> inf, written with a safe denominator so that backward gives no NaN either.
    """
    depth_mid = 0.5 * (depths[:, :, :-1] + depths[:, :, 1:])
    weights_sum = weights.sum(dim=2)
    seen = weights_sum > 0
    depth = (weights * depth_mid).sum(dim=2) / torch.where(seen, weights_sum, torch.ones_like(weights_sum))
    return torch.where(seen, depth, torch.full_like(depth, float("inf"))), weights_sum


def march(
    depths: torch.Tensor, sigma_raw: torch.Tensor, features: torch.Tensor, density_bias: float,
) -> MarchResult:
    """Composite sorted samples (depths, sigma_raw: [B, M, S, 1], features: [B, M, S, C]); see `interval_weights`."""
    weights = interval_weights(depths, sigma_raw, density_bias)
    depth, weights_sum = expected_depth(depths, weights)
    return MarchResult(composite(sample_weights_of(weights), features), depth, weights_sum, weights)


def _decode_along_rays(
    decode: DecodeFn, origins: torch.Tensor, directions: torch.Tensor, depths: torch.Tensor,
    options: RenderingConfig, point_warp: PointWarp | None, occupancy: Occupancy | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw density [B, M, S, 1] and features [B, M, S, C] at origins + depths * directions (observation space).

    With `occupancy` (a batch of one), the canonical points in empty cells are not decoded: they get the
    cropped density and zero features."""
    batch, num_rays, num_samples, _ = depths.shape
    points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(batch, num_rays * num_samples, 3)
    if point_warp is not None:
        points = point_warp(points)
    keep = occupancy(points)[0] if occupancy is not None and batch == 1 else None
    if keep is not None and float(keep.float().mean()) > 1 - MIN_SKIPPED_SHARE:
        keep = None  # decode them all: the same image as full sampling, without the compaction's cost
    kept = points if keep is None else points[:, keep]
    if kept.shape[1] == 0:
        kept = points[:, :1]  # one point tells the feature width; its values are not used
    sigma_kept, features_kept = decode(kept)
    # The crop is decided in canonical space: the box's side walls in x and z, never its floor or ceiling.
    limit = options.box_warp / 2 - options.triplane_crop
    outside = (kept[..., 0].abs() > limit) | (kept[..., 2].abs() > limit)
    sigma_kept = sigma_kept.masked_fill(outside.unsqueeze(-1), CROPPED_SIGMA)
    if keep is None:
        shape = (batch, num_rays, num_samples)
        return sigma_kept.reshape(*shape, 1), features_kept.reshape(*shape, -1)
    sigma_raw = sigma_kept.new_full((batch, points.shape[1], 1), CROPPED_SIGMA)
    features = features_kept.new_zeros((batch, points.shape[1], features_kept.shape[-1]))
    if bool(keep.any()):
        sigma_raw[:, keep], features[:, keep] = sigma_kept, features_kept
    return sigma_raw.reshape(batch, num_rays, num_samples, 1), features.reshape(batch, num_rays, num_samples, -1)


def _render_chunk(
    decode: DecodeFn, origins: torch.Tensor, directions: torch.Tensor, options: RenderingConfig,
    point_warp: PointWarp | None, generator: torch.Generator | None, keep_samples: bool,
    occupancy: Occupancy | None = None,
) -> tuple[MarchResult, torch.Tensor, RaySamples | None]:
    """Coarse pass, importance pass and final march of rays [B, M, 3]; also returns the merged depths [B, M, S, 1]."""
    batch, num_rays, _ = origins.shape
    coarse_depths = stratified_depths(
        batch, num_rays, options.ray_start, options.ray_end, options.depth_resolution, options.deterministic,
        origins.device, generator,
    )
    coarse_sigma, coarse_features = _decode_along_rays(decode, origins, directions, coarse_depths, options, point_warp,
                                                       occupancy)
    if options.depth_resolution_importance <= 0:
        result = march(coarse_depths, coarse_sigma, coarse_features, options.density_bias)
        depths, sigma_raw = coarse_depths, coarse_sigma
    else:
        coarse_weights = interval_weights(coarse_depths, coarse_sigma, options.density_bias)
        fine_depths = importance_depths(
            coarse_depths, coarse_weights, options.depth_resolution_importance, options.deterministic, generator,
            options.importance_sampler,
        )
        fine_sigma, fine_features = _decode_along_rays(decode, origins, directions, fine_depths, options, point_warp,
                                                   occupancy)
        # Sorting along the contiguous last axis is about 20% faster on CPU than along the sample axis of [.., S, 1].
        depths, order = torch.sort(torch.cat([coarse_depths, fine_depths], dim=2)[..., 0], dim=2)
        depths, order = depths.unsqueeze(-1), order.unsqueeze(-1)
        sigma_raw = torch.cat([coarse_sigma, fine_sigma], dim=2).gather(2, order)
        weights = interval_weights(depths, sigma_raw, options.density_bias)
        depth, weights_sum = expected_depth(depths, weights)
        # Scatter the sorted per-sample weights back to decode order instead of sorting the wide feature tensors.
        per_sample = sample_weights_of(weights)  # its dtype, which autocast may have changed
        sample_weights = torch.empty_like(per_sample).scatter_(2, order[..., 0], per_sample)
        num_coarse = coarse_depths.shape[2]
        features = composite(sample_weights[:, :, :num_coarse], coarse_features)
        features = features + composite(sample_weights[:, :, num_coarse:], fine_features)
        result = MarchResult(features, depth, weights_sum, weights)
    samples = None
    if keep_samples:
        samples = RaySamples(depths[..., 0].detach(), sigma_raw[..., 0].detach(), result.weights[..., 0].detach())
    return result, depths, samples


def render_rays(
    decode: DecodeFn,
    origins: torch.Tensor,
    directions: torch.Tensor,
    options: RenderingConfig,
    point_warp: PointWarp | None = None,
    generator: torch.Generator | None = None,
    *,
    keep_samples: bool = False,
    max_rays_per_chunk: int | None = None,
    occupancy: Occupancy | None = None,
    cancel: Callable[[], bool] | None = None,
) -> RayRenderResult:
    """Render rays (origins, directions: [B, M, 3]) through the field `decode` (see DecodeFn).

    Sample points are warped to canonical space by `point_warp` (None = identity), cropped to
    |x|, |z| <= box_warp/2 - triplane_crop, decoded, composited, importance-sampled and composited again
    over the merged sorted samples. Random draws use `generator`. `max_rays_per_chunk` bounds memory by
    rendering rays in groups (None: at most MAX_POINTS_PER_DECODE points per decode call, CPU_POINTS_PER_DECODE on
    a CPU without gradients); deterministic renders do not depend on it, random ones draw in a different order.
    The depth is clamped to the range of all sample depths of the call; rays that see nothing get its far end.
    `occupancy` (core.rendering.occupancy, a batch of one) skips decoding the (warped) samples it calls empty;
    `cancel()` is asked before every chunk and True raises RaysCancelled.
    """
    if origins.shape != directions.shape or origins.ndim != 3 or origins.shape[-1] != 3:
        raise ValueError(f"origins and directions must both be [B, M, 3], got {list(origins.shape)} "
                         f"and {list(directions.shape)}")
    num_rays = origins.shape[1]
    if num_rays == 0:
        raise ValueError("render_rays got no rays (M = 0); render at least one pixel")
    if max_rays_per_chunk is None:
        per_ray = origins.shape[0] * max(options.depth_resolution, options.depth_resolution_importance, 1)
        # Training (gradients) keeps whole calls: its backward was not measured faster in small ones.
        small_calls = origins.device.type == "cpu" and not torch.is_grad_enabled()
        points = CPU_POINTS_PER_DECODE if small_calls else MAX_POINTS_PER_DECODE
        max_rays_per_chunk = max(1, points // per_ray)
    chunk = max(1, max_rays_per_chunk)

    def render_part(start: int) -> tuple[MarchResult, torch.Tensor, RaySamples | None]:
        return _render_chunk(decode, origins[:, start:start + chunk], directions[:, start:start + chunk], options,
                             point_warp, generator, keep_samples, occupancy)

    def check(start: int) -> None:
        if cancel is not None and cancel():
            raise RaysCancelled(f"cancelled after {start} of {num_rays} rays")

    # Chunks without random draws (whose order would change) nor gradients run side by side on a CPU's cores.
    side_by_side = origins.device.type == "cpu" and not torch.is_grad_enabled() and options.deterministic
    outputs = map_on_cores(render_part, range(0, num_rays, chunk), torch.get_num_threads() if side_by_side else 1,
                           check)
    parts, all_depths, sample_parts = zip(*outputs)
    depth_low = min(depths.min().item() for depths in all_depths)
    depth_high = max(depths.max().item() for depths in all_depths)

    def joined(items: list, name: str) -> torch.Tensor:  # chunks back together along the ray axis
        tensors = [getattr(item, name) for item in items]
        return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=1)

    samples = None
    if keep_samples:
        samples = RaySamples(*(joined(sample_parts, name) for name in ("depths", "sigma_raw", "weights")))
    depth = joined(parts, "depth").clamp(depth_low, depth_high)
    return RayRenderResult(joined(parts, "features"), depth, joined(parts, "weights_sum"), samples)
