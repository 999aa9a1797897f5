"""Presets and the plain-dict round trip of configurations."""
import pytest

from core.config import PRESETS, GeneratorConfig, preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trips_through_plain_dict(name):
    config = preset(name)
    assert GeneratorConfig.from_dict(config.to_dict()) == config


def test_paper_presets_follow_the_reference():
    config = preset("paper-512")
    assert (config.z_dim, config.w_dim, config.mapping_c_dim) == (512, 512, 31)
    assert config.backbone_channels == 288
    assert (config.rendering.ray_start, config.rendering.ray_end) == (2.25, 3.3)
    assert preset("paper-256").img_resolution == 256


def test_unknown_preset_and_field_are_named():
    with pytest.raises(ValueError, match="paper-512"):
        preset("nope")
    with pytest.raises(ValueError, match="bogus"):
        GeneratorConfig.from_dict({"bogus": 1})
