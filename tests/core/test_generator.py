"""TriGridGenerator behaviour on the tiny preset: shapes, determinism, density lookups, background compositing."""
from __future__ import annotations

import dataclasses

import torch

from core.camera import mirror_camera, mirror_pose, orbit_camera
from core.config import preset
from core.generator import TriGridGenerator

CONFIG = preset("tiny")
DETERMINISTIC = dataclasses.replace(CONFIG.rendering, deterministic=True)


def _generator(device) -> TriGridGenerator:
    return TriGridGenerator(CONFIG).to(device).eval()


def _camera(device, yaw=(20.0,), pitch=(5.0,)) -> torch.Tensor:
    return orbit_camera(torch.tensor(yaw, device=device), torch.tensor(pitch, device=device), device=device)


def _set_density_bias(generator: TriGridGenerator, raw_sigma: float) -> None:
    """Make the decoder's raw density `raw_sigma` plus a small feature-dependent term everywhere."""
    with torch.no_grad():
        generator.decoder.net[2].bias[0] = raw_sigma / generator.decoder.net[2].bias_gain


@torch.no_grad()
def test_forward_shapes_finite_and_timed(device):
    generator = _generator(device)
    z = torch.randn(2, CONFIG.z_dim, device=device)
    out = generator(z, _camera(device, (30.0, -60.0), (0.0, 10.0)), rendering=DETERMINISTIC)
    res, neural = CONFIG.img_resolution, CONFIG.neural_resolution
    assert out.image.shape == (2, 3, res, res)
    assert out.image_raw.shape == out.image_background.shape == (2, 3, neural, neural)
    assert out.image_depth.shape == out.image_mask.shape == (2, 1, neural, neural)
    for image in (out.image, out.image_raw, out.image_depth, out.image_mask, out.image_background):
        assert torch.isfinite(image).all()
    rendering = CONFIG.rendering
    assert out.image_depth.min() >= rendering.ray_start and out.image_depth.max() <= rendering.ray_end
    assert out.image_mask.min() >= -0.001 and out.image_mask.max() <= 1.001
    assert set(out.timings_ms) == {"mapping", "trigrid", "rendering", "superresolution"}


@torch.no_grad()
def test_planes_are_the_backbone_output_split_into_three(device):
    generator = _generator(device)
    ws = generator.mapping(torch.randn(1, CONFIG.z_dim, device=device), _camera(device))
    planes = generator.synthesize_trigrid(ws)
    channels = CONFIG.triplane_channels * CONFIG.triplane_depth
    size = CONFIG.backbone_resolution
    assert planes.shape == (1, 3, channels, size, size)
    flat = generator.backbone.synthesis(ws, noise_mode="const")
    torch.testing.assert_close(planes[:, 2], flat[:, 2 * channels:])


@torch.no_grad()
def test_fixed_seed_gives_identical_renders(device):
    def render(seed: int, deterministic: bool):
        torch.manual_seed(0)
        generator = _generator(device)
        z = torch.randn(1, CONFIG.z_dim, device=device)
        rendering = DETERMINISTIC if deterministic else CONFIG.rendering
        draws = torch.Generator(device=device).manual_seed(seed)
        return generator(z, _camera(device), rendering=rendering, generator=draws, noise_mode="const")

    # Bit-exact on the CPU; GPU kernels may pick differently ordered reductions between runs.
    tolerance = 0.0 if device.type == "cpu" else 1e-5
    first, second = render(1, True), render(2, True)
    torch.testing.assert_close(first.image, second.image, rtol=0, atol=tolerance)
    torch.testing.assert_close(first.image_depth, second.image_depth, rtol=0, atol=tolerance)
    jittered_a, jittered_b, jittered_other = render(1, False), render(1, False), render(2, False)
    torch.testing.assert_close(jittered_a.image, jittered_b.image, rtol=0, atol=tolerance)
    assert not torch.equal(jittered_a.image_depth, jittered_other.image_depth)


@torch.no_grad()
def test_a_kept_background_renders_the_same_pixels_and_is_used(device):
    torch.manual_seed(3)
    generator = _generator(device)
    ws = generator.mapping(torch.randn(1, CONFIG.z_dim, device=device), _camera(device), None)
    planes = generator.synthesize_trigrid(ws)
    options = dict(rendering=DETERMINISTIC, outputs=("image", "image_raw"))
    made_here = generator.render(ws, planes, _camera(device, yaw=(40.0,)), **options)
    kept = generator.synthesize_background(ws)
    given = generator.render(ws, planes, _camera(device, yaw=(40.0,)), background=kept, **options)
    tolerance = 0.0 if device.type == "cpu" else 1e-5
    torch.testing.assert_close(given.image, made_here.image, rtol=0, atol=tolerance)
    other = generator.render(ws, planes, _camera(device, yaw=(40.0,)), background=kept + 5.0, **options)
    assert not torch.allclose(other.image_raw, made_here.image_raw)  # the given background is the one shown


@torch.no_grad()
def test_sample_density_matches_hand_decoding_of_planted_planes(device):
    generator = _generator(device)
    channels, depth, size = CONFIG.triplane_channels, CONFIG.triplane_depth, CONFIG.backbone_resolution
    offsets = torch.randn(3, channels, device=device)
    slopes = torch.randn(3, channels, device=device)
    # Plane k, channel c, slice d holds offsets[k, c] + slopes[k, c] * d, constant within the plane.
    slice_index = torch.arange(depth, device=device, dtype=torch.float32)
    values = offsets[:, :, None] + slopes[:, :, None] * slice_index  # [3, C, D]
    planes = values.reshape(1, 3, channels * depth, 1, 1).expand(1, 3, channels * depth, size, size).contiguous()
    point = torch.tensor([0.1, -0.15, 0.2], device=device)
    sigma, features = generator.sample_density(planes, point.reshape(1, 1, 3))

    # Depth axes: plane 0 -> z, plane 1 -> y, plane 2 -> x; normalised u = 2 p / box maps to slice 1 + 1.5 u.
    normalised = 2 * point / CONFIG.rendering.box_warp
    slice_position = 1 + 1.5 * normalised[[2, 1, 0]]
    mean_feature = (offsets + slopes * slice_position[:, None]).mean(dim=0)
    first, second = generator.decoder.net[0], generator.decoder.net[2]
    hidden = torch.nn.functional.softplus(mean_feature @ (first.weight * first.weight_gain).t()
                                          + first.bias * first.bias_gain)
    output = hidden @ (second.weight * second.weight_gain).t() + second.bias * second.bias_gain
    torch.testing.assert_close(sigma.reshape(1), output[:1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(features.reshape(-1), output[1:], atol=1e-4, rtol=1e-4)


@torch.no_grad()
def test_empty_scene_shows_only_the_background(device):
    generator = _generator(device)
    _set_density_bias(generator, -100.0)
    z = torch.randn(1, CONFIG.z_dim, device=device)
    out = generator(z, _camera(device), rendering=DETERMINISTIC)
    torch.testing.assert_close(out.image_mask, torch.full_like(out.image_mask, -0.001))
    torch.testing.assert_close(out.image_raw, out.image_background, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_opaque_box_hides_the_background_at_the_crop_wall(device):
    generator = _generator(device)
    _set_density_bias(generator, 1000.0)
    ws = generator.mapping(torch.randn(1, CONFIG.z_dim, device=device), _camera(device))
    planes = generator.synthesize_trigrid(ws)
    front = orbit_camera(0.0, 0.0, device=device)
    out = generator.render(ws, planes, front, rendering=DETERMINISTIC)
    other = generator.render(ws, planes, front, rendering=DETERMINISTIC, ws_background=torch.randn_like(ws))
    torch.testing.assert_close(out.image_mask, torch.full_like(out.image_mask, 1.001))
    torch.testing.assert_close(out.image_raw, other.image_raw)
    assert not torch.allclose(out.image_background, other.image_background)
    # The front camera at 2.7 meets the crop wall z = 0.5 - 0.1 after 2.3; samples are 1.05 / 23 apart.
    wall = 2.7 - (CONFIG.rendering.box_warp / 2 - CONFIG.rendering.triplane_crop)
    centre = out.image_depth[0, 0, 15:17, 15:17]
    assert (centre - wall).abs().max() < 1.05 / 23


@torch.no_grad()
def test_point_warp_is_applied_before_the_crop(device):
    generator = _generator(device)
    _set_density_bias(generator, 1000.0)
    ws = generator.mapping(torch.randn(1, CONFIG.z_dim, device=device), _camera(device))
    planes = generator.synthesize_trigrid(ws)
    camera = _camera(device)
    plain = generator.render(ws, planes, camera, rendering=DETERMINISTIC, outputs=("image_raw",))
    identity = generator.render(ws, planes, camera, rendering=DETERMINISTIC, point_warp=lambda points: points,
                                outputs=("image_raw",))
    torch.testing.assert_close(identity.image_raw, plain.image_raw)
    assert plain.image is None and plain.image_background is None and "superresolution" not in plain.timings_ms
    away = generator.render(ws, planes, camera, rendering=DETERMINISTIC, point_warp=lambda points: points + 5.0,
                            outputs=("image_raw",))
    torch.testing.assert_close(away.image_mask, torch.full_like(away.image_mask, -0.001))


@torch.no_grad()
def test_mapping_condition_and_pose_branch(device):
    generator = _generator(device)
    z = torch.randn(3, CONFIG.z_dim, device=device)
    camera = _camera(device, (40.0, -70.0, 150.0), (0.0, 5.0, -10.0))
    zero_pose = torch.zeros(3, CONFIG.pose_dim, device=device)
    torch.testing.assert_close(generator.mapping(z, camera), generator.mapping(z, camera, zero_pose))
    posed = generator.mapping(z, camera, torch.full_like(zero_pose, 0.3))
    assert not torch.allclose(posed, generator.mapping(z, camera))
    assert generator.mapping(z, camera, truncation_psi=0.0).abs().max() == 0  # w_avg starts at zero
    pose = generator.predict_pose(z, camera)
    torch.testing.assert_close(generator.predict_pose(z, mirror_camera(camera)), mirror_pose(pose),
                               atol=1e-5, rtol=1e-5)


def test_training_forward_backpropagates_to_every_rendering_parameter(device):
    generator = TriGridGenerator(CONFIG).to(device).train()
    z = torch.randn(2, CONFIG.z_dim, device=device)
    out = generator(z, _camera(device, (10.0, -30.0), (0.0, 0.0)), noise_mode="random", neural_resolution=16)
    (out.image.square().mean() + out.image_raw.mean() + out.image_mask.mean()).backward()
    # The pose branch has its own loss and super-resolution runs without noise; all else must get a gradient.
    unused = [name for name, _ in generator.named_parameters()
              if name.startswith("pose_branch.") or (name.startswith("superresolution.")
                                                     and name.endswith("noise_strength"))]
    missing = [name for name, parameter in generator.named_parameters()
               if name not in unused and (parameter.grad is None or not torch.isfinite(parameter.grad).all())]
    assert missing == []
    assert len(unused) == 6 + 4  # 3 pose layers x (weight, bias), 2 blocks x 2 noisy layers
