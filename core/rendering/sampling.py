"""Depths along rays: stratified coarse samples and importance samples from coarse weights (reference-spec.md §1.7)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def stratified_depths(
    batch: int, num_rays: int, ray_start: float, ray_end: float, num_samples: int, deterministic: bool,
    device: torch.device, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Coarse depths [B, M, S, 1]: linspace(start, end, S) plus a jitter u * delta, delta = (end - start) / (S - 1).

    Each sample gets its own u ~ U(0, 1) (also at inference, as in the reference); `deterministic` uses
    u = 1/2, the centre of every stratum, so the render is the jitter's expected sample placement.
    """
    if num_samples < 2:
        raise ValueError(f"depth_resolution must be at least 2, got {num_samples}")
    base = torch.linspace(ray_start, ray_end, num_samples, device=device)
    delta = (ray_end - ray_start) / (num_samples - 1)
    if deterministic:
        depths = (base + 0.5 * delta).expand(batch, num_rays, num_samples)
    else:
        jitter = torch.rand(batch, num_rays, num_samples, device=device, generator=generator)
        depths = base + jitter * delta
    return depths.unsqueeze(-1)


def smooth_weights(weights: torch.Tensor) -> torch.Tensor:
    """Smoothed interval weights [N, K] -> [N, K]: max-pool (k2, s1, pad1), then avg-pool (k2, s1), then + 0.01.

    The max-pool widens each peak by one interval, the average blurs it, and the floor keeps every
    interval reachable so that no region along the ray is starved of samples.
    """
    pooled = F.max_pool1d(weights.unsqueeze(1), kernel_size=2, stride=1, padding=1)
    pooled = F.avg_pool1d(pooled, kernel_size=2, stride=1).squeeze(1)
    return pooled + 0.01


def sample_pdf(
    bin_edges: torch.Tensor, bin_weights: torch.Tensor, num_samples: int, deterministic: bool,
    generator: torch.Generator | None = None, eps: float = 1e-5, endpoints: bool = False,
) -> torch.Tensor:
    """Depths [N, num_samples] drawn by inverse CDF from a piecewise-constant pdf.

    bin_edges: [N, K + 1] sorted edges, bin_weights: [N, K] non-negative weights of the K bins between them.
    Inside a bin the CDF is linear, so samples are linearly interpolated between its edges.
    `deterministic` uses u = (k + 1/2) / num_samples instead of u ~ U(0, 1), or with `endpoints`
    u = k / (num_samples - 1), the reference's evenly spaced u from 0 to 1.
    """
    rows = bin_weights.shape[0]
    pdf = (bin_weights + eps) / (bin_weights + eps).sum(dim=-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, dim=-1)], dim=-1)
    # Rounding can leave the last CDF value a hair below 1; pin it so that every u finds a bin.
    cdf[:, -1] = 1.0
    if deterministic and endpoints:
        u = torch.linspace(0.0, 1.0, num_samples, device=cdf.device, dtype=cdf.dtype).expand(rows, num_samples)
        u = u.contiguous()
    elif deterministic:
        u = (torch.arange(num_samples, device=cdf.device, dtype=cdf.dtype) + 0.5) / num_samples
        u = u.expand(rows, num_samples).contiguous()
    else:
        u = torch.rand(rows, num_samples, device=cdf.device, dtype=cdf.dtype, generator=generator)
    upper = torch.searchsorted(cdf, u, right=True).clamp(1, cdf.shape[-1] - 1)
    lower = upper - 1
    cdf_low, cdf_high = cdf.gather(1, lower), cdf.gather(1, upper)
    edge_low, edge_high = bin_edges.gather(1, lower), bin_edges.gather(1, upper)
    span = cdf_high - cdf_low
    span = torch.where(span < eps, torch.ones_like(span), span)
    return edge_low + (u - cdf_low) / span * (edge_high - edge_low)


def importance_depths(
    coarse_depths: torch.Tensor, coarse_weights: torch.Tensor, num_samples: int, deterministic: bool,
    generator: torch.Generator | None = None, sampler: str = "project",
) -> torch.Tensor:
    """Fine depths [B, M, num_samples, 1] (detached) concentrated where the coarse weights are large.

    coarse_depths: [B, M, S, 1] sorted sample depths; coarse_weights: [B, M, S-1, 1], weight i belonging
    to the interval [d_i, d_(i+1)]. `sampler` "project": the pdf spans all S-1 coarse intervals, each with
    its own smoothed weight, and deterministic u are bin centres. "reference": the authors' EG3D sampler,
    which their released models were trained with: bins between the first S-2 coarse midpoints weighted by
    the interior smoothed weights [1:-1] (an off-by-one that never samples the first and last intervals),
    deterministic u evenly spaced from 0 to 1.
    """
    batch, num_rays, num_coarse, _ = coarse_depths.shape
    with torch.no_grad():
        depths = coarse_depths.reshape(batch * num_rays, num_coarse)
        weights = smooth_weights(coarse_weights.reshape(batch * num_rays, num_coarse - 1))
        if sampler == "reference":
            if num_coarse < 4:
                raise ValueError(f"the reference importance sampler needs at least 4 coarse samples, got {num_coarse}")
            midpoints = 0.5 * (depths[:, :-1] + depths[:, 1:])
            fine = sample_pdf(midpoints[:, :-1], weights[:, 1:-1], num_samples, deterministic, generator,
                              endpoints=True)
        elif sampler == "project":
            fine = sample_pdf(depths, weights, num_samples, deterministic, generator)
        else:
            raise ValueError(f"unknown importance sampler {sampler!r}: use project or reference")
    return fine.reshape(batch, num_rays, num_samples, 1)
