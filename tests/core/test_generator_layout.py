"""The generator's state-dict layout and size against reference-spec.md §8 (built on the meta device: no memory)."""
from __future__ import annotations

import pytest
import torch

from core.config import preset
from core.generator import TriGridGenerator

W = 512  # w_dim of the paper presets


def _layer(prefix: str, in_channels: int, out_channels: int, resolution: int) -> dict[str, tuple[int, ...]]:
    return {
        f"{prefix}.weight": (out_channels, in_channels, 3, 3), f"{prefix}.bias": (out_channels,),
        f"{prefix}.noise_strength": (), f"{prefix}.affine.weight": (in_channels, W),
        f"{prefix}.affine.bias": (in_channels,), f"{prefix}.noise_const": (resolution, resolution),
        f"{prefix}.resample_filter": (4, 4),
    }


def _torgb(prefix: str, in_channels: int, out_channels: int) -> dict[str, tuple[int, ...]]:
    return {f"{prefix}.weight": (out_channels, in_channels, 1, 1), f"{prefix}.bias": (out_channels,),
            f"{prefix}.affine.weight": (in_channels, W), f"{prefix}.affine.bias": (in_channels,)}


def _synthesis(prefix: str, channels: dict[int, int], out_channels: int) -> dict[str, tuple[int, ...]]:
    expected = {f"{prefix}.b4.const": (channels[4], 4, 4)}
    for res, width in channels.items():
        block = f"{prefix}.b{res}"
        expected[f"{block}.resample_filter"] = (4, 4)
        if res > 4:
            expected.update(_layer(f"{block}.conv0", channels[res // 2], width, res))
        expected.update(_layer(f"{block}.conv1", width, width, res))
        expected.update(_torgb(f"{block}.torgb", width, out_channels))
    return expected


def _reference_paper_512_layout() -> dict[str, tuple[int, ...]]:
    """reference-spec.md §8, "G state_dict naming", without the SMPL renderer and dataset_label_std."""
    expected = {
        "backbone.mapping.embed.weight": (W, 31), "backbone.mapping.embed.bias": (W,),
        "backbone.mapping.fc0.weight": (W, 1024), "backbone.mapping.fc0.bias": (W,),
        "backbone.mapping.fc1.weight": (W, W), "backbone.mapping.fc1.bias": (W,),
        "backbone.mapping.w_avg": (W,),
        "decoder.net.0.weight": (64, 32), "decoder.net.0.bias": (64,),
        "decoder.net.2.weight": (33, 64), "decoder.net.2.bias": (33,),
        "pose_branch.net.0.weight": (128, 537), "pose_branch.net.0.bias": (128,),
        "pose_branch.net.1.weight": (32, 128), "pose_branch.net.1.bias": (32,),
        "pose_branch.net.2.weight": (6, 32), "pose_branch.net.2.bias": (6,),
    }
    expected.update(_synthesis("backbone.synthesis", {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256,
                                                      256: 128}, 288))
    expected.update(_synthesis("bcg_synthesis", {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128}, 32))
    expected.update(_torgb("torgb", 32, 3))
    for block, (in_channels, width, res) in {"block0": (32, 256, 256), "block1": (256, 128, 512)}.items():
        prefix = f"superresolution.{block}"
        expected[f"{prefix}.resample_filter"] = (4, 4)
        expected.update(_layer(f"{prefix}.conv0", in_channels, width, res))
        expected.update(_layer(f"{prefix}.conv1", width, width, res))
        expected.update(_torgb(f"{prefix}.torgb", width, 3))
    return expected


def _meta_generator(name: str) -> TriGridGenerator:
    with torch.device("meta"):
        return TriGridGenerator(preset(name))


def test_paper_512_state_dict_matches_reference_names_and_shapes():
    layout = {key: tuple(value.shape) for key, value in _meta_generator("paper-512").state_dict().items()}
    expected = _reference_paper_512_layout()
    assert sorted(set(expected) - set(layout)) == []
    assert sorted(set(layout) - set(expected)) == []
    mismatched = {key: (layout[key], shape) for key, shape in expected.items() if layout[key] != shape}
    assert mismatched == {}


def test_paper_512_parameter_count_is_53_8_million():
    count = sum(parameter.numel() for parameter in _meta_generator("paper-512").parameters())
    assert abs(count - 53.8e6) / 53.8e6 < 0.005, count


def test_paper_256_uses_the_4x_super_resolution_layout():
    generator = _meta_generator("paper-256")
    shapes = {key: tuple(value.shape) for key, value in generator.superresolution.state_dict().items()}
    assert shapes["block0.conv0.weight"] == (128, 32, 3, 3) and shapes["block0.conv1.weight"] == (128, 128, 3, 3)
    assert shapes["block1.conv0.weight"] == (64, 128, 3, 3) and shapes["block1.torgb.weight"] == (3, 64, 1, 1)
    assert shapes["resample_filter"] == (4, 4)
    assert shapes["block0.conv0.noise_const"] == (128, 128) and shapes["block1.conv1.noise_const"] == (256, 256)
    assert generator.num_ws == 14 and generator.bcg_synthesis.num_ws == 12


@pytest.mark.parametrize("name", ["paper-512", "paper-256", "small", "tiny"])
def test_every_preset_builds_with_consistent_ws(name):
    generator = _meta_generator(name)
    assert generator.bcg_synthesis.num_ws <= generator.num_ws
    assert generator.backbone.mapping.num_ws == generator.num_ws
