"""The inspect extras of a render: tri-grid pictures, a density slice with body overlays, one pixel's ray profile.

Each product is a typed value of plain numbers and numpy arrays (renderer/products.py, no torch), so it
crosses the process boundary and the GUI draws it without importing torch. They are made from the same cached
ws, tri-grid and warp as the main render (`Renderer.scene`), so asking for one never maps or synthesises
again. The pictures and pixel conventions are core.inspect's (docs/inspect.md).
"""
from __future__ import annotations

import dataclasses
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from core.inspect import (PLANE_NAMES, SliceOptions, body_cross_section, density_slice, fit_pca_basis, mask_outline,
                          ray_profile, thickness_shell, trigrid_preview)
from core.scene import SceneSpec, pose_radians

from renderer.errors import RenderError, describe_error
from renderer.products import (
    DENSITY_SLICE, PLANES, RAY_PROFILE, DensitySliceProduct, PlaneStatistics, PlanesProduct, RayProfileProduct,
)
from renderer.requests import InspectOptions, RenderRequest

INSPECT_PRODUCTS = (PLANES, DENSITY_SLICE, RAY_PROFILE)
# The thickness shell is measured on at most this many pixels per side and scaled up: its exact point-to-body
# distances cost about 6 s at 256^2 on 2 CPU cores (2 s at 128^2), and the render loop waits for them.
SHELL_MAX_RESOLUTION = 128


def inspect_products(renderer, scene, request: RenderRequest, shown_size: tuple[int, int]) -> dict[str, Any]:
    """The inspect products named in `request.extras`; one that fails is described under "errors" by name."""

    options = request.inspect or InspectOptions()
    builders = {PLANES: planes_product, DENSITY_SLICE: density_slice_product, RAY_PROFILE: ray_profile_product}
    products: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in INSPECT_PRODUCTS:
        if name not in request.extras:
            continue
        try:
            products[name] = builders[name](renderer, scene, request, options, shown_size)
        except Exception as error:  # noqa: BLE001 - an extra's failure must not cost the user the render
            errors[name] = describe_error(error)
    if errors:
        products["errors"] = errors
    return products


def planes_product(renderer, scene, request: RenderRequest, options: InspectOptions,
                   shown_size: tuple[int, int]) -> PlanesProduct:
    """Pictures of every plane and depth slice: images uint8 [3, D, H, W, 3] plus per-plane statistics."""
    config = scene.generator.config
    basis = None
    if options.plane_mode == "pca":
        # One basis per model (fitted on the average latent's tri-grid): colours mean the same for every seed.
        basis = renderer.inspect_cache.get_or_create(
            ("pca", scene.model.key, request.noise_mode), lambda: average_pca_basis(scene, request.noise_mode))
    preview = trigrid_preview(scene.planes, config.triplane_depth, options.plane_mode, basis,
                              options.plane_channel, options.plane_colormap)
    return PlanesProduct(
        images=preview.images, mode=options.plane_mode, plane_names=tuple(PLANE_NAMES),
        statistics=tuple(PlaneStatistics(**asdict(stats)) for stats in preview.statistics),
        value_ranges=preview.value_ranges, channel=options.plane_channel,
        channels=int(config.triplane_channels), depth=int(config.triplane_depth),
        box_warp=float(config.rendering.box_warp), basis_components=None if basis is None else basis.components,
    )


def average_pca_basis(scene, noise_mode: str):
    """The PCA basis of the tri-grid of w_avg (psi = 0), under the frontal camera at rest pose."""
    average = SceneSpec(seeds=((0, 1.0),), truncation_psi=0.0, noise_mode=noise_mode)  # psi 0: any seed is w_avg
    with torch.inference_mode():
        planes = scene.model.scenes.planes(average)
    return fit_pca_basis(planes, scene.generator.config.triplane_depth)


def density_slice_product(renderer, scene, request: RenderRequest, options: InspectOptions,
                          shown_size: tuple[int, int]) -> DensitySliceProduct:
    """One axis-aligned slice: values [R, R], image [R, R, 3], value range, body segments and thickness shell."""
    posed = options.slice_space == "posed" and scene.point_warp is not None
    slice_options = SliceOptions(
        axis=options.slice_axis, offset=options.slice_offset, resolution=options.slice_resolution,
        quantity=options.slice_quantity, colormap=options.slice_colormap, value_range=options.slice_value_range,
    )
    with torch.inference_mode():
        result = density_slice(scene.generator, scene.planes, slice_options,
                               point_warp=scene.point_warp if posed else None)
    product = DensitySliceProduct(
        image=result.image, values=result.values, value_range=tuple(map(float, result.value_range)),
        half_extent=float(result.half_extent), axis=options.slice_axis, offset=options.slice_offset,
        quantity=options.slice_quantity, space="posed" if posed else "canonical",
    )
    if options.slice_body:
        pose_deg = request.pose_deg if posed else None
        key = ("slice_body", str(renderer.body_path(scene.model)), str(scene.device), pose_deg, options.slice_axis,
               options.slice_offset, options.slice_resolution, result.half_extent,
               float(scene.generator.config.thickness), float(scene.generator.config.rendering.box_warp))
        overlay = renderer.inspect_cache.get_or_create(
            key, lambda: body_overlay(renderer, scene, pose_deg, slice_options, result.half_extent))
        product = dataclasses.replace(product, **overlay)
    return product


def body_overlay(renderer, scene, pose_deg: tuple[float, ...] | None, slice_options, half_extent: float) -> dict:
    """The body surface's cross-section segments [K, 2, 2] (row, column) and its thickness shell mask and contour.

    The shell is measured on at most SHELL_MAX_RESOLUTION^2 pixels and scaled up to the slice's resolution.
    """
    body = renderer.body(scene.device, scene.model)
    config = scene.generator.config
    pose = None if pose_deg is None else pose_radians(pose_deg, scene.device)
    with torch.inference_mode():
        vertices = body.canonical_vertices if pose is None else body.pose_vertices(pose)[0]
        segments = body_cross_section(vertices, body.faces, slice_options.axis, slice_options.offset,
                                      slice_options.resolution, half_extent)
        coarse = dataclasses.replace(slice_options, resolution=min(slice_options.resolution, SHELL_MAX_RESOLUTION),
                                     half_extent=half_extent)
        shell = thickness_shell(body, None if pose is None else pose[0], coarse, thickness=config.thickness,
                                box_warp=config.rendering.box_warp)
    shell = nearest_upsampled(shell, slice_options.resolution)
    return {"body_segments": segments, "shell_mask": shell, "shell_contour": mask_outline(shell)}


def nearest_upsampled(mask: np.ndarray, size: int) -> np.ndarray:
    """`mask: [r, r]` resampled to [size, size] by nearest pixel centre (both span the same square)."""
    coarse = mask.shape[0]
    if coarse == size:
        return mask
    index = ((np.arange(size) + 0.5) * coarse / size).astype(np.int64)
    return mask[index[:, None], index[None, :]]


def ray_profile_product(renderer, scene, request: RenderRequest, options: InspectOptions,
                        shown_size: tuple[int, int]) -> RayProfileProduct:
    """Depths [S], raw sigma [S] and weights [S-1] of the ray through `options.ray_pixel` of the shown image."""
    resolution, rendering, camera = renderer.view_settings(scene.generator, request, scene.device)
    height, width = shown_size
    row, column = options.ray_pixel
    if not (0 <= row < height and 0 <= column < width):
        raise RenderError(f"ray pixel {options.ray_pixel} lies outside the shown {height}x{width} image; "
                          "pick a (row, column) inside it")
    # The shown image may be the super-resolved one: its pixel maps onto the neural render's ray grid.
    neural_pixel = (row * resolution // height, column * resolution // width)
    with torch.inference_mode():
        profile = ray_profile(scene.generator, scene.planes, camera, resolution, neural_pixel, scene.point_warp,
                              rendering, deterministic=request.deterministic)
    return RayProfileProduct(
        depths=profile.depths.astype(np.float32), sigma_raw=profile.sigma_raw.astype(np.float32),
        weights=profile.weights.astype(np.float32), depth=float(profile.depth), opacity=float(profile.opacity),
        origin=profile.origin.astype(np.float32), direction=profile.direction.astype(np.float32),
        pixel=(row, column), neural_pixel=neural_pixel, neural_resolution=int(resolution),
    )
