"""Seeing inside the model: tri-grid pictures, density slices with body overlays, and ray profiles.

Pure functions of (generator, planes/ws, options) that return numpy arrays and dataclasses, for the
render worker and the GUI panels (see docs/inspect.md for the pixel and axis conventions).
"""
from core.inspect.colormaps import COLORMAPS, apply_colormap, colorbar
from core.inspect.rays import RayProfile, ray_profile
from core.inspect.slices import (
    QUANTITIES, SLICE_FRAMES, DensitySlice, SliceOptions, body_cross_section, density_slice, mask_outline,
    slice_pixel_to_world, thickness_shell, world_to_slice_pixel,
)
from core.inspect.trigrid import (
    PLANE_NAMES, PcaBasis, PlaneStats, TrigridPreview, fit_pca_basis, plane_pixel_to_world, plane_statistics,
    trigrid_preview, world_to_plane_pixel,
)

__all__ = [
    "COLORMAPS", "DensitySlice", "PLANE_NAMES", "PcaBasis", "PlaneStats", "QUANTITIES", "RayProfile", "SLICE_FRAMES",
    "SliceOptions", "TrigridPreview", "apply_colormap", "body_cross_section", "colorbar", "density_slice",
    "fit_pca_basis", "mask_outline", "plane_pixel_to_world", "plane_statistics", "ray_profile", "slice_pixel_to_world",
    "thickness_shell", "trigrid_preview", "world_to_plane_pixel",
]
