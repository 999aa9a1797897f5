"""The losses of reference-spec.md §4.2-4.3: non-saturating logistic GAN loss, pose losses, lazy R1, blur.

Each phase is a function from tensors to (loss, statistics) so that the loop, the distributed test and
the benchmark call exactly the same code. Images are in [-1, 1], masks in [0, 1], poses in radians.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from core.networks.discriminator import PoseAwareDiscriminator, resize_antialiased
from core.train.schedules import blur_kernel


@dataclass
class DiscriminatorInput:
    """What D judges: image [B, 3, res, res], image_raw [B, 3, R, R], mask [B, 1, R, R] in [0, 1], camera [B, 25]."""

    image: torch.Tensor
    image_raw: torch.Tensor
    mask: torch.Tensor
    camera: torch.Tensor


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable blur with taps 2^(-(x/sigma)^2), |x| <= floor(3 sigma), reflect-free zero padding; identity at 0."""
    taps = blur_kernel(sigma)
    if len(taps) == 1:
        return images
    kernel = torch.tensor(taps, dtype=images.dtype, device=images.device)
    channels, radius = images.shape[1], len(taps) // 2
    horizontal = kernel.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1)
    vertical = kernel.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1)
    images = F.conv2d(F.pad(images, (radius, radius, 0, 0)), horizontal, groups=channels)
    return F.conv2d(F.pad(images, (0, 0, radius, radius)), vertical, groups=channels)


def real_discriminator_input(image: torch.Tensor, mask: torch.Tensor, camera: torch.Tensor,
                             neural_resolution: int, blur_sigma: float) -> DiscriminatorInput:
    """Reals as D sees them: the raw target is the image resized to R (and blurred), the mask resized to R.

    image: [B, 3, res, res] in [-1, 1]; mask: [B, 1, res, res] in [0, 1]; camera: [B, 25].
    """
    raw = blur(resize_antialiased(image, neural_resolution), blur_sigma)
    return DiscriminatorInput(image=image, image_raw=raw, mask=resize_antialiased(mask, neural_resolution),
                              camera=camera)


def run_discriminator(discriminator: PoseAwareDiscriminator, inputs: DiscriminatorInput, blur_sigma: float):
    """D on `inputs` with its image blurred by `blur_sigma` -> DiscriminatorOutput (logits [B, 1], pose [B, 6])."""
    return discriminator(blur(inputs.image, blur_sigma), inputs.image_raw, inputs.mask, inputs.camera)


def pose_squared_error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """||predicted - target||^2 summed over the 6 pose values: [B, 6], [B, 6] -> [B]."""
    return (predicted - target).square().sum(dim=1)


def pose_error_deg(predicted: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean absolute error in degrees of the neck (values 0-2) and the head (3-5): [B, 6], [B, 6] -> ([], [])."""
    error = (predicted.detach() - target).abs().rad2deg()
    return error[:, :3].mean(), error[:, 3:].mean()


Stats = dict[str, torch.Tensor]


def generator_loss(discriminator: PoseAwareDiscriminator, fake: DiscriminatorInput, generated_pose: torch.Tensor,
                   data_pose: torch.Tensor, prior_weight: float, blur_sigma: float) -> tuple[torch.Tensor, Stats]:
    """Gmain: softplus(-D(fake)) plus the decaying prior w(t) ||G_pose - pose_data||^2; batch mean.

    generated_pose: [B, 6] from G's pose branch (differentiable when the branch trains); data_pose: [B, 6].
    """
    output = run_discriminator(discriminator, fake, blur_sigma)
    adversarial = F.softplus(-output.logits).squeeze(1)
    prior = pose_squared_error(generated_pose, data_pose)
    loss = (adversarial + prior_weight * prior).mean()
    neck_deg, head_deg = pose_error_deg(generated_pose, data_pose)
    return loss, {"Loss/scores/fake_posed": output.logits.detach().mean(), "Loss/G/loss": adversarial.detach().mean(),
                  "Loss/G/pose_prior": prior.detach().mean(), "Pose/G_vs_data/neck_deg": neck_deg,
                  "Pose/G_vs_data/head_deg": head_deg}


def discriminator_loss(discriminator: PoseAwareDiscriminator, fake: DiscriminatorInput, real: DiscriminatorInput,
                       generated_pose: torch.Tensor, real_pose: torch.Tensor, pose_loss_weight: float,
                       blur_sigma: float, pose_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
    """Dmain: softplus(D(fake)) + pose-head loss against the (detached) pose the fakes were rendered with, plus
    softplus(-D(real)); batch mean.

    `pose_weights` [B] (0/1) selects the fakes whose pose trains the head (None: all; the pose term is then
    averaged over the selected ones). The dataset pose of the reals (`real_pose` [B, 6]) is only logged:
    D's pose head learns from fakes alone.
    """
    fake_output = run_discriminator(discriminator, fake, blur_sigma)
    pose_loss = pose_squared_error(fake_output.pose, generated_pose.detach())
    if pose_weights is not None:  # mean over the selected fakes, so the weight means the same at any share
        pose_loss = pose_loss * pose_weights * (len(pose_weights) / pose_weights.sum())
    loss_fake = F.softplus(fake_output.logits).squeeze(1)
    real_output = run_discriminator(discriminator, real, blur_sigma)
    loss_real = F.softplus(-real_output.logits).squeeze(1)
    loss = (loss_fake + pose_loss_weight * pose_loss + loss_real).mean()
    selected = slice(None) if pose_weights is None else pose_weights > 0
    fake_neck, fake_head = pose_error_deg(fake_output.pose[selected], generated_pose[selected])
    real_neck, real_head = pose_error_deg(real_output.pose, real_pose)
    return loss, {
        "Loss/scores/fake": fake_output.logits.detach().mean(), "Loss/scores/real": real_output.logits.detach().mean(),
        "Loss/D/loss_gen": loss_fake.detach().mean(), "Loss/D/loss_real": loss_real.detach().mean(),
        "Loss/D/pose_loss": pose_loss.detach().mean(), "Loss/D/loss": loss.detach(),
        "Pose/D_fake/neck_deg": fake_neck, "Pose/D_fake/head_deg": fake_head,
        "Pose/D_real/neck_deg": real_neck, "Pose/D_real/head_deg": real_head,
    }


def r1_loss(discriminator: PoseAwareDiscriminator, real: DiscriminatorInput, gamma: float, gamma_seg: float,
            interval: int, blur_sigma: float) -> tuple[torch.Tensor, Stats]:
    """Lazy R1 on the three real inputs, weighted by the interval:
    interval * mean(gamma/2 (|dD/dimage|^2 + |dD/draw|^2) + gamma_seg/2 |dD/dmask|^2)."""
    image = real.image.detach().requires_grad_(True)
    raw = real.image_raw.detach().requires_grad_(True)
    mask = real.mask.detach().requires_grad_(True)
    output = run_discriminator(discriminator, DiscriminatorInput(image, raw, mask, real.camera), blur_sigma)
    grad_image, grad_raw, grad_mask = torch.autograd.grad(output.logits.sum(), [image, raw, mask], create_graph=True)
    penalty = grad_image.square().sum(dim=[1, 2, 3]) + grad_raw.square().sum(dim=[1, 2, 3])
    penalty_seg = grad_mask.square().sum(dim=[1, 2, 3])
    loss = (gamma / 2 * penalty + gamma_seg / 2 * penalty_seg).mean() * interval
    return loss, {"Loss/r1_penalty": penalty.detach().mean(), "Loss/r1_penalty_seg": penalty_seg.detach().mean(),
                  "Loss/D/reg": loss.detach()}


def density_noise_hook(strength: Callable[[], float], generator: torch.Generator | None = None):
    """A forward hook for G's decoder that adds N(0, strength()) to the raw density (the density-noise fade).

    Installed on the training G only, so G_ema renders without it (the reference leaks it into G_ema).
    """

    def hook(module, inputs, output):
        value = strength()
        if value <= 0:
            return output
        sigma_raw, features = output
        noise = torch.randn(sigma_raw.shape, generator=generator, device=sigma_raw.device, dtype=sigma_raw.dtype)
        return sigma_raw + value * noise, features

    return hook
