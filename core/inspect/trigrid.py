"""Pictures of the tri-grid: per plane and depth slice, a PCA colouring or one channel through a colour map.

Layout (core/rendering/trigrid.py): plane k is a volume [C, D, H, W]; image column = W index, image
row = H index, slice = D index, and the world axes feeding (W, H, D) are PLANE_AXES[k]:
plane 0 "XY" (columns x, rows y, slices z), plane 1 "XZ" (columns x, rows z, slices y), plane 2 "YZ"
(columns y, rows z, slices x). Rows grow with the world coordinate, so plane 0 shows the face upside
down; a viewer may flip the picture but must then flip the row it passes to `plane_pixel_to_world`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from core.inspect.colormaps import apply_colormap
from core.rendering.trigrid import PLANE_AXES

PLANE_NAMES = ("XY", "XZ", "YZ")  # world axes along (columns, rows) of each plane's pictures
PCA_PERCENTILES = (1.0, 99.0)  # component values mapped to 0 and 255: robust to a few extreme texels


@dataclass(frozen=True)
class PlaneStats:
    """Summary of one plane's features over all its channels and depth slices."""

    mean: float  # mean feature value
    std: float  # standard deviation
    min: float  # smallest value
    max: float  # largest value


@dataclass(frozen=True)
class PcaBasis:
    """Three principal components per plane, fitted once and reused so colours stay put as the latent moves."""

    mean: np.ndarray  # [3, C] per-plane feature mean
    components: np.ndarray  # [3, 3, C] per plane, 3 unit components (largest variance first)
    low: np.ndarray  # [3, 3] per plane and component, the value shown as 0
    high: np.ndarray  # [3, 3] per plane and component, the value shown as 255


@dataclass
class TrigridPreview:
    """RGB pictures of every plane and depth slice, with the numbers needed to label them."""

    images: np.ndarray  # [3, D, H, W, 3] uint8, plane-major
    statistics: list[PlaneStats]  # one per plane
    basis: PcaBasis | None  # the PCA basis used (mode "pca")
    value_ranges: np.ndarray  # [3, 2] the (low, high) of the colour map per plane (mode "channel")


def plane_volumes(planes: torch.Tensor, depth: int) -> torch.Tensor:
    """planes [B, 3, C*D, H, W] -> the first item's volumes [3, C, D, H, W] (flat channel index c * D + d)."""
    if planes.ndim != 5 or planes.shape[1] != 3 or planes.shape[2] % depth:
        raise ValueError(f"planes must be [B, 3, C*{depth}, H, W], got {list(planes.shape)}")
    _, _, channels_depth, height, width = planes.shape
    return planes[0].detach().float().reshape(3, channels_depth // depth, depth, height, width)


def plane_statistics(planes: torch.Tensor) -> list[PlaneStats]:
    """Mean, std, min and max of each plane of the first item of `planes: [B, 3, C*D, H, W]`."""
    flat = planes[0].detach().float().reshape(3, -1)
    return [PlaneStats(float(p.mean()), float(p.std()), float(p.min()), float(p.max())) for p in flat]


def fit_pca_basis(planes: torch.Tensor, depth: int) -> PcaBasis:
    """Fit per-plane PCA bases on `planes: [B, 3, C*D, H, W]` (item 0), e.g. the tri-grid of w_avg.

    Each component's sign is fixed so that its largest-magnitude loading is positive: refitting on a
    slightly different tri-grid gives the same colours, not a negated channel.
    """
    volumes = plane_volumes(planes, depth)
    means, bases, lows, highs = [], [], [], []
    for volume in volumes:
        samples = volume.reshape(volume.shape[0], -1).T.double()  # [D*H*W, C]
        mean = samples.mean(0)
        centred = samples - mean
        covariance = centred.T @ centred / max(1, len(samples) - 1)
        _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
        components = vectors[:, -3:].flip(1).T  # [3, C], largest variance first
        strongest = components.abs().argmax(1)
        components = components * torch.sign(components[torch.arange(3), strongest])[:, None]
        projected = (centred @ components.T).numpy()
        lows.append(np.percentile(projected, PCA_PERCENTILES[0], axis=0))
        highs.append(np.percentile(projected, PCA_PERCENTILES[1], axis=0))
        means.append(mean.numpy())
        bases.append(components.numpy())
    return PcaBasis(np.array(means, np.float32), np.array(bases, np.float32), np.array(lows, np.float32),
                    np.array(highs, np.float32))


def trigrid_preview(planes: torch.Tensor, depth: int, mode: str = "pca", basis: PcaBasis | None = None,
                    channel: int = 0, colormap: str = "viridis",
                    value_range: tuple[float, float] | None = None) -> TrigridPreview:
    """Pictures of every plane and depth slice of `planes: [B, 3, C*D, H, W]` (item 0).

    mode "pca": the 3 components of `basis` (fitted on these planes when None) as RGB.
    mode "channel": feature `channel` through `colormap`, over `value_range` or each plane's range of it.
    """
    volumes = plane_volumes(planes, depth).cpu().numpy()  # [3, C, D, H, W]
    channels = volumes.shape[1]
    statistics = plane_statistics(planes)
    ranges = np.zeros((3, 2), np.float32)
    if mode == "pca":
        basis = basis or fit_pca_basis(planes, depth)
        if basis.mean.shape != (3, channels):
            raise ValueError(f"the PCA basis was fitted on {basis.mean.shape[1]} channels, these planes have "
                             f"{channels}; refit it with fit_pca_basis")
        projected = np.einsum("pcdhw,pkc->pdhwk", volumes, basis.components) - np.einsum(
            "pc,pkc->pk", basis.mean, basis.components)[:, None, None, None, :]
        span = np.maximum(basis.high - basis.low, 1e-12)[:, None, None, None, :]
        unit = np.clip((projected - basis.low[:, None, None, None, :]) / span, 0.0, 1.0)
        images = np.round(unit * 255).astype(np.uint8)
    elif mode == "channel":
        if not 0 <= channel < channels:
            raise ValueError(f"channel {channel} does not exist; the planes have channels 0..{channels - 1}")
        values = volumes[:, channel]  # [3, D, H, W]
        images = np.empty(values.shape + (3,), np.uint8)
        for plane in range(3):
            low, high = value_range or (float(values[plane].min()), float(values[plane].max()))
            ranges[plane] = (low, high)
            images[plane] = apply_colormap(values[plane], low, high, colormap)
    else:
        raise ValueError(f"unknown preview mode {mode!r}; use 'pca' or 'channel'")
    return TrigridPreview(images, statistics, basis if mode == "pca" else None, ranges)


def plane_pixel_to_world(plane: int, row, column, depth_index, height: int, width: int, depth: int,
                         box_warp: float = 1.0) -> np.ndarray:
    """World points [..., 3] at texel (row, column, depth_index) of `plane` (index space: texel centres at integers).

    The exact inverse of the lookup in sample_trigrid (align_corners=False): texel t of n sits at
    ((2t + 1) / n - 1) * box_warp / 2. The coordinate along no axis of this plane is left at the
    depth slice's centre. Fractional indices (e.g. mouse position - 0.5) are allowed.
    """
    indices = np.broadcast_arrays(np.asarray(column, np.float64), np.asarray(row, np.float64),
                                  np.asarray(depth_index, np.float64))
    world = np.zeros(indices[0].shape + (3,))
    for slot, (index, size) in enumerate(zip(indices, (width, height, depth))):
        world[..., PLANE_AXES[plane][slot]] = ((2 * index + 1) / size - 1) * box_warp / 2
    return world


def world_to_plane_pixel(plane: int, points, height: int, width: int, depth: int,
                         box_warp: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, depth_index) of world points [..., 3] in `plane`'s index space (inverse of the above)."""
    points = np.asarray(points, np.float64)
    index = [((points[..., PLANE_AXES[plane][slot]] * 2 / box_warp + 1) * size - 1) / 2
             for slot, size in enumerate((width, height, depth))]
    return index[1], index[0], index[2]
