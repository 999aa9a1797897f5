"""The CPU's gather lookup of the mean tri-grid features equals the grid_sample lookup, and only serves renders
without gradients (training and inversion keep grid_sample's backward)."""
import pytest
import torch

import core.rendering.gather_kernel as gather_kernel
from core.rendering import trigrid
from core.rendering.trigrid import gather_mean_features, mean_trigrid_features, sample_trigrid

# Distinct sizes along every axis so that any mix-up of axes shows.
CHANNELS, DEPTH, HEIGHT, WIDTH = 5, 3, 6, 7


def _grid_sample_mean(planes, points, box_warp, depth):
    return sample_trigrid(planes, points, box_warp, depth).mean(dim=1)


@pytest.fixture(params=["compiled", "torch"])
def corner_path(request, monkeypatch):
    """Each test below runs on the compiled corner loop (numba) and on the torch operations that stand in without it."""
    if request.param == "compiled" and not gather_kernel.available():
        pytest.skip("numba missing")
    if request.param == "compiled":
        gather_kernel.prepare()
    monkeypatch.setattr(gather_kernel, "ready", lambda: request.param == "compiled")
    return request.param


def _planes_and_points(depth, box_warp, seed=0):
    generator = torch.Generator().manual_seed(seed)
    planes = torch.randn(2, 3, CHANNELS * depth, HEIGHT, WIDTH, generator=generator)
    # Points well outside, in the fading outer half voxel, and exactly on the box's walls and corners.
    points = (torch.rand(2, 3000, 3, generator=generator) - 0.5) * box_warp * 1.3
    points[:, :3] = torch.tensor([[box_warp / 2] * 3, [-box_warp / 2] * 3, [0.0, box_warp / 2, -box_warp / 2]])
    return planes, points


@pytest.mark.parametrize("depth", [1, DEPTH])
@pytest.mark.parametrize("box_warp", [1.0, 2.4])
def test_gather_equals_grid_sample_inside_outside_and_on_the_edges(depth, box_warp, corner_path):
    planes, points = _planes_and_points(depth, box_warp, seed=depth)
    expected = _grid_sample_mean(planes, points, box_warp, depth)
    got = gather_mean_features(planes, points, box_warp, depth)
    assert got.shape == (2, 3000, CHANNELS)
    assert torch.allclose(got, expected, atol=2e-6), float((got - expected).abs().max())
    assert float(expected[:, 3:].abs().amax()) > 0.5  # the comparison saw real features, not only zeros


@pytest.mark.skipif(not gather_kernel.available(), reason="numba missing")
@pytest.mark.parametrize("depth", [1, DEPTH])
def test_the_compiled_corners_equal_the_torch_operations_to_the_bit(depth, monkeypatch):
    """Same float32 arithmetic in the same order: rows, weights and the summed features are identical."""
    planes, points = _planes_and_points(depth, 2.4, seed=3)
    part = points[0]
    rows, weights = trigrid._compiled_corners(part, WIDTH, HEIGHT, depth, 2.4)
    expected_rows, expected_weights = trigrid._torch_corners(part, WIDTH, HEIGHT, depth, 2.4)
    assert torch.equal(rows, expected_rows) and torch.equal(weights, expected_weights)
    assert float((weights == 0).float().mean()) > 0.05  # off-grid corners were part of the comparison
    gather_kernel.prepare()
    compiled = gather_mean_features(planes, points, 2.4, depth)
    monkeypatch.setattr(gather_kernel, "ready", lambda: False)
    assert torch.equal(compiled, gather_mean_features(planes, points, 2.4, depth))


@pytest.mark.skipif(not gather_kernel.available(), reason="numba missing")
def test_preparing_the_corner_loop_leaves_no_compilation_for_the_first_frame():
    """prepare() (the viewer's warm thread) must compile the very signature a render calls, and hand lookups to it."""
    gather_kernel.prepare()
    assert gather_kernel.ready()
    before = list(gather_kernel._kernel().signatures)
    gather_mean_features(torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH), torch.rand(1, 50, 3) - 0.5, 1.0, DEPTH)
    assert list(gather_kernel._kernel().signatures) == before and len(before) == 1


def test_a_planted_voxel_is_found_by_the_gather(corner_path):
    planes = torch.zeros(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH)
    planes[0, 1, 2 * DEPTH + 1, 4, 5] = 3.0  # plane 1 reads (W, H, D) = (x, z, y)
    centre = [((index + 0.5) / size * 2 - 1) / 2 for index, size in ((5, WIDTH), (1, DEPTH), (4, HEIGHT))]
    features = gather_mean_features(planes, torch.tensor([[centre]]), 1.0, DEPTH)
    assert features[0, 0, 2] == pytest.approx(1.0)  # 3 / 3 planes
    assert float(features[0, 0].abs().sum()) == pytest.approx(1.0)


def test_renders_without_gradients_take_the_gather_and_training_keeps_grid_sample(monkeypatch):
    planes = torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH)
    points = torch.rand(1, 50, 3) - 0.5
    calls = []
    real = trigrid.gather_mean_features
    monkeypatch.setattr(trigrid, "gather_mean_features", lambda *args: calls.append(1) or real(*args))
    with torch.no_grad():
        mean_trigrid_features(planes, points, 1.0, DEPTH)
    assert calls == [1]
    planes.requires_grad_(True)
    features = mean_trigrid_features(planes, points, 1.0, DEPTH)
    assert calls == [1] and features.grad_fn is not None
    features.sum().backward()
    assert planes.grad is not None and float(planes.grad.abs().sum()) > 0


def test_the_kept_table_follows_the_planes_and_their_changes():
    generator = torch.Generator().manual_seed(7)
    planes = torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, generator=generator)
    other = torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH, generator=generator)
    points = torch.rand(1, 500, 3, generator=generator) - 0.5
    for current in (planes, planes, other, planes):  # reused, replaced, and back
        got = gather_mean_features(current, points, 1.0, DEPTH)
        assert torch.allclose(got, _grid_sample_mean(current, points, 1.0, DEPTH), atol=2e-6)
    planes.mul_(-2.0)  # an in-place edit of the same tensor must not read the old table
    got = gather_mean_features(planes, points, 1.0, DEPTH)
    assert torch.allclose(got, _grid_sample_mean(planes, points, 1.0, DEPTH), atol=4e-6)
    assert torch.equal(gather_mean_features(planes, points[:, :0], 1.0, DEPTH), torch.zeros(1, 0, CHANNELS))


def test_inference_tensors_keep_their_table_too():
    planes = torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH)
    points = torch.rand(1, 400, 3) - 0.5
    with torch.inference_mode():
        frozen = planes.clone()
        first = gather_mean_features(frozen, points, 1.0, DEPTH)
        again = gather_mean_features(frozen, points, 1.0, DEPTH)
    assert torch.equal(first, again)
    assert torch.allclose(first, _grid_sample_mean(planes, points, 1.0, DEPTH), atol=2e-6)


def test_the_table_is_freed_with_its_planes():
    planes = torch.randn(1, 3, CHANNELS * DEPTH, HEIGHT, WIDTH)
    gather_mean_features(planes, torch.rand(1, 10, 3) - 0.5, 1.0, DEPTH)
    assert trigrid._last_table[2] is not None
    del planes
    assert trigrid._last_table == (None, None, None)


def test_a_process_that_did_not_prepare_the_loop_never_loads_numba():
    """A command that renders once must not wait for numba: its lookups take the torch operations."""
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys, torch\n"
              "from core.rendering.trigrid import gather_mean_features\n"
              "planes = torch.randn(1, 3, 15, 6, 7)\n"
              "with torch.no_grad(): gather_mean_features(planes, torch.rand(1, 500, 3) - 0.5, 1.0, 3)\n"
              "print('numba' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"
