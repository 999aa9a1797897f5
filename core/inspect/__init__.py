"""Seeing inside the model: tri-grid pictures, density slices with body overlays, and ray profiles.

Pure functions of (generator, planes/ws, options) that return numpy arrays and dataclasses, for the
render worker and the GUI panels (see docs/inspect.md for the pixel and axis conventions).
Names are resolved lazily, so the GUI can import the numpy-only `core.inspect.colormaps` without torch.
"""
import importlib

_HOMES = {
    "colormaps": ("COLORMAPS", "apply_colormap", "colorbar"),
    "rays": ("RayProfile", "ray_profile"),
    "slices": (
        "QUANTITIES", "SLICE_FRAMES", "DensitySlice", "SliceOptions", "body_cross_section", "density_slice",
        "mask_outline", "slice_pixel_to_world", "thickness_shell", "world_to_slice_pixel",
    ),
    "trigrid": (
        "PLANE_NAMES", "PcaBasis", "PlaneStats", "TrigridPreview", "fit_pca_basis", "plane_pixel_to_world",
        "plane_statistics", "trigrid_preview", "world_to_plane_pixel",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module 'core.inspect' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"core.inspect.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value
