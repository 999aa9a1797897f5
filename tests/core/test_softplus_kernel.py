"""The compiled bias + softplus of the decoder's hidden layer: as close to float64 as torch's float32 softplus, the
same decoder outputs to float rounding, and only in renders (gradients keep torch's)."""
import math

import pytest
import torch
import torch.nn.functional as F

from core.networks import softplus_kernel
from core.networks.heads import OSGDecoder

pytestmark = pytest.mark.skipif(not softplus_kernel.available(), reason="numba missing")


def test_softplus_matches_float64_as_closely_as_torch_over_the_whole_range():
    softplus_kernel.prepare()
    generator = torch.Generator().manual_seed(0)
    hidden = torch.cat([torch.randn(4096, 33, generator=generator) * 6,  # 33: a width the vector loop does not divide
                        torch.linspace(-40, 40, 4096 * 33).reshape(4096, 33)])
    bias = torch.randn(33, generator=generator)
    exact = F.softplus(hidden.double() + bias.double())
    got = softplus_kernel.bias_softplus_(hidden.clone(), bias).double()
    torch_error = (F.softplus(hidden + bias).double() - exact).abs()
    ours = (got - exact).abs()
    assert float(ours.max()) <= float(torch_error.max()) + 2e-7, (float(ours.max()), float(torch_error.max()))
    # Relative to the value where softplus is tiny (large negative inputs) until the 24 cap, 4e-11 absolute beyond.
    small = (exact > 1e-9) & (exact < 0.1)
    assert float((ours[small] / exact[small]).max()) < 1e-5
    assert float(ours[exact <= 1e-9].max()) < 4e-11


def test_edge_values_inf_and_nan():
    softplus_kernel.prepare()
    values = torch.tensor([[-math.inf, -100.0, -24.0, 0.0, 20.0, 20.5, 100.0, math.inf, math.nan]])
    got = softplus_kernel.bias_softplus_(values.clone(), torch.zeros(values.shape[1]))
    expected = F.softplus(values)
    assert torch.allclose(got[:, :-1], expected[:, :-1], atol=4e-11, rtol=0, equal_nan=False)
    assert bool(torch.isnan(got[0, -1]))  # a broken activation stays visible


def test_the_decoder_gives_the_same_outputs_and_gradients_keep_torch(monkeypatch):
    softplus_kernel.prepare()
    torch.manual_seed(1)
    decoder = OSGDecoder(16, 32)
    with torch.no_grad():
        for parameter in decoder.parameters():
            parameter.normal_()
    features = torch.randn(2, 3000, 16)
    with torch.inference_mode():
        sigma, rest = decoder(features)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):  # bfloat16 products: torch's way
        sigma_half, _ = decoder(features)
    assert sigma_half.dtype == torch.bfloat16 and float((sigma_half.float() - sigma).abs().max()) < 0.2
    monkeypatch.setattr(softplus_kernel, "ready", lambda: False)
    with torch.inference_mode():
        sigma_torch, rest_torch = decoder(features)
    torch.testing.assert_close(sigma, sigma_torch, atol=2e-5, rtol=1e-5)
    torch.testing.assert_close(rest, rest_torch, atol=2e-5, rtol=1e-5)
    calls = []
    monkeypatch.setattr(softplus_kernel, "ready", lambda: True)
    monkeypatch.setattr(softplus_kernel, "bias_softplus_", lambda *args: calls.append(1))
    decoder(features)[0].sum().backward()  # training: the parameters record gradients, torch's softplus runs
    assert not calls and decoder.net[0].weight.grad is not None
