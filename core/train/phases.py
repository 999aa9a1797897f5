"""One optimisation step of reference-spec.md §4.1-4.4: the G phase, the D phase, the lazy R1 phase, the EMA.

`TrainingStep` owns no files and no schedule: the loop gives it the schedule values of the moment and the
batch of reals, and it returns the statistics of the step. Gradients are averaged over ranks after each
phase (`average_gradients`), so every rank applies the same update.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from core.train.config import TrainingConfig
from core.train.distributed import DistributedContext, average_buffers, average_gradients
from core.train.losses import (DiscriminatorInput, discriminator_loss, generator_loss, r1_loss,
                               real_discriminator_input)
from core.train.schedules import ScheduleValues

# point_warp factory: pose [B, 6] -> observation-to-canonical warp (or None for no deformation).
WarpFactory = Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor] | None]


@dataclass
class RealBatch:
    """A batch of reals on the training device."""

    image: torch.Tensor  # [B, 3, res, res] in [-1, 1]
    mask: torch.Tensor  # [B, 1, res, res] in [0, 1]
    camera: torch.Tensor  # [B, 25]
    pose: torch.Tensor  # [B, 6] dataset pose, radians


@dataclass
class FakeConditions:
    """Latents and labels of one phase's fakes."""

    z: torch.Tensor  # [B, z_dim]
    camera: torch.Tensor  # [B, 25] dataset camera of a random index (mirrored entries included)
    data_pose: torch.Tensor  # [B, 6] dataset pose of that index (target of G's pose prior)


def requires_grad(module: torch.nn.Module, flag: bool) -> None:
    """Switch gradients of every parameter of `module` on or off."""
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


def roll_where(mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Per sample where `mask` [B] is set, take the value of the previous sample in the batch (rolled by 1)."""
    shape = [-1] + [1] * (values.ndim - 1)
    return torch.where(mask.reshape(shape), values.roll(1, dims=0), values)


class TrainingStep:
    """The phases of one iteration over G, D and their moving averages."""

    def __init__(self, G, D, G_ema, D_ema, G_opt, D_opt, config: TrainingConfig, context: DistributedContext,
                 labels: tuple[torch.Tensor, torch.Tensor], warp_factory: WarpFactory | None):
        self.G, self.D, self.G_ema, self.D_ema = G, D, G_ema, D_ema
        self.G_opt, self.D_opt = G_opt, D_opt
        self.config = config
        self.context = context
        self.cameras, self.poses = labels  # [N, 25], [N, 6] of every dataset index, on the device
        self.warp_factory = warp_factory
        self.g_parameters = [parameter for name, parameter in G.named_parameters()
                             if config.train_g_pose_branch or not name.startswith("pose_branch.")]

    def sample_conditions(self, batch: int) -> FakeConditions:
        """Fresh z and the labels of uniformly random dataset indices (global RNG, seeded per step by the loop)."""
        device = self.context.device
        indices = torch.randint(len(self.cameras), (batch,), device=device)
        z = torch.randn(batch, self.G.config.z_dim, device=device)
        return FakeConditions(z=z, camera=self.cameras[indices], data_pose=self.poses[indices])

    def generated_pose(self, conditions: FakeConditions, differentiable: bool) -> torch.Tensor:
        """G's pose branch on (z, camera): [B, 6]; differentiable only in the G phase of a pose-training stage."""
        with torch.set_grad_enabled(differentiable and self.config.train_g_pose_branch):
            return self.G.predict_pose(conditions.z, conditions.camera)

    def render_fakes(self, conditions: FakeConditions, pose: torch.Tensor, schedule: ScheduleValues,
                     update_emas: bool, render_pose: torch.Tensor | None = None) -> DiscriminatorInput:
        """Mapping with the (possibly swapped) condition, tri-grid, posed render with a swapped background;
        the body warp uses `render_pose` when given (D's shuffled poses), else `pose`."""
        batch = conditions.z.shape[0]
        device = self.context.device
        # Conditioning swap: the mapping sometimes sees another sample's camera and pose (rolled by one).
        swap = torch.rand(batch, device=device) < schedule.swap_prob
        condition_camera = roll_where(swap, conditions.camera)
        condition_pose = roll_where(swap, pose)
        ws = self.G.mapping(conditions.z, condition_camera, condition_pose, update_emas=update_emas)
        background_swap = torch.rand(batch, device=device) < self.config.bcg_reg_prob
        ws_background = roll_where(background_swap, ws)
        planes = self.G.synthesize_trigrid(ws, noise_mode="random")
        # Rendering always uses the sample's own camera and its unswapped pose for the body warp.
        warp_pose = pose if render_pose is None else render_pose
        point_warp = self.warp_factory(warp_pose) if self.warp_factory is not None else None
        output = self.G.render(ws, planes, conditions.camera, neural_resolution=schedule.neural_resolution,
                               point_warp=point_warp, ws_background=ws_background, noise_mode="random",
                               outputs=("image", "image_raw", "image_mask"))
        return DiscriminatorInput(image=output.image, image_raw=output.image_raw, mask=output.image_mask,
                                  camera=conditions.camera)

    def generator_phase(self, schedule: ScheduleValues) -> dict[str, torch.Tensor]:
        """Gmain: non-saturating loss on posed fakes plus the decaying pose prior; one G optimiser step."""
        requires_grad(self.G, True)
        requires_grad(self.D, False)
        conditions = self.sample_conditions(self.per_rank_batch)
        pose = self.generated_pose(conditions, differentiable=True)
        fake = self.render_fakes(conditions, pose, schedule, update_emas=False)
        loss, stats = generator_loss(self.D, fake, pose, conditions.data_pose, schedule.pose_prior_weight,
                                     schedule.blur_sigma)
        self.G_opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.g_parameters, self.context)
        self.G_opt.step()
        return stats

    def discriminator_phase(self, real: RealBatch, schedule: ScheduleValues) -> dict[str, torch.Tensor]:
        """Dmain: fakes (with the pose-head loss) and reals; one D optimiser step."""
        requires_grad(self.G, False)
        requires_grad(self.D, True)
        conditions = self.sample_conditions(self.per_rank_batch)
        with torch.no_grad():
            pose = self.generated_pose(conditions, differentiable=False)
            render_pose, pose_weights = self.shuffled_poses(pose)
            fake = self.render_fakes(conditions, pose, schedule, update_emas=True, render_pose=render_pose)
        real_input = real_discriminator_input(real.image, real.mask, real.camera, schedule.neural_resolution,
                                              schedule.blur_sigma)
        loss, stats = discriminator_loss(self.D, fake, real_input, render_pose, real.pose,
                                         self.config.pose_loss_weight, schedule.blur_sigma, pose_weights)
        self.D_opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.D.parameters(), self.context)
        self.D_opt.step()
        return stats

    def shuffled_poses(self, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's render poses and pose-loss weights: a share `d_pose_shuffle` of the fakes (at least one) is
        rendered with the previous sample's pose, which its own latent and camera do not predict, and only
        those train D's pose head (weights [B], 0/1); without shuffling every fake does (the reference: None)."""
        share = self.config.d_pose_shuffle
        if share <= 0 or pose.shape[0] < 2:  # a batch of one has no other sample's pose to take
            return pose, None
        count = max(1, round(share * pose.shape[0]))
        shuffled = torch.zeros(pose.shape[0], dtype=torch.bool, device=pose.device)
        shuffled[torch.randperm(pose.shape[0], device=pose.device)[:count]] = True
        return roll_where(shuffled, pose), shuffled.to(pose.dtype)

    def regularization_phase(self, real: RealBatch, schedule: ScheduleValues) -> dict[str, torch.Tensor]:
        """Dreg: lazy R1 on image, raw image and mask, weighted by the interval; one D optimiser step."""
        requires_grad(self.D, True)
        real_input = real_discriminator_input(real.image, real.mask, real.camera, schedule.neural_resolution,
                                              schedule.blur_sigma)
        loss, stats = r1_loss(self.D, real_input, self.config.r1_gamma, self.config.r1_gamma_seg,
                              self.config.d_reg_interval, schedule.blur_sigma)
        self.D_opt.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(self.D.parameters(), self.context)
        self.D_opt.step()
        return stats

    @property
    def per_rank_batch(self) -> int:
        """Samples each rank processes per phase."""
        return self.config.batch // self.context.world_size

    @torch.no_grad()
    def update_moving_averages(self, beta: float) -> None:
        """G_ema and D_ema: parameters lerp towards the trained networks by (1 - beta), buffers are copied."""
        for average, trained in ((self.G_ema, self.G), (self.D_ema, self.D)):
            for ema_parameter, parameter in zip(average.parameters(), trained.parameters()):
                ema_parameter.copy_(parameter.detach().lerp(ema_parameter, beta))
            for ema_buffer, buffer in zip(average.buffers(), trained.buffers()):
                ema_buffer.copy_(buffer)

    def run(self, real: RealBatch, schedule: ScheduleValues, batch_index: int,
            train_generator: bool = True) -> dict[str, torch.Tensor]:
        """All phases of iteration `batch_index` (R1 every `d_reg_interval` iterations) and the EMA update;
        without `train_generator` (a D warm-up) G stays as it is."""
        stats = self.generator_phase(schedule) if train_generator else {}
        stats.update(self.discriminator_phase(real, schedule))
        if batch_index % self.config.d_reg_interval == 0:
            stats.update(self.regularization_phase(real, schedule))
        average_buffers(self.G, self.context)
        self.update_moving_averages(schedule.ema_beta)
        requires_grad(self.G, False)
        requires_grad(self.D, False)
        return stats
