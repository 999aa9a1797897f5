"""The extra products a render can return (`RenderResult.extras[name]`), as typed values.

Plain numpy arrays and numbers, no torch: they cross the process boundary by pickling and the GUI draws them
without importing torch. `renderer/inspect_products.py` and `renderer/body_products.py` make them; the
Tri-grid, Density, Mesh and Pose panels read them. A failed extra is a line in `extras["errors"][name]`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PLANES, DENSITY_SLICE, RAY_PROFILE, BODY_MESH = "planes", "density_slice", "ray_profile", "body_mesh"


@dataclass(frozen=True, eq=False)
class PlaneStatistics:
    """One tri-grid plane's feature statistics."""

    mean: float
    std: float
    min: float
    max: float


@dataclass(frozen=True, eq=False)
class PlanesProduct:
    """Pictures of every tri-grid plane and depth slice (core.inspect.trigrid_preview)."""

    images: np.ndarray  # uint8 [3, D, H, W, 3], plane-major: plane 0 XY, 1 XZ, 2 YZ
    mode: str  # pca | channel
    plane_names: tuple[str, ...]
    statistics: tuple[PlaneStatistics, ...]  # one per plane
    value_ranges: np.ndarray  # [3, 2] low/high per plane of the shown channel (channel mode)
    channel: int  # the shown channel (channel mode)
    channels: int  # feature channels per plane
    depth: int  # depth slices per plane
    box_warp: float  # side of the render box (world units)
    basis_components: np.ndarray | None  # [3, 3, C] PCA basis of the model (pca mode), else None


@dataclass(frozen=True, eq=False)
class DensitySliceProduct:
    """One axis-aligned slice of the density field, with the body's cross-section and thickness shell if asked."""

    image: np.ndarray  # uint8 [R, R, 3]
    values: np.ndarray  # float32 [R, R]
    value_range: tuple[float, float]  # the colour map's ends
    half_extent: float  # the slice spans [-half_extent, half_extent]^2 (world units)
    axis: str  # x | y | z
    offset: float  # position along the axis (world units)
    quantity: str  # sigma_raw | density | opacity
    space: str  # canonical | posed
    body_segments: np.ndarray | None = None  # float32 [K, 2, 2] (row, column) ends in slice index space
    shell_mask: np.ndarray | None = None  # bool [R, R]: points the warp moves
    shell_contour: np.ndarray | None = None  # bool [R, R]: the mask's outline


@dataclass(frozen=True, eq=False)
class RayProfileProduct:
    """Samples along one pixel's ray (core.inspect.ray_profile)."""

    depths: np.ndarray  # float32 [S]
    sigma_raw: np.ndarray  # float32 [S]
    weights: np.ndarray  # float32 [S - 1]
    depth: float  # the rendered depth
    opacity: float  # the weights' sum = the rendered mask
    origin: np.ndarray  # float32 [3]
    direction: np.ndarray  # float32 [3]
    pixel: tuple[int, int]  # (row, column) in the shown image
    neural_pixel: tuple[int, int]  # the ray grid's pixel under it
    neural_resolution: int


@dataclass(frozen=True, eq=False)
class BodyMeshProduct:
    """The body model's surface and skeleton, at rest and in the request's pose (aligned frame)."""

    vertices: np.ndarray  # float32 [V, 3] at rest
    posed_vertices: np.ndarray  # float32 [V, 3]
    faces: np.ndarray  # int32 [F, 3]
    joints: np.ndarray  # float32 [J, 3] at rest
    posed_joints: np.ndarray  # float32 [J, 3]
    parents: np.ndarray  # int64 [J], -1 for the root
    neck_index: int
    head_index: int
    pose_deg: tuple[float, ...]  # the six angles the posed arrays use

    def surface(self, posed: bool) -> tuple[np.ndarray, np.ndarray]:
        """(vertices, joints) in the posed or the rest space."""
        return (self.posed_vertices, self.posed_joints) if posed else (self.vertices, self.joints)
