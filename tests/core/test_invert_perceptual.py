"""The inversion's perceptual term choice: LPIPS where the package and torchvision's cached weights exist (here a
stand-in `lpips` module and an empty weights file, since no machine of the project can download them), else the
discriminator's features, else none; each says why, and an explicit choice that cannot run is refused by name."""
from __future__ import annotations

import sys
import types

import pytest
import torch

from core.invert.losses import LPIPS_WEIGHTS, lpips_available, perceptual_term


class StandInLpips(torch.nn.Module):
    """The lpips.LPIPS call signature: (image, target, normalize) -> [B, 1, 1, 1] distances."""

    built: list[str] = []

    def __init__(self, net: str, verbose: bool = True):
        super().__init__()
        StandInLpips.built.append(net)

    def forward(self, image, target, normalize=False):
        assert normalize is False  # images arrive in [-1, 1], as LPIPS expects without normalising
        return (image - target).square().mean(dim=(1, 2, 3), keepdim=True)


@pytest.fixture
def installed_lpips(monkeypatch, tmp_path):
    module = types.ModuleType("lpips")
    module.LPIPS = StandInLpips
    monkeypatch.setitem(sys.modules, "lpips", module)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints" / LPIPS_WEIGHTS["vgg"]


def test_lpips_needs_its_cached_weights_and_runs_masked_when_they_are_there(installed_lpips):
    usable, why = lpips_available()
    assert not usable and str(installed_lpips) in why  # the package alone is not enough
    installed_lpips.parent.mkdir(parents=True)
    installed_lpips.write_bytes(b"")
    assert lpips_available() == (True, "")
    target = torch.zeros(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., :4] = 1.0  # the person is the left half
    term = perceptual_term("auto", None, target, None, mask, torch.device("cpu"))
    assert term.name == "lpips" and StandInLpips.built[-1] == "vgg"
    assert float(term(target, None, None, target)) == 0.0
    outside = target.clone()
    outside[..., 4:] = 1.0  # a change outside the mask does not count
    assert float(term(outside, None, None, target)) == 0.0
    inside = target.clone()
    inside[..., :4] = 1.0
    assert float(term(inside, None, None, target)) > 0.0


def test_without_lpips_auto_falls_back_and_says_why_and_an_explicit_choice_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # import lpips raises ImportError
    term = perceptual_term("auto", None, torch.zeros(1, 3, 8, 8), None, None, torch.device("cpu"))
    assert term.name == "none"
    assert "the lpips package is not installed" in term.reason and "keeps no D_ema" in term.reason
    with pytest.raises(ValueError, match="--perceptual lpips: the lpips package is not installed"):
        perceptual_term("lpips", None, torch.zeros(1, 3, 8, 8), None, None, torch.device("cpu"))
    with pytest.raises(ValueError, match="--perceptual discriminator"):
        perceptual_term("discriminator", None, torch.zeros(1, 3, 8, 8), None, None, torch.device("cpu"))
