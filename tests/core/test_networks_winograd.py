"""Winograd F(4x4, 3x3) convolutions equal torch's direct convolution to float rounding, and serve only renders of
wide layers on large maps (training keeps the direct convolution and its backward)."""
import pytest
import torch
import torch.nn.functional as F

from core.config import preset
from core.networks import layers, winograd
from core.networks.layers import modulated_conv2d

needs_numba = pytest.mark.skipif(not winograd.available(), reason="numba missing")


def _relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


@needs_numba
@pytest.mark.parametrize("height, width", [(8, 8), (13, 9), (67, 70)])  # whole tiles, partial tiles and chunks
@pytest.mark.parametrize("channels_last", [False, True])
def test_winograd_equals_the_direct_convolution(height, width, channels_last):
    generator = torch.Generator().manual_seed(height)
    x = torch.randn(1, 24, height, width, generator=generator)
    weight = torch.randn(40, 24, 3, 3, generator=generator) / 15  # outputs of about unit size
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = F.conv2d(x, weight, padding=1)
    got = winograd.conv3x3(x, weight)
    assert got.shape == expected.shape and got.is_contiguous(memory_format=torch.channels_last)
    # F(4x4, 3x3) in float32 rounds to ~1e-5 of the outputs' size; a wrong transform or patch is off by ~1.
    assert _relative_error(got, expected) < 3e-5
    # The borders (zero padding) are where a wrong patch offset shows first.
    assert torch.allclose(got[..., 0, :], expected[..., 0, :], atol=1e-4)
    assert torch.allclose(got[..., :, -1], expected[..., :, -1], atol=1e-4)


def test_only_renders_of_wide_layers_on_large_maps_take_it():
    x = torch.randn(1, 128, 128, 128)
    weight = torch.randn(64, 128, 3, 3)
    assert winograd.applies(x, weight, 1, 1, 1) == winograd.available()
    refused = [
        (torch.randn(2, 128, 128, 128), weight, 1, 1, 1),  # a batch
        (torch.randn(1, 64, 256, 256), torch.randn(64, 64, 3, 3), 1, 1, 1),  # narrow
        (torch.randn(1, 512, 32, 32), torch.randn(64, 512, 3, 3), 1, 1, 1),  # a small map (0.5M values)
        (x, weight, 2, 1, 1), (x, weight, 1, 0, 1), (x, torch.randn(64, 64, 3, 3), 1, 1, 2),
        (x, torch.randn(64, 128, 1, 1), 1, 0, 1), (x.double(), weight.double(), 1, 1, 1),
    ]
    for arguments in refused:
        assert not winograd.applies(*arguments)
    tracked = weight.clone().requires_grad_(True)
    assert not winograd.applies(x, tracked, 1, 1, 1)  # training: the direct convolution and its backward
    with torch.no_grad():
        assert winograd.applies(x, tracked, 1, 1, 1) == winograd.available()


def test_a_missing_numba_keeps_the_direct_convolution(monkeypatch):
    monkeypatch.setattr(winograd, "available", lambda: False)
    assert not winograd.applies(torch.randn(1, 128, 128, 128), torch.randn(8, 128, 3, 3), 1, 1, 1)


@needs_numba
def test_a_rendered_modulated_convolution_takes_it_and_agrees_with_training(monkeypatch):
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 128, 128, 128, generator=generator)
    weight = torch.randn(32, 128, 3, 3, generator=generator)
    styles = torch.randn(1, 128, generator=generator) + 1
    calls = []
    real = winograd.conv3x3
    monkeypatch.setattr(winograd, "conv3x3", lambda *arguments: calls.append(1) or real(*arguments))
    with torch.no_grad():
        rendered = modulated_conv2d(x, weight, styles, padding=1)
    assert calls == [1]
    trained = modulated_conv2d(x, weight.requires_grad_(True), styles, padding=1)
    assert calls == [1] and trained.grad_fn is not None
    assert _relative_error(rendered, trained.detach()) < 3e-5


@needs_numba
def test_preparing_leaves_no_compilation_for_the_first_frame():
    winograd.prepare()
    before = [list(kernel.signatures) for kernel in winograd._kernels()]
    with torch.no_grad():
        layers._conv(torch.randn(1, 128, 128, 128), torch.randn(8, 128, 3, 3), 1, 1, 1, True)
    assert [list(kernel.signatures) for kernel in winograd._kernels()] == before
    assert all(len(signatures) == 1 for signatures in before)


def test_the_paper_sized_models_are_the_ones_warmed_up_for_it():
    assert {name: winograd.used_by(preset(name)) for name in ("tiny", "small", "paper-256", "paper-512")} == {
        "tiny": False, "small": False, "paper-256": True, "paper-512": True}
