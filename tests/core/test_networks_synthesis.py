"""Mapping (truncation, w_avg), synthesis (ws index pattern, noise modes) and super-resolution."""
from __future__ import annotations

import pytest
import torch

from core.networks.filters import upfirdn2d
from core.networks.mapping import MappingNetwork
from core.networks.superresolution import SuperResolution
from core.networks.synthesis import SynthesisLayer, SynthesisNetwork


def _mapping(device, num_ws=6) -> MappingNetwork:
    return MappingNetwork(z_dim=8, c_dim=5, w_dim=16, num_ws=num_ws).to(device)


def test_truncation_psi_zero_gives_w_avg_and_one_is_identity(device):
    mapping = _mapping(device)
    mapping.w_avg.copy_(torch.randn(16, device=device))
    z, c = torch.randn(3, 8, device=device), torch.randn(3, 5, device=device)
    plain = mapping(z, c)
    assert plain.shape == (3, 6, 16)
    torch.testing.assert_close(mapping(z, c, truncation_psi=1.0), plain)
    torch.testing.assert_close(mapping(z, c, truncation_psi=0.0), mapping.w_avg.expand(3, 6, 16))
    half = mapping(z, c, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(half[:, :2], 0.5 * (plain[:, :2] + mapping.w_avg))
    torch.testing.assert_close(half[:, 2:], plain[:, 2:])


def test_w_avg_tracks_batch_mean_only_when_asked(device):
    mapping = _mapping(device)
    z, c = torch.randn(4, 8, device=device), torch.randn(4, 5, device=device)
    mapping(z, c)
    assert torch.count_nonzero(mapping.w_avg) == 0
    w = mapping(z, c, update_emas=True)[:, 0]
    torch.testing.assert_close(mapping.w_avg, (1 - 0.998) * w.mean(dim=0))
    previous = mapping.w_avg.clone()
    mapping(z, c, update_emas=True)
    torch.testing.assert_close(mapping.w_avg, 0.998 * previous + (1 - 0.998) * w.mean(dim=0))


def test_mapping_normalises_z_and_checks_shapes(device):
    mapping = _mapping(device)
    z, c = torch.randn(2, 8, device=device), torch.randn(2, 5, device=device)
    # Second-moment normalisation makes w independent of the scale of z (and of the embedded c).
    torch.testing.assert_close(mapping(z * 5.0, c * 3.0), mapping(z, c), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"c must be \[B, 5\]"):
        mapping(z, torch.randn(2, 4, device=device))


def test_condition_only_mapping_for_the_discriminator(device):
    mapping = MappingNetwork(z_dim=0, c_dim=5, w_dim=16, num_ws=None, num_layers=8).to(device)
    assert [name for name, _ in mapping.named_children()] == ["embed"] + [f"fc{i}" for i in range(8)]
    c = torch.randn(3, 5, device=device)
    w = mapping(None, c)
    assert w.shape == (3, 16)
    torch.testing.assert_close(mapping(None, c * 4.0), w, atol=1e-5, rtol=1e-5)


def test_synthesis_ws_index_pattern():
    network = SynthesisNetwork(w_dim=8, img_resolution=16, img_channels=5, channel_base=64, channel_max=8)
    assert network.num_ws == 6  # 3 blocks x 2 convs (const block: 1 conv) + 1 final torgb
    received = {}
    for name, module in network.named_modules():
        if name.endswith("affine"):
            module.register_forward_hook(lambda mod, args, out, name=name: received.__setitem__(name, args[0]))
    ws = torch.arange(6.0).reshape(1, 6, 1).expand(2, 6, 8)
    network(ws)
    index_of = {name: int(value[0, 0]) for name, value in received.items()}
    assert index_of == {
        "b4.conv1.affine": 0, "b4.torgb.affine": 1,
        "b8.conv0.affine": 1, "b8.conv1.affine": 2, "b8.torgb.affine": 3,
        "b16.conv0.affine": 3, "b16.conv1.affine": 4, "b16.torgb.affine": 5,
    }


def test_synthesis_layer_noise_modes(device):
    layer = SynthesisLayer(4, 4, w_dim=8, resolution=8).to(device).eval()
    x, w = torch.randn(2, 4, 8, 8, device=device), torch.randn(2, 8, device=device)
    # noise_strength starts at 0: every mode gives the same output.
    torch.testing.assert_close(layer(x, w, noise_mode="random"), layer(x, w, noise_mode="none"))
    with torch.no_grad():
        layer.noise_strength.fill_(0.5)
    none, const = layer(x, w, noise_mode="none"), layer(x, w, noise_mode="const")
    assert not torch.allclose(none, const)
    torch.testing.assert_close(const, layer(x, w, noise_mode="const"))
    assert not torch.allclose(layer(x, w, noise_mode="random"), layer(x, w, noise_mode="random"))
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, w, noise_mode="fresh")


def test_upsampling_layer_applies_its_weight_as_a_true_convolution(device):
    # The reference's weights act flipped (a true convolution) in upsampling layers: checkpoints depend on it.
    layer = SynthesisLayer(3, 4, w_dim=8, resolution=16, up=2).to(device).eval()
    x, w = torch.randn(2, 3, 8, 8, device=device), torch.randn(2, 8, device=device)
    styles = layer.affine(w)
    result = layer(x, w, noise_mode="none")
    for sample in range(2):
        weight = layer.weight * styles[sample].reshape(1, -1, 1, 1)
        weight = weight / weight.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
        upsampled = upfirdn2d(x[sample:sample + 1], layer.resample_filter, up=2, padding=(3, 2, 3, 2), gain=4)
        convolved = torch.nn.functional.conv2d(upsampled, weight.flip([2, 3])) + layer.bias.reshape(1, -1, 1, 1)
        expected = torch.nn.functional.leaky_relu(convolved, 0.2) * 2**0.5
        torch.testing.assert_close(result[sample:sample + 1], expected, atol=1e-4, rtol=1e-4)


def test_synthesis_network_training_and_eval_paths_agree(device):
    network = SynthesisNetwork(w_dim=8, img_resolution=16, img_channels=6, channel_base=64, channel_max=8).to(device)
    ws = torch.randn(2, network.num_ws, 8, device=device)
    eval_out = network.eval()(ws, noise_mode="const")
    with torch.no_grad():  # in-place sums and noise, channels-last upsampling on a CPU
        untracked = network(ws, noise_mode="const")
    train_out = network.train()(ws, noise_mode="const")
    assert eval_out.shape == (2, 6, 16, 16)
    torch.testing.assert_close(eval_out, train_out, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(untracked, eval_out, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("input_resolution, img_resolution, neural, up0, up1",
                         [(16, 64, 8, 2, 2), (16, 32, 16, 1, 2), (16, 16, 32, 1, 1)])
def test_superresolution_variants(device, input_resolution, img_resolution, neural, up0, up1):
    sr = SuperResolution(in_channels=6, channels=(8, 4), w_dim=8, input_resolution=input_resolution,
                         img_resolution=img_resolution).to(device).eval()
    assert (sr.block0.up, sr.block1.up) == (up0, up1)
    assert sr.block0.conv0.weight.shape == (8, 6, 3, 3) and sr.block1.conv0.weight.shape == (4, 8, 3, 3)
    assert hasattr(sr, "resample_filter") == (up0 == 1)
    rgb, features = torch.randn(2, 3, neural, neural, device=device), torch.randn(2, 6, neural, neural, device=device)
    ws = torch.randn(2, 5, 8, device=device)
    image = sr(rgb, features, ws)
    assert image.shape == (2, 3, img_resolution, img_resolution) and image.dtype == torch.float32
    assert torch.isfinite(image).all()
    # Only the last w is used.
    ws_other = torch.cat([torch.randn(2, 4, 8, device=device), ws[:, -1:]], dim=1)
    torch.testing.assert_close(sr(rgb, features, ws_other), image)


def test_superresolution_rejects_unsupported_factor():
    with pytest.raises(ValueError, match="sr_input_resolution"):
        SuperResolution(in_channels=6, channels=(8, 4), w_dim=8, input_resolution=16, img_resolution=24)
