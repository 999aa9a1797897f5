"""StyleGAN2 layers against direct reference computations: FIR resampling, resampling convolutions,
modulated convolution, equalised learning rate and bias + activation."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.networks.filters import downsample2d, setup_filter, upfirdn2d, upsample2d
from core.networks.layers import (
    Conv2dLayer,
    FullyConnectedLayer,
    bias_act,
    conv2d_resample,
    modulated_conv2d,
    normalize_2nd_moment,
)


def _direct_upfirdn2d(image: np.ndarray, kernel: np.ndarray, up: int, down: int, pad: tuple[int, int, int, int]):
    """Textbook upfirdn on one 2-D image with loops: zero-insert, pad/crop, true convolution, decimate."""
    height, width = image.shape
    upsampled = np.zeros((height * up, width * up))
    upsampled[::up, ::up] = image
    x0, x1, y0, y1 = pad
    padded = np.zeros((upsampled.shape[0] + max(y0, 0) + max(y1, 0), upsampled.shape[1] + max(x0, 0) + max(x1, 0)))
    padded[max(y0, 0):max(y0, 0) + upsampled.shape[0], max(x0, 0):max(x0, 0) + upsampled.shape[1]] = upsampled
    padded = padded[max(-y0, 0):padded.shape[0] - max(-y1, 0), max(-x0, 0):padded.shape[1] - max(-x1, 0)]
    taps = kernel.shape[0]
    out = np.zeros((padded.shape[0] - taps + 1, padded.shape[1] - taps + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            # True convolution: the kernel is applied reversed.
            out[i, j] = sum(padded[i + a, j + b] * kernel[taps - 1 - a, taps - 1 - b]
                            for a in range(taps) for b in range(taps))
    return out[::down, ::down]


def test_setup_filter_is_normalised_binomial_outer_product():
    expected = np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0
    np.testing.assert_allclose(setup_filter().numpy(), expected, rtol=0, atol=1e-7)


# Without a gradient to carry (renders, frozen models) the CPU takes channels-last, in-place and crop-by-view paths.
TRACKED = [pytest.param(True, id="tracked"), pytest.param(False, id="untracked")]


@pytest.mark.parametrize("tracked", TRACKED)
@pytest.mark.parametrize("taps", [3, 4])
@pytest.mark.parametrize("up, down, pad", [(1, 1, (1, 2, 1, 2)), (2, 1, (2, 1, 2, 1)), (1, 2, (1, 1, 1, 1)),
                                           (2, 1, (-1, 3, 0, -2)), (2, 2, (1, 2, 2, 1)), (1, 1, (2, 2, 1, 1)),
                                           (2, 1, (1, 0, 1, 0))])
def test_upfirdn2d_matches_direct_convolution(device, up, down, pad, taps, tracked):
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(7, 6, generator=generator, dtype=torch.float64)
    # An asymmetric kernel catches a missing flip; 4 taps take the polyphase upsampling path, 3 the other.
    kernel = torch.randn(taps, taps, generator=generator, dtype=torch.float64)
    source = image[None, None].to(device).requires_grad_(tracked)
    result = upfirdn2d(source, kernel.to(device), up=up, down=down, padding=pad).detach()
    expected = _direct_upfirdn2d(image.numpy(), kernel.numpy(), up, down, pad)
    assert result.shape[-2:] == expected.shape
    np.testing.assert_allclose(result[0, 0].cpu().numpy(), expected, atol=1e-10)


def test_resampling_keeps_constant_images_and_sizes(device):
    kernel = setup_filter(device=device)
    constant = torch.full((2, 3, 8, 8), 0.7, device=device)
    up = upsample2d(constant, kernel)
    down = downsample2d(constant, kernel)
    assert up.shape == (2, 3, 16, 16) and down.shape == (2, 3, 4, 4)
    # Away from the zero-padded border the gain keeps the value exactly.
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 0.7))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 0.7))


@pytest.mark.parametrize("tracked", TRACKED)
@pytest.mark.parametrize("flip_weight", [True, False])
def test_upsampling_conv_equals_fir_upsample_then_valid_conv(device, flip_weight, tracked):
    kernel = setup_filter(device=device)
    x = torch.randn(2, 3, 8, 8, device=device)
    weight = torch.randn(5, 3, 3, 3, device=device)
    fast = conv2d_resample(x.clone().requires_grad_(tracked), weight, kernel, up=2, padding=1,
                           flip_weight=flip_weight).detach()
    # Full support of the upsampled signal: 1 more pixel each side than the centred 2x upsampling.
    upsampled = upfirdn2d(x, kernel, up=2, padding=(3, 2, 3, 2), gain=4)
    correlation_weight = weight if flip_weight else weight.flip([2, 3])
    torch.testing.assert_close(fast, F.conv2d(upsampled, correlation_weight), atol=1e-4, rtol=1e-4)
    assert fast.shape == (2, 5, 16, 16)


def test_downsampling_conv_equals_filter_then_strided_conv(device):
    kernel = setup_filter(device=device)
    x = torch.randn(2, 3, 8, 8, device=device)
    weight = torch.randn(4, 3, 3, 3, device=device)
    result = conv2d_resample(x, weight, kernel, down=2, padding=1)
    expected = F.conv2d(upfirdn2d(x, kernel, padding=2), weight)[..., ::2, ::2]
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=1e-5)
    skip = conv2d_resample(x, weight[:, :, :1, :1], kernel, down=2)
    torch.testing.assert_close(skip, F.conv2d(downsample2d(x, kernel), weight[:, :, :1, :1]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_with_unit_styles_and_no_demod_is_plain_conv(device, fused, up):
    kernel = setup_filter(device=device)
    x = torch.randn(3, 4, 8, 8, device=device)
    weight = torch.randn(6, 4, 3, 3, device=device)
    styles = torch.ones(3, 4, device=device)
    result = modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=kernel, demodulate=False,
                              fused=fused)
    expected = conv2d_resample(x, weight, kernel, up=up, padding=1)
    torch.testing.assert_close(result, expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("batch", [1, 3])
def test_modulated_conv_without_gradients_equals_the_tracked_path_and_keeps_the_noise(device, batch):
    """Nothing tracked: batch 1 skips the reshape, the upsampling runs channels-last on a CPU, noise goes in place."""
    kernel = setup_filter(device=device)
    x = torch.randn(batch, 4, 8, 8, device=device)
    weight = torch.randn(6, 4, 3, 3, device=device)
    styles = torch.rand(batch, 4, device=device) + 0.5
    noise = torch.randn(1, 1, 16, 16, device=device)
    kept = noise.clone()
    for fused in (True, False):
        tracked = modulated_conv2d(x.clone().requires_grad_(True), weight, styles, noise=noise, up=2, padding=1,
                                   resample_filter=kernel, fused=fused).detach()
        with torch.no_grad():
            untracked = modulated_conv2d(x, weight, styles, noise=noise, up=2, padding=1, resample_filter=kernel,
                                         fused=fused)
        torch.testing.assert_close(untracked, tracked, atol=1e-5, rtol=1e-5)
        assert torch.equal(noise, kept) and untracked.shape == (batch, 6, 16, 16)


def test_modulated_conv_fused_equals_unfused_and_demodulation_normalises(device):
    x = torch.randn(3, 4, 8, 8, device=device)
    weight = torch.randn(6, 4, 3, 3, device=device)
    styles = torch.rand(3, 4, device=device) + 0.5
    noise = torch.randn(1, 1, 8, 8, device=device)
    fused = modulated_conv2d(x, weight, styles, noise=noise, padding=1, fused=True)
    unfused = modulated_conv2d(x, weight, styles, noise=noise, padding=1, fused=False)
    torch.testing.assert_close(fused, unfused, atol=1e-4, rtol=1e-4)
    # Demodulation divides out any per-sample scale of the styles.
    scaled = modulated_conv2d(x, weight, styles * 7.0, noise=noise, padding=1)
    torch.testing.assert_close(scaled, fused, atol=1e-4, rtol=1e-4)
    # Per sample it equals a plain convolution with weights w * s / ||w * s||.
    per_sample = weight * styles[1].reshape(1, -1, 1, 1)
    per_sample = per_sample / per_sample.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
    torch.testing.assert_close(fused[1:2], F.conv2d(x[1:2], per_sample, padding=1) + noise, atol=1e-4, rtol=1e-4)


def test_fully_connected_layer_equalised_learning_rate():
    layer = FullyConnectedLayer(4, 3, activation="linear", lr_multiplier=0.01, bias_init=0.5)
    # Stored weights are N(0, 1) / lr; the effective initial bias is exactly bias_init.
    torch.testing.assert_close(layer.bias * layer.bias_gain, torch.full((3,), 0.5))
    with torch.no_grad():
        layer.weight.fill_(2.0)
        layer.bias.fill_(10.0)
    x = torch.ones(2, 4)
    expected = 4 * 2.0 * 0.01 / math.sqrt(4) + 10.0 * 0.01
    torch.testing.assert_close(layer(x), torch.full((2, 3), expected))


def test_bias_act_lrelu_gain_and_clamp():
    x = torch.tensor([[-1.0, 2.0, 300.0]]).reshape(1, 3, 1, 1)
    bias = torch.tensor([0.0, 1.0, 0.0])
    result = bias_act(x, bias, activation="lrelu", clamp=256.0).flatten()
    torch.testing.assert_close(result, torch.tensor([-0.2 * math.sqrt(2), 3 * math.sqrt(2), 256.0]))
    torch.testing.assert_close(bias_act(x, activation="linear").flatten(), x.flatten())
    with pytest.raises(ValueError, match="unknown activation"):
        bias_act(x, activation="swish")


def test_normalize_2nd_moment_gives_unit_second_moment():
    x = torch.randn(5, 16) * 9.0
    torch.testing.assert_close(normalize_2nd_moment(x).square().mean(dim=1), torch.ones(5), atol=1e-5, rtol=1e-5)


def test_conv2d_layer_downsamples_for_the_discriminator(device):
    layer = Conv2dLayer(3, 8, kernel_size=3, activation="lrelu", down=2).to(device)
    assert layer(torch.randn(2, 3, 16, 16, device=device)).shape == (2, 8, 8, 8)
    skip = Conv2dLayer(3, 2, kernel_size=1, bias=False, down=2).to(device)
    assert skip.bias is None
    with torch.no_grad():
        skip.weight.fill_(1.0)
    # A 1x1 all-ones skip of a constant image: constant * channels * weight gain, inside the border.
    out = skip(torch.ones(1, 3, 8, 8, device=device))
    torch.testing.assert_close(out[..., 1:-1, 1:-1], torch.full_like(out[..., 1:-1, 1:-1], 3 / math.sqrt(3)))


@pytest.mark.parametrize("fused", [True, False])
def test_half_precision_modulated_conv_is_prenormalised_against_overflow(device, fused):
    x = torch.randn(2, 4, 8, 8, device=device)
    weight = torch.randn(6, 4, 3, 3, device=device)
    # Styles this large overflow float16 (max 65504) unless rescaled before the convolution.
    styles = (torch.rand(2, 4, device=device) + 0.5) * 1e4
    expected = modulated_conv2d(x, weight, styles, padding=1)
    half = modulated_conv2d(x.half(), weight, styles, padding=1, fused=fused)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), expected, atol=2e-2, rtol=2e-2)


def test_bias_act_in_place_without_gradients_matches_and_keeps_its_input():
    from core.networks.layers import bias_act

    torch.manual_seed(0)
    x, bias = torch.randn(2, 4, 5, 5) * 300, torch.randn(4)
    expected = (torch.nn.functional.leaky_relu(x + bias.reshape(1, -1, 1, 1), 0.2) * 2 ** 0.5).clamp(-256, 256)
    before = x.clone()
    with torch.no_grad():
        got = bias_act(x, bias, "lrelu", clamp=256)
        no_bias = bias_act(x, None, "lrelu", clamp=256)  # the caller's tensor is never edited
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    assert torch.equal(x, before)
    torch.testing.assert_close(no_bias, (torch.nn.functional.leaky_relu(x, 0.2) * 2 ** 0.5).clamp(-256, 256))
    trained = torch.nn.Parameter(bias.clone())  # with gradients the steps stay out of place and backpropagate
    bias_act(x, trained, "lrelu", clamp=256).sum().backward()
    assert trained.grad is not None and float(trained.grad.abs().sum()) > 0
    owned = x.clone()  # a tensor the caller hands over: without gradients even the bias goes in place
    with torch.no_grad():
        result = bias_act(owned, bias, "lrelu", clamp=256, owned=True)
    assert result.data_ptr() == owned.data_ptr()
    torch.testing.assert_close(result, expected, rtol=0, atol=0)
    tracked = x.clone().requires_grad_(True)
    assert bias_act(tracked, bias, "lrelu", clamp=256, owned=True).data_ptr() != tracked.data_ptr()
