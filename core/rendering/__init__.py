"""Rays, tri-grid sampling, importance sampling and volume rendering (reference-spec.md §1.4, §1.6, §1.7)."""
from core.rendering.rays import generate_rays
from core.rendering.trigrid import mean_trigrid_features, sample_trigrid
from core.rendering.volume import RayRenderResult, RaySamples, march, render_rays

__all__ = [
    "generate_rays", "sample_trigrid", "mean_trigrid_features", "RayRenderResult", "RaySamples", "march", "render_rays",
]
