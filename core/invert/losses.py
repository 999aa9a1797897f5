"""The inversion loss: masked pixel terms, a silhouette term and a perceptual term.

The perceptual term is LPIPS where the user's machine has the `lpips` package and torchvision's cached
backbone weights (nothing is downloaded), else distances between the model's own discriminator features
(D_ema of the checkpoint), else none; `PerceptualTerm.name` says which ran and the report repeats it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

LPIPS_WEIGHTS = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}  # torchvision's file names


@dataclass(frozen=True)
class LossWeights:
    """How much each term counts (pixel terms are mean squared errors of [-1, 1] images)."""

    image: float = 1.0  # the final image, inside the mask
    raw: float = 1.0  # the low-resolution raw image, inside the mask
    mask: float = 1.0  # the rendered silhouette against the target mask
    perceptual: float = 0.5
    latent: float = 1e-3  # pull of w towards w_avg (keeps the latent in the model's range)
    pose: float = 0.05  # pull of the body pose towards rest, per radian squared


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the pixels of `mask` ([B, 1, H, W] in [0, 1]; None = all): [B]."""
    error = (prediction - target).square().mean(dim=1, keepdim=True)
    if mask is None:
        return error.flatten(1).mean(1)
    return (error * mask).flatten(1).sum(1) / mask.flatten(1).sum(1).clamp_min(1.0)


def resize(image: torch.Tensor, resolution: int) -> torch.Tensor:
    if image.shape[-1] == resolution:
        return image
    return F.interpolate(image, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)


def _normalised(features: torch.Tensor) -> torch.Tensor:
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + 1e-8)


class PerceptualTerm:
    """A distance between images that looks at structure; `name` is "lpips", "discriminator" or "none"."""

    name = "none"
    reason = ""

    def __call__(self, image, image_raw, mask, target) -> torch.Tensor:
        return image.new_zeros(image.shape[0])


class DiscriminatorFeatures(PerceptualTerm):
    """Channel-normalised squared distances of the discriminator's block features (LPIPS's recipe without its
    learned weights), target features computed once."""

    name = "discriminator"

    def __init__(self, discriminator: torch.nn.Module, target_image, target_raw, target_mask):
        self.discriminator = discriminator
        with torch.no_grad():
            self.target_features = [feature.detach() for feature in
                                    self._features(target_image, target_raw, target_mask)]

    def _features(self, image, image_raw, mask) -> list[torch.Tensor]:
        return self.discriminator.block_features(self.discriminator.assemble_input(image, image_raw, mask))

    def __call__(self, image, image_raw, mask, target) -> torch.Tensor:
        total = image.new_zeros(image.shape[0])
        for feature, wanted in zip(self._features(image, image_raw, mask), self.target_features):
            difference = _normalised(feature.float()) - _normalised(wanted.float())
            total = total + difference.square().sum(1).flatten(1).mean(1)
        return total


class Lpips(PerceptualTerm):
    """LPIPS of the `lpips` package on the masked images."""

    name = "lpips"

    def __init__(self, module: torch.nn.Module, target_mask: torch.Tensor | None):
        self.module = module
        self.target_mask = target_mask

    def __call__(self, image, image_raw, mask, target) -> torch.Tensor:
        if self.target_mask is not None:
            weight = resize(self.target_mask, image.shape[-1])
            image, target = image * weight, target * weight
        return self.module(image, target, normalize=False).flatten(1).mean(1)


def lpips_available(net: str = "vgg") -> tuple[bool, str]:
    """(usable, why not): LPIPS needs the lpips package and torchvision's cached weights for `net`."""
    try:
        import lpips  # noqa: F401 - optional; only its presence is tested here
    except ImportError:
        return False, "the lpips package is not installed"
    weights = Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_WEIGHTS[net]
    if not weights.is_file():
        return False, f"torchvision's {net} weights are not cached ({weights})"
    return True, ""


def perceptual_term(choice: str, discriminator, target_image, target_raw, target_mask, device) -> PerceptualTerm:
    """The perceptual term for `choice` ("auto" | "lpips" | "discriminator" | "none"); "auto" takes LPIPS when
    usable, else the discriminator when the checkpoint keeps one, else none, and says why in `reason`."""
    reasons = []
    if choice in ("auto", "lpips"):
        usable, why = lpips_available()
        if usable:
            import lpips  # lazy: an optional package, used only when installed

            module = lpips.LPIPS(net="vgg", verbose=False).to(device).eval().requires_grad_(False)
            return Lpips(module, target_mask)
        reasons.append(f"no LPIPS: {why}")
        if choice == "lpips":
            raise ValueError(f"--perceptual lpips: {why}; use --perceptual auto")
    if choice in ("auto", "discriminator"):
        if discriminator is not None:
            term = DiscriminatorFeatures(discriminator, target_image, target_raw, target_mask)
            term.reason = "; ".join(reasons)
            return term
        reasons.append("no discriminator features: the checkpoint keeps no D_ema")
        if choice == "discriminator":
            raise ValueError("--perceptual discriminator: the checkpoint keeps no D_ema (export it with "
                             "python -m core.checkpoint export SNAPSHOT --with-discriminator)")
    term = PerceptualTerm()
    term.reason = "; ".join(reasons) or "switched off"
    return term
