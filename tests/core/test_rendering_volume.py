"""Ray marching and importance sampling against analytic fields: a solid sphere, constant fog, the crop walls."""
import dataclasses
import math

import pytest
import torch

from core.camera import orbit_camera
from core.config import RenderingConfig
from core.rendering.rays import generate_rays
from core.rendering.sampling import importance_depths, sample_pdf, smooth_weights
from core.rendering.volume import CROPPED_SIGMA, march, render_rays

CENTRE = (0.05, 0.0649, -0.02)
RADIUS = 0.25
FOCAL = 2.0  # wide enough that the sphere fills only the middle of the image
OPTIONS = RenderingConfig()
COARSE_SPACING = (OPTIONS.ray_end - OPTIONS.ray_start) / (OPTIONS.depth_resolution - 1)


def sphere_decode(points):
    """A solid sphere: raw density 1e4 inside, -100 outside; features are the points' coordinates."""
    inside = (points - torch.tensor(CENTRE, device=points.device)).norm(dim=-1, keepdim=True) < RADIUS
    sigma_raw = torch.where(inside, torch.full_like(inside, 1e4, dtype=points.dtype),
                            torch.full_like(inside, -100.0, dtype=points.dtype))
    return sigma_raw, points


def sphere_hits(origins, directions):
    """Distance to the sphere along each ray [B, M] and the squared closest approach of the ray to its centre."""
    offset = torch.tensor(CENTRE, device=origins.device) - origins
    along = (offset * directions).sum(-1)
    closest_sq = (offset * offset).sum(-1) - along**2
    distance = along - torch.sqrt((RADIUS**2 - closest_sq).clamp(min=0))
    return distance, closest_sq


def _sphere_scene(device, resolution=12, yaw=25.0):
    camera = orbit_camera(yaw, 10.0, focal=FOCAL, device=device)
    origins, directions = generate_rays(camera, resolution)
    distance, closest_sq = sphere_hits(origins, directions)
    hit = closest_sq < (RADIUS - 0.02) ** 2
    miss = closest_sq > (RADIUS + 0.02) ** 2
    assert hit.sum() > 3 and miss.sum() > 3, "the test scene must contain both hits and misses"
    return origins, directions, distance, hit, miss


@pytest.mark.parametrize("deterministic", [False, True])
def test_sphere_depth_and_mask(device, deterministic):
    origins, directions, distance, hit, miss = _sphere_scene(device)
    options = dataclasses.replace(OPTIONS, deterministic=deterministic)
    generator = torch.Generator(device).manual_seed(3)
    result = render_rays(sphere_decode, origins, directions, options, generator=generator)
    assert result.features.shape == (1, 144, 3)
    assert result.depth.shape == result.weights_sum.shape == (1, 144, 1)
    depth, mask = result.depth[..., 0], result.weights_sum[..., 0]
    assert (depth[hit] - distance[hit]).abs().max() < COARSE_SPACING
    assert mask[hit].min() > 0.999 and mask[miss].max() < 1e-3
    # The composited "features" are the surface points themselves: origin + depth * direction.
    surface = origins + distance.unsqueeze(-1) * directions
    assert (result.features[hit] - surface[hit]).norm(dim=-1).max() < COARSE_SPACING
    # Rays that see nothing get the far end of the sampled depth range.
    assert (depth[miss] > OPTIONS.ray_end - 1e-3).all()


def test_importance_samples_concentrate_at_the_surface(device):
    origins, directions, distance, hit, _ = _sphere_scene(device)
    result = render_rays(sphere_decode, origins, directions, OPTIONS, keep_samples=True,
                         generator=torch.Generator(device).manual_seed(0))
    samples = result.samples
    total = OPTIONS.depth_resolution + OPTIONS.depth_resolution_importance
    assert samples.depths.shape == samples.sigma_raw.shape == (1, 144, total)
    assert samples.weights.shape == (1, 144, total - 1)
    assert (samples.depths[:, :, 1:] >= samples.depths[:, :, :-1]).all()
    near_surface = ((samples.depths - distance.unsqueeze(-1)).abs() < 2 * COARSE_SPACING).sum(-1)
    # Coarse strata put at most 5 samples in a band of 4 spacings; the rest come from the importance pass.
    assert near_surface[hit].float().mean() > 5 + 0.6 * OPTIONS.depth_resolution_importance
    torch.testing.assert_close(samples.weights.sum(-1), result.weights_sum[..., 0])


def test_deterministic_mode_repeats_bit_exact_and_ignores_chunking(device):
    origins, directions, *_ = _sphere_scene(device, resolution=8)
    options = dataclasses.replace(OPTIONS, deterministic=True)
    first = render_rays(sphere_decode, origins, directions, options)
    second = render_rays(sphere_decode, origins, directions, options, max_rays_per_chunk=7)
    for name in ("features", "depth", "weights_sum"):
        assert torch.equal(getattr(first, name), getattr(render_rays(sphere_decode, origins, directions, options),
                                                            name))
        torch.testing.assert_close(getattr(first, name), getattr(second, name), atol=1e-6, rtol=0)


def test_random_draws_follow_the_generator(device):
    origins, directions, *_ = _sphere_scene(device, resolution=8)

    def render(seed):
        return render_rays(sphere_decode, origins, directions, OPTIONS, keep_samples=True,
                           generator=torch.Generator(device).manual_seed(seed)).samples.depths

    assert torch.equal(render(7), render(7))
    assert not torch.equal(render(7), render(8))


def test_constant_fog_has_the_analytic_opacity(device):
    # softplus(raw - 1) = 0.5 everywhere: opacity 1 - exp(-0.5 L) over the sampled length L.
    raw = math.log(math.expm1(0.5)) + 1.0
    depths = torch.linspace(2.0, 4.0, 33, device=device).reshape(1, 1, 33, 1).repeat(1, 2, 1, 1)
    sigma_raw = torch.full_like(depths, raw)
    colour = torch.tensor([0.2, -0.4, 1.0], device=device)
    result = march(depths, sigma_raw, colour.expand(1, 2, 33, 3), density_bias=-1.0)
    expected = 1.0 - math.exp(-0.5 * 2.0)
    torch.testing.assert_close(result.weights_sum, torch.full((1, 2, 1), expected, device=device), atol=1e-5, rtol=0)
    torch.testing.assert_close(result.features, (colour * expected).expand(1, 2, 3), atol=1e-5, rtol=0)
    # Exponential attenuation: the expected depth of the first hit within [2, 4], closed form.
    rate = 0.5
    mean = 2.0 + (1.0 / rate - 2.0 * math.exp(-rate * 2.0) / (1 - math.exp(-rate * 2.0)))
    assert abs(result.depth[0, 0, 0].item() - mean) < 0.01


def test_crop_walls_in_canonical_space(device):
    camera = orbit_camera(60.0, 0.0, device=device)
    origins, directions = generate_rays(camera, 6)
    seen = []

    def shifted(points):
        return points + torch.tensor([0.3, 0.0, 0.0], device=points.device)

    def decode(points):
        seen.append(points)
        return torch.full_like(points[..., :1], 5.0), points

    options = dataclasses.replace(OPTIONS, deterministic=True)
    result = render_rays(decode, origins, directions, options, point_warp=shifted, keep_samples=True)
    depths = result.samples.depths
    canonical = origins.unsqueeze(-2) + depths.unsqueeze(-1) * directions.unsqueeze(-2) + torch.tensor(
        [0.3, 0.0, 0.0], device=device)
    limit = options.box_warp / 2 - options.triplane_crop
    outside = (canonical[..., 0].abs() > limit) | (canonical[..., 2].abs() > limit)
    assert outside.any() and (~outside).any()
    sigma = result.samples.sigma_raw
    assert (sigma[outside] == CROPPED_SIGMA).all()
    assert (sigma[~outside] == 5.0).all()
    # decode saw the warped coarse points: the stratum centres along each ray, shifted by the warp.
    count = options.depth_resolution
    spacing = (options.ray_end - options.ray_start) / (count - 1)
    coarse = torch.linspace(options.ray_start, options.ray_end, count, device=device) + spacing / 2
    expected = origins.unsqueeze(-2) + coarse[:, None] * directions.unsqueeze(-2) + torch.tensor(
        [0.3, 0.0, 0.0], device=device)
    torch.testing.assert_close(seen[0], expected.reshape(1, -1, 3), atol=1e-5, rtol=0)


def test_pdf_sampling_known_answers(device):
    edges = torch.tensor([[0.0, 1.0, 2.0, 3.0]], device=device)
    even = sample_pdf(edges, torch.ones(1, 3, device=device), 6, deterministic=True)
    torch.testing.assert_close(even, torch.tensor([[0.25, 0.75, 1.25, 1.75, 2.25, 2.75]], device=device))
    middle = sample_pdf(edges, torch.tensor([[0.0, 1.0, 0.0]], device=device), 100, deterministic=False,
                        generator=torch.Generator(device).manual_seed(0))
    assert ((middle >= 1.0) & (middle <= 2.0)).float().mean() > 0.99
    torch.testing.assert_close(smooth_weights(torch.tensor([[0.0, 1.0, 0.0, 0.0]])),
                               torch.tensor([[0.51, 1.01, 0.51, 0.01]]))


@pytest.mark.parametrize("interval", [0, -1])
def test_importance_pdf_reaches_the_first_and_last_interval(device, interval):
    # The reference's off-by-one never samples the first or last coarse interval; this pdf does.
    depths = torch.linspace(2.0, 3.0, 11, device=device).reshape(1, 1, 11, 1)
    weights = torch.zeros(1, 1, 10, 1, device=device)
    weights[0, 0, interval] = 1.0
    fine = importance_depths(depths, weights, 64, deterministic=True)[0, 0, :, 0]
    low, high = (2.0, 2.1) if interval == 0 else (2.9, 3.0)
    assert ((fine >= low) & (fine <= high)).sum() > 16
    assert not fine.requires_grad


def test_bad_ray_shapes_are_named():
    with pytest.raises(ValueError, match="origins and directions"):
        render_rays(sphere_decode, torch.zeros(1, 4, 3), torch.zeros(1, 5, 3), OPTIONS)


def test_no_crop_above_or_below_the_box(device):
    # A ray through x = 0 at height y = 0.45 (outside the box's half-side in y) keeps its density inside |z| <= 0.4.
    origins = torch.tensor([[[0.0, 0.45, 2.7]]], device=device)
    directions = torch.tensor([[[0.0, 0.0, -1.0]]], device=device)
    options = dataclasses.replace(OPTIONS, deterministic=True)
    result = render_rays(lambda p: (torch.full_like(p[..., :1], 5.0), p), origins, directions, options,
                         keep_samples=True)
    z = 2.7 - result.samples.depths[0, 0]
    sigma = result.samples.sigma_raw[0, 0]
    assert (sigma[z.abs() <= 0.39] == 5.0).all() and (sigma[z.abs() > 0.41] == CROPPED_SIGMA).all()


def test_merged_render_equals_marching_the_sorted_samples_with_gradients(device):
    # render_rays composites coarse and fine features without sorting them; marching the sorted, re-decoded
    # samples directly must give the same values and the same gradients.
    origins, directions, *_ = _sphere_scene(device, resolution=6)
    scale = torch.tensor(1.7, device=device, requires_grad=True)
    centre = torch.tensor(CENTRE, device=device)

    def decode(points):
        sigma_raw = scale * 40.0 * (RADIUS - (points - centre).norm(dim=-1, keepdim=True))
        return sigma_raw, torch.sin(5.0 * points) * scale

    result = render_rays(decode, origins, directions, OPTIONS, keep_samples=True,
                         generator=torch.Generator(device).manual_seed(1))
    loss = (result.features * torch.arange(3.0, device=device)).sum() + result.depth.sum() + result.weights_sum.sum()
    (grad,) = torch.autograd.grad(loss, scale)

    depths = result.samples.depths.unsqueeze(-1)
    points = (origins.unsqueeze(-2) + depths * directions.unsqueeze(-2)).reshape(1, -1, 3)
    sigma_raw, features = decode(points)
    limit = OPTIONS.box_warp / 2 - OPTIONS.triplane_crop
    outside = (points[..., 0].abs() > limit) | (points[..., 2].abs() > limit)
    sigma_raw = sigma_raw.masked_fill(outside.unsqueeze(-1), CROPPED_SIGMA)
    direct = march(depths, sigma_raw.reshape(depths.shape), features.reshape(*depths.shape[:3], 3),
                   OPTIONS.density_bias)
    torch.testing.assert_close(result.features, direct.features, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(result.weights_sum, direct.weights_sum, atol=1e-6, rtol=1e-5)
    hit = result.weights_sum[..., 0] > 1e-3
    torch.testing.assert_close(result.depth[hit], direct.depth[hit], atol=1e-5, rtol=1e-5)
    direct_depth = direct.depth.clamp(depths.min(), depths.max())
    direct_loss = (direct.features * torch.arange(3.0, device=device)).sum() + direct_depth.sum() + \
        direct.weights_sum.sum()
    (direct_grad,) = torch.autograd.grad(direct_loss, scale)
    assert torch.isfinite(grad), "rays that miss everything must not poison the gradient"
    torch.testing.assert_close(grad, direct_grad, atol=1e-4, rtol=1e-4)


def test_automatic_chunks_bound_the_points_per_decode(device, monkeypatch):
    import core.rendering.volume as volume

    origins, directions, *_ = _sphere_scene(device, resolution=8)
    options = dataclasses.replace(OPTIONS, deterministic=True)
    whole = render_rays(sphere_decode, origins, directions, options)
    sizes = []

    def counting_decode(points):
        sizes.append(points.shape[1])
        return sphere_decode(points)

    for bound in ("MAX_POINTS_PER_DECODE", "CPU_POINTS_PER_DECODE"):  # whichever the device reads
        monkeypatch.setattr(volume, bound, 10 * OPTIONS.depth_resolution)
    chunked = render_rays(counting_decode, origins, directions, options)
    assert max(sizes) <= 10 * OPTIONS.depth_resolution and len(sizes) == 2 * math.ceil(64 / 10)
    torch.testing.assert_close(chunked.depth, whole.depth, atol=1e-6, rtol=0)
    torch.testing.assert_close(chunked.features, whole.features, atol=1e-6, rtol=0)


def test_cpu_render_chunks_run_side_by_side_with_the_same_result():
    import threading

    origins, directions, *_ = _sphere_scene(torch.device("cpu"), resolution=16)
    options = dataclasses.replace(OPTIONS, deterministic=True)
    threads = []

    def recording_decode(points):
        threads.append(threading.current_thread().name)
        return sphere_decode(points)

    before = torch.get_num_threads()
    try:
        with torch.no_grad():
            one_by_one = render_rays(sphere_decode, origins, directions, options, max_rays_per_chunk=256)
            torch.set_num_threads(2)
            side_by_side = render_rays(recording_decode, origins, directions, options, max_rays_per_chunk=30)
            threads_after = torch.get_num_threads()
            count = len(threads)
            random_options = dataclasses.replace(OPTIONS, deterministic=False)
            render_rays(recording_decode, origins, directions, random_options, max_rays_per_chunk=30)
    finally:
        torch.set_num_threads(before)
    assert all(name.startswith("cores") for name in threads[:count]) and threads_after == 2
    # Random draws keep their order: those chunks run one after another on the caller's thread.
    assert set(threads[count:]) == {threading.current_thread().name}
    for name in ("features", "depth", "weights_sum"):
        torch.testing.assert_close(getattr(side_by_side, name), getattr(one_by_one, name), atol=1e-6, rtol=0)


def test_coarse_only_rendering_still_finds_the_surface(device):
    origins, directions, distance, hit, miss = _sphere_scene(device)
    options = dataclasses.replace(OPTIONS, depth_resolution_importance=0)
    result = render_rays(sphere_decode, origins, directions, options, keep_samples=True)
    assert result.samples.depths.shape[-1] == OPTIONS.depth_resolution
    assert (result.depth[..., 0][hit] - distance[hit]).abs().max() < COARSE_SPACING
    assert result.weights_sum[..., 0][miss].max() < 1e-3


def test_cpu_renders_decode_in_calls_small_enough_for_the_caches_and_training_in_whole_ones():
    import core.rendering.volume as volume

    origins, directions, *_ = _sphere_scene(torch.device("cpu"), resolution=48)  # 2304 rays
    sizes = []

    def counting_decode(points):
        sizes.append(points.shape[1])
        return sphere_decode(points)

    with torch.no_grad():
        render_rays(counting_decode, origins, directions, dataclasses.replace(OPTIONS, deterministic=True))
    assert len(sizes) > 2 and max(sizes) <= volume.CPU_POINTS_PER_DECODE
    assert sum(sizes) == 2304 * (OPTIONS.depth_resolution + OPTIONS.depth_resolution_importance)  # every sample once
    sizes.clear()
    render_rays(counting_decode, origins, directions, OPTIONS)  # gradients on, as in training
    assert sizes == [2304 * OPTIONS.depth_resolution, 2304 * OPTIONS.depth_resolution_importance]
