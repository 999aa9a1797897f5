"""Feature lookup in the tri-grid: three thin 3-D feature volumes, one per axis-aligned plane (reference-spec.md §1.4).

Plane k is a [C, D, H, W] volume (D slices along the axis orthogonal to the plane). A world point
(x, y, z), scaled by 2 / box_warp into [-1, 1]^3, is looked up at grid coordinates (W, H, D):
plane 0 at (x, y, z), plane 1 at (x, z, y), plane 2 at (y, z, x). These are the corrected EG3D plane
axes (EG3D issue #67), in which every plane's two in-plane axes are distinct world axes.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Re-laying the planes out channels-last (CPU) pays for its copy once there is a lookup per this many voxels.
CHANNELS_LAST_VOXELS_PER_POINT = 8
# For each plane, which world coordinate feeds grid_sample's (W, H, D) coordinate.
PLANE_AXES = ((0, 1, 2), (0, 2, 1), (1, 2, 0))


def sample_trigrid(planes: torch.Tensor, points: torch.Tensor, box_warp: float, depth: int) -> torch.Tensor:
    """Features [B, 3, N, C] of the tri-grid `planes: [B, 3, C*D, H, W]` at world `points: [B, N, 3]`.

    Inside a plane the flat channel index is c * D + d (feature-major, depth-minor), D = `depth`.
    Trilinear interpolation with align_corners=False; zero padding makes features vanish outside the box
    [-box_warp/2, box_warp/2]^3 (fading over the outermost half voxel).
    """
    batch, num_planes, channels_depth, height, width = planes.shape
    if num_planes != 3 or channels_depth % depth:
        raise ValueError(f"planes must be [B, 3, C*{depth}, H, W], got {list(planes.shape)}")
    if points.ndim != 3 or points.shape[0] != batch or points.shape[2] != 3:
        raise ValueError(f"points must be [{batch}, N, 3], got {list(points.shape)}")
    channels = channels_depth // depth
    num_points = points.shape[1]
    # The three planes ride on the batch axis: one grid_sample call, 3.5x faster on CPU than a 96-channel layout.
    volumes = planes.reshape(batch * 3, channels, depth, height, width)
    if volumes.device.type == "cpu" and num_points * CHANNELS_LAST_VOXELS_PER_POINT >= depth * height * width:
        # Channels-last puts each voxel's C features side by side: a trilinear lookup then reads 8 short runs
        # instead of 8*C scattered floats; 2.4x faster forward and backward on CPU, conversion included.
        volumes = volumes.contiguous(memory_format=torch.channels_last_3d)
    scaled = points * (2.0 / box_warp)
    grid = torch.stack([scaled[..., list(axes)] for axes in PLANE_AXES], dim=1)
    grid = grid.reshape(batch * 3, num_points, 1, 1, 3)
    features = F.grid_sample(volumes, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # A transposed view: reducing over planes first (see mean_trigrid_features) avoids copying all three.
    return features.reshape(batch, 3, channels, num_points).transpose(2, 3)


def mean_trigrid_features(planes: torch.Tensor, points: torch.Tensor, box_warp: float, depth: int) -> torch.Tensor:
    """The three planes' features averaged, [B, N, C] (what the decoder consumes), as a cheap transposed view.

    Averaging in grid_sample's channel-major layout before transposing made average + first decoder layer
    2.4x faster on CPU than `sample_trigrid(...).mean(1)` (393k points); nn.Linear takes the view without a copy.
    """
    return sample_trigrid(planes, points, box_warp, depth).transpose(2, 3).mean(dim=1).transpose(1, 2)
