"""Feature lookup in the tri-grid: three thin 3-D feature volumes, one per axis-aligned plane (reference-spec.md §1.4).

Plane k is a [C, D, H, W] volume (D slices along the axis orthogonal to the plane). A world point
(x, y, z), scaled by 2 / box_warp into [-1, 1]^3, is looked up at grid coordinates (W, H, D):
plane 0 at (x, y, z), plane 1 at (x, z, y), plane 2 at (y, z, x). These are the corrected EG3D plane
axes (EG3D issue #67), in which every plane's two in-plane axes are distinct world axes.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
import torch
import torch.nn.functional as F

import core.rendering.gather_kernel as gather_kernel

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
    tracked = torch.is_grad_enabled() and (planes.requires_grad or points.requires_grad)
    # The gather copies the planes into its table: worth it for as many points as the channels-last copy is.
    many = points.shape[1] * CHANNELS_LAST_VOXELS_PER_POINT >= depth * planes.shape[-2] * planes.shape[-1]
    if planes.device.type == "cpu" and not tracked and many:
        return gather_mean_features(planes, points, box_warp, depth)
    return sample_trigrid(planes, points, box_warp, depth).transpose(2, 3).mean(dim=1).transpose(1, 2)


# The CPU lookup for rendering without gradients: PyTorch's CPU grid_sample for 5-D inputs walks each point's eight
# corners channel by channel (75% of a `small` frame). Instead every point's 3 planes x 8 corners become 24 (row,
# weight) pairs into a channels-last table of the planes, and embedding_bag sums the weighted rows in one vectorised
# call, the weights already holding the 1/3 of the mean over planes. Same trilinear rule (align_corners=False, an
# off-grid corner weighs 0), equal to float rounding (tests/core/test_trigrid_gather.py). The pairs come from one
# compiled loop once a process prepared it (core.rendering.gather_kernel, equal to the torch operations to the bit).
POINTS_PER_PART = 1 << 15  # the 24-wide temporaries of this many points stay in the CPU's caches
_last_table: tuple = (None, None, None)  # (weak reference to planes, their version, table): coarse and fine share it
_TABLE_LOCK = threading.Lock()


def _table_of(planes: torch.Tensor, channels: int, depth: int) -> torch.Tensor:
    """Rows [B, 3 * D * H * W, C]: one voxel's C features side by side, planes after each other (a copy, kept for
    the planes' next lookup while they are alive and unchanged; not an LruCache: tensors are not hashable keys)."""
    global _last_table
    # Inference tensors carry no version counter: they are created by one render and never edited in place.
    current = None if planes.is_inference() else planes._version
    with _TABLE_LOCK:  # a render's ray chunks run side by side (volume.render_rays): one copy for all of them
        reference, version, table = _last_table
        if reference is not None and reference() is planes and version == current:
            return table
        batch, _, _, height, width = planes.shape
        table = planes.reshape(batch, 3, channels, depth, height, width).permute(0, 1, 3, 4, 5, 2)
        table = table.reshape(batch, -1, channels)
        _last_table = (weakref.ref(planes, _forget_table), current, table)
        return table


def _forget_table(reference: weakref.ref) -> None:
    """The planes are gone: free their table now rather than at the next lookup."""
    global _last_table
    if _last_table[0] is reference:
        _last_table = (None, None, None)


def gather_mean_features(planes: torch.Tensor, points: torch.Tensor, box_warp: float, depth: int) -> torch.Tensor:
    """The three planes' features averaged, [B, N, C], of `planes: [B, 3, C*D, H, W]` at world `points: [B, N, 3]`."""
    batch, _, channels_depth, height, width = planes.shape
    channels = channels_depth // depth
    tables = _table_of(planes, channels, depth)
    compiled = gather_kernel.ready() and points.device.type == "cpu" and points.dtype == torch.float32
    corners = _compiled_corners if compiled else _torch_corners
    shape = (width, height, depth, box_warp)
    results = []
    for item in range(batch):
        parts = []
        for part in points[item].split(POINTS_PER_PART):
            rows, weights = corners(part, *shape)
            parts.append(F.embedding_bag(rows, tables[item], per_sample_weights=weights, mode="sum"))
        results.append(parts[0] if len(parts) == 1 else torch.cat(parts) if parts else tables.new_zeros(0, channels))
    return results[0][None] if batch == 1 else torch.stack(results)  # one frame's features are not copied again


def _compiled_corners(part: torch.Tensor, width: int, height: int, depth: int, box_warp: float
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows and weights [n, 24] of points [n, 3] in one compiled pass (core.rendering.gather_kernel)."""
    rows, weights = gather_kernel.corners(
        part.contiguous().numpy(), np.array(PLANE_AXES, np.int32), np.array([[width, height, depth]] * 3, np.int32),
        np.array([1, width, width * height], np.int32), np.arange(3, dtype=np.int32) * (depth * height * width),
        2.0 / box_warp, torch.get_num_threads())
    return torch.from_numpy(rows), torch.from_numpy(weights)


def _torch_corners(part: torch.Tensor, width: int, height: int, depth: int, box_warp: float
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows and weights [n, 24] (transposed views) of points [n, 3] as whole-array torch operations."""
    device, count = part.device, len(part)
    axes = torch.tensor(PLANE_AXES, device=device).reshape(-1)  # [9]: each plane's (W, H, D) world axes
    sizes = torch.tensor([width, height, depth] * 3, dtype=part.dtype, device=device)[:, None]
    limits = sizes.to(torch.int32)
    strides = torch.tensor([1, width, width * height] * 3, dtype=torch.int32, device=device)[:, None]
    plane_rows = (torch.arange(3, dtype=torch.int32, device=device) * (depth * height * width))[:, None]
    # Corner-major layouts ([..., n] last) keep every element-wise step one long vectorised loop.
    coordinates = part.t().index_select(0, axes)  # [9, n]: plane-major (W, H, D) coordinates
    # grid_sample's unnormalisation (align_corners=False): pixel = ((g + 1) * size - 1) / 2, g = 2 p / box.
    pixel = (coordinates * (2.0 / box_warp) + 1) * (sizes / 2) - 0.5
    low = pixel.floor()
    fraction = pixel - low
    low = low.to(torch.int32)
    high = low + 1
    # Per plane and axis: the two neighbours' weights (0 off the grid) and clamped row offsets, [3, 3, 2, n].
    weights = torch.stack([(1 - fraction) * ((low >= 0) & (low < limits)),
                           fraction * ((high >= 0) & (high < limits))], dim=1).view(3, 3, 2, count)
    offsets = torch.stack([low.clamp(0).minimum(limits - 1) * strides,
                           high.clamp(0).minimum(limits - 1) * strides], dim=1).view(3, 3, 2, count)
    corner_weights = (weights[:, 2, :, None, None] * weights[:, 1, None, :, None]
                      * (weights[:, 0, None, None, :] / 3))  # [plane, z, y, x, n]
    rows = (offsets[:, 2, :, None, None] + offsets[:, 1, None, :, None]
            + (offsets[:, 0] + plane_rows[:, None])[:, None, None])
    return rows.view(24, count).t(), corner_weights.view(24, count).t()
