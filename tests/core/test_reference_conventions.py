"""The authors' conventions, opt-in for released models: their importance sampler, their mirror decision at the
mirror plane and their camera construction, each against an independent statement of the reference formula."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from core.camera import (DEFAULT_FOCAL, LOOKAT_PIVOT, camera_from_angles, is_left, mirror_camera, mirror_pose,
                         orbit_camera, reference_camera, reference_focal_from_fov)
from core.config import RenderingConfig, preset
from core.generator import TriGridGenerator
from core.networks.heads import PoseBranch
from core.rendering.rays import generate_rays
from core.rendering.sampling import importance_depths
from core.rendering.volume import interval_weights, render_rays


def reference_fine_depths(depths: torch.Tensor, weights: torch.Tensor, count: int, u: torch.Tensor) -> torch.Tensor:
    """The EG3D formula as written in the paper's code base, restated here: smooth the S-1 interval weights,
    keep the interior ones [1:-1], build the cdf over the coarse midpoints, invert it at u with gathered bounds.
    depths [N, S], weights [N, S-1], u [N, count] -> [N, count]."""
    smoothed = F.avg_pool1d(F.max_pool1d(weights[:, None], 2, 1, padding=1), 2, 1)[:, 0] + 0.01
    bins = 0.5 * (depths[:, 1:] + depths[:, :-1])
    interior = smoothed[:, 1:-1] + 1e-5
    pdf = interior / interior.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[:, :1]), torch.cumsum(pdf, -1)], -1)
    index = torch.searchsorted(cdf, u.contiguous(), right=True)
    below = (index - 1).clamp(min=0)
    above = index.clamp(max=interior.shape[1])
    cdf_below, cdf_above = cdf.gather(1, below), cdf.gather(1, above)
    bin_below, bin_above = bins.gather(1, below), bins.gather(1, above)
    denominator = cdf_above - cdf_below
    denominator = torch.where(denominator < 1e-5, torch.ones_like(denominator), denominator)
    return bin_below + (u - cdf_below) / denominator * (bin_above - bin_below)


def _coarse(rows: int = 64, samples: int = 12):
    generator = torch.Generator().manual_seed(0)
    depths = torch.sort(2.25 + 1.05 * torch.rand(rows, samples, generator=generator), dim=1).values
    weights = torch.rand(rows, samples - 1, generator=generator) ** 4  # peaked, as a surface makes them
    return depths, weights


def test_reference_sampler_matches_the_formula_deterministic_and_random():
    depths, weights = _coarse()
    count = 16
    fine = importance_depths(depths[None, ..., None], weights[None, ..., None], count, deterministic=True,
                             sampler="reference")[0, ..., 0]
    u = torch.linspace(0.0, 1.0, count).expand(len(depths), count)
    torch.testing.assert_close(fine, reference_fine_depths(depths, weights, count, u), atol=1e-5, rtol=0)
    fine = importance_depths(depths[None, ..., None], weights[None, ..., None], count, deterministic=False,
                             generator=torch.Generator().manual_seed(5), sampler="reference")[0, ..., 0]
    u = torch.rand(len(depths), count, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(fine, reference_fine_depths(depths, weights, count, u), atol=1e-5, rtol=0)
    # The off-by-one it keeps: nothing below the first coarse midpoint or above the second-to-last one.
    midpoints = 0.5 * (depths[:, 1:] + depths[:, :-1])
    assert (fine >= midpoints[:, :1] - 1e-6).all() and (fine <= midpoints[:, -2:-1] + 1e-6).all()
    project = importance_depths(depths[None, ..., None], weights[None, ..., None], count, deterministic=True)
    assert (project[0, ..., 0] - reference_fine_depths(depths, weights, count, u)).abs().max() > 1e-3


def test_a_tiny_model_renders_the_same_rays_with_both_samplers():
    torch.manual_seed(0)
    generator = TriGridGenerator(preset("tiny")).eval()
    z = torch.randn(1, generator.config.z_dim)
    camera = orbit_camera(25.0, 5.0)
    with torch.no_grad():
        ws = generator.mapping(z, camera, torch.zeros(1, 6))
        planes = generator.synthesize_trigrid(ws, noise_mode="const")
    origins, directions = generate_rays(camera, 8)
    merged = {}
    for sampler in ("project", "reference"):
        options = dataclasses.replace(generator.config.rendering, deterministic=True, importance_sampler=sampler)
        with torch.no_grad():
            result = render_rays(lambda points: generator.sample_density(planes, points, options), origins,
                                 directions, options, keep_samples=True)
        merged[sampler] = result.samples.depths[0]
    # The reference render's samples are the coarse ones plus the formula's fine ones, from the same coarse pass.
    options = dataclasses.replace(generator.config.rendering, deterministic=True)
    count, coarse_count = options.depth_resolution_importance, options.depth_resolution
    delta = (options.ray_end - options.ray_start) / (coarse_count - 1)
    coarse = (torch.linspace(options.ray_start, options.ray_end, coarse_count) + 0.5 * delta).expand(64, -1)
    with torch.no_grad():
        points = origins[0, :, None] + directions[0, :, None] * coarse[..., None]
        sigma, _ = generator.sample_density(planes, points.reshape(1, -1, 3), options)
    limit = options.box_warp / 2 - options.triplane_crop  # the renderer's side-wall crop
    outside = (points[..., 0].abs() > limit) | (points[..., 2].abs() > limit)
    sigma = sigma.reshape(64, coarse_count).masked_fill(outside, -1000.0)
    weights = interval_weights(coarse[None, ..., None], sigma.reshape(1, 64, coarse_count, 1), options.density_bias)
    u = torch.linspace(0.0, 1.0, count).expand(64, count)
    fine = reference_fine_depths(coarse, weights[0, ..., 0], count, u)
    expected = torch.sort(torch.cat([coarse, fine], dim=1), dim=1).values
    torch.testing.assert_close(merged["reference"], expected, atol=1e-4, rtol=0)
    assert (merged["project"] - merged["reference"]).abs().max() > 1e-3


def test_the_sampler_is_a_checked_rendering_option():
    assert RenderingConfig().importance_sampler == "project"  # our own models keep the fixed sampler
    with pytest.raises(ValueError, match="importance_sampler"):
        RenderingConfig(importance_sampler="eg3d")
    depths, weights = _coarse(samples=3)
    with pytest.raises(ValueError, match="at least 4 coarse samples"):
        importance_depths(depths[None, ..., None], weights[None, ..., None], 4, True, sampler="reference")


def test_the_reference_mirror_decision_flips_at_the_exact_back_view():
    back = orbit_camera(180.0, 0.0)
    assert -1e-6 < float(back[0, 3]) < 0.0  # t_x is a rounding residue, not zero
    assert not is_left(back)[0] and is_left(back, "reference")[0]
    cameras = orbit_camera(torch.tensor([-150.0, -90.0, -30.0, 0.0, 30.0, 90.0, 150.0]), torch.zeros(7))
    assert torch.equal(is_left(cameras), is_left(cameras, "reference"))  # agree off the mirror plane
    torch.manual_seed(2)
    branches = {test: PoseBranch(16, 25, (8, 8), mirror_test=test) for test in ("project", "reference")}
    branches["reference"].load_state_dict(branches["project"].state_dict())
    z = torch.randn(1, 16)
    with torch.no_grad():
        project, reference = (branches[test](z, back) for test in ("project", "reference"))
        mirrored = mirror_pose(branches["project"].net(torch.cat([z, mirror_camera(back)], dim=1)))
    torch.testing.assert_close(project, branches["project"].net(torch.cat([z, back], dim=1)))
    torch.testing.assert_close(reference, mirrored)
    assert (project - reference).abs().max() > 1e-4


def _position(camera):
    return camera[0, :16].reshape(4, 4)[:3, 3]


def _forward(camera):
    return camera[0, :16].reshape(4, 4)[:3, 2]


def test_both_camera_conventions_give_the_documented_positions_and_focal():
    radius, pivot = 2.7, torch.tensor(LOOKAT_PIVOT)
    project, reference = orbit_camera(0.0, 0.0), reference_camera(0.0, 0.0)
    torch.testing.assert_close(_position(project), torch.tensor([0.0, 0.0649, radius]))  # orbits the pivot
    torch.testing.assert_close(_forward(project), torch.tensor([0.0, 0.0, -1.0]))
    torch.testing.assert_close(_position(reference), torch.tensor([0.0, 0.0, radius]), atol=1e-6, rtol=0)
    torch.testing.assert_close(_forward(reference), F.normalize(pivot - torch.tensor([0.0, 0.0, radius]), dim=0))
    # Pitch 30: height r * 2 pitch / pi = 0.9 and horizontal distance r sin(arccos(1/3)) around the origin.
    position = _position(reference_camera(0.0, 30.0))
    torch.testing.assert_close(position, torch.tensor([0.0, 0.9, radius * math.sqrt(8.0) / 3.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(_position(orbit_camera(0.0, 30.0)),
                               torch.tensor([0.0, 0.0649 + radius / 2, radius * math.sqrt(3.0) / 2]))
    # Yaw 90 is the subject's left in both; the reference camera looks up at the pivot from the origin's height.
    torch.testing.assert_close(_position(reference_camera(90.0, 0.0)), torch.tensor([radius, 0.0, 0.0]),
                               atol=1e-5, rtol=0)
    assert float(_position(camera_from_angles("reference", 90.0, 0.0))[0]) == pytest.approx(radius, abs=1e-5)
    assert torch.equal(camera_from_angles("project", 40.0, 10.0), orbit_camera(40.0, 10.0))
    for camera in (project, reference):  # OpenCV axes: down points down the image, the same intrinsics
        assert float(camera[0, :16].reshape(4, 4)[1, 1]) < -0.99
        assert float(camera[0, 16]) == pytest.approx(DEFAULT_FOCAL) and float(camera[0, 18]) == 0.5
    assert reference_focal_from_fov(12.447863) == pytest.approx(6.4846, abs=1e-3)
    with pytest.raises(ValueError, match="camera convention"):
        camera_from_angles("opengl", 0.0, 0.0)
