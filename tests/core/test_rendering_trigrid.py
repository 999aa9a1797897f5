"""Tri-grid lookups: a feature planted in one voxel comes back at the world point that maps there."""
import pytest
import torch

from core.rendering import trigrid
from core.rendering.trigrid import mean_trigrid_features, sample_trigrid

# Distinct sizes along every axis so that any mix-up of axes shows.
CHANNELS, DEPTH, HEIGHT, WIDTH = 2, 3, 4, 5


def _voxel_centre(index: int, size: int, box_warp: float) -> float:
    """World coordinate of voxel `index` of `size` under align_corners=False."""
    return ((index + 0.5) / size * 2.0 - 1.0) * box_warp / 2.0


def _point_of_voxel(plane: int, d: int, h: int, w: int, box_warp: float) -> list[float]:
    """The world point (x, y, z) that `plane` samples at voxel (d, h, w); (W, H, D) = 0:(x,y,z) 1:(x,z,y) 2:(y,z,x)."""
    cw = _voxel_centre(w, WIDTH, box_warp)
    ch = _voxel_centre(h, HEIGHT, box_warp)
    cd = _voxel_centre(d, DEPTH, box_warp)
    return {0: [cw, ch, cd], 1: [cw, cd, ch], 2: [cd, cw, ch]}[plane]


@pytest.fixture(params=["channel-major", "channels-last"])
def layout(request, monkeypatch):
    """Runs a test with the planes in each memory layout sample_trigrid may choose."""
    monkeypatch.setattr(trigrid, "CHANNELS_LAST_VOXELS_PER_POINT", 0 if request.param == "channel-major" else 10**9)
    return request.param


@pytest.mark.parametrize("plane", [0, 1, 2])
@pytest.mark.parametrize("box_warp", [1.0, 2.0])
def test_planted_feature_comes_back_at_its_world_point(device, layout, plane, box_warp):
    planes = torch.zeros(2, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, device=device)
    channel, d, h, w = 1, 2, 1, 3
    planes[1, plane, channel * DEPTH + d, h, w] = 1.0
    here = _point_of_voxel(plane, d, h, w, box_warp)
    # The neighbour one voxel further along W, and the point halfway between the two.
    there = _point_of_voxel(plane, d, h, w + 1, box_warp)
    halfway = [(a + b) / 2 for a, b in zip(here, there)]
    points = torch.tensor([[here, there, halfway]] * 2, device=device)
    features = sample_trigrid(planes, points, box_warp=box_warp, depth=DEPTH)
    assert features.shape == (2, 3, 3, CHANNELS)
    expected = torch.zeros(2, 3, 3, CHANNELS, device=device)
    expected[1, plane, 0, channel] = 1.0
    expected[1, plane, 2, channel] = 0.5
    torch.testing.assert_close(features, expected, atol=1e-6, rtol=0)


def test_depth_axis_interpolates_between_slices(device, layout):
    planes = torch.zeros(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, device=device)
    # Plane 0's depth axis is world z: slices 0, 1, 2 hold the values 0, 3, 6 in channel 0.
    planes[0, 0, 0:DEPTH] = torch.tensor([0.0, 3.0, 6.0], device=device)[:, None, None]
    z_slice_1, z_slice_2 = _voxel_centre(1, DEPTH, 1.0), _voxel_centre(2, DEPTH, 1.0)
    points = torch.tensor([[[0.0, 0.1, z_slice_1], [0.0, 0.1, (z_slice_1 + z_slice_2) / 2]]], device=device)
    features = sample_trigrid(planes, points, box_warp=1.0, depth=DEPTH)
    torch.testing.assert_close(features[0, 0, :, 0], torch.tensor([3.0, 4.5], device=device))


def test_features_vanish_outside_the_box(device, layout):
    planes = torch.ones(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, device=device)
    # Beyond box/2 plus one full voxel (the widest voxel is the depth axis: 1/3 of the box) nothing remains.
    far = 0.5 + 1.0 / DEPTH + 1e-3
    outside = [[far, 0, 0], [0, -far, 0], [0, 0, far], [-far, far, -far]]
    inside = [[0.0, 0.0, 0.0]]
    features = sample_trigrid(planes, torch.tensor([outside + inside], device=device), box_warp=1.0, depth=DEPTH)
    assert features[0, :, :4].abs().max() == 0
    torch.testing.assert_close(features[0, :, 4], torch.ones(3, CHANNELS, device=device))


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"C\*3"):
        sample_trigrid(torch.zeros(1, 3, 8, 4, 4), torch.zeros(1, 2, 3), box_warp=1.0, depth=3)
    with pytest.raises(ValueError, match="points"):
        sample_trigrid(torch.zeros(1, 3, 9, 4, 4), torch.zeros(2, 2, 3), box_warp=1.0, depth=3)


def test_mean_of_the_planes_matches_the_per_plane_lookup(device, layout):
    planes = torch.randn(2, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, device=device)
    points = torch.rand(2, 50, 3, device=device) - 0.5
    expected = sample_trigrid(planes, points, box_warp=1.0, depth=DEPTH).mean(dim=1)
    torch.testing.assert_close(mean_trigrid_features(planes, points, box_warp=1.0, depth=DEPTH), expected)


def test_both_layouts_agree_with_gradients(monkeypatch):
    planes = torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, requires_grad=True)
    points = torch.rand(1, 40, 3) - 0.5
    results = []
    for voxels_per_point in (0, 10**9):
        monkeypatch.setattr(trigrid, "CHANNELS_LAST_VOXELS_PER_POINT", voxels_per_point)
        features = sample_trigrid(planes, points, box_warp=1.0, depth=DEPTH)
        (gradient,) = torch.autograd.grad((features * features).sum(), planes)
        results.append((features, gradient))
    torch.testing.assert_close(results[0][0], results[1][0])
    torch.testing.assert_close(results[0][1], results[1][1])
