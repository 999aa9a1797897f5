"""The training configuration: every loss weight, schedule and interval of reference-spec.md §4 as a field.

`TrainingConfig.for_run(preset, total_kimg, batch)` gives the defaults for a run: the reference values for
a paper-length run (stage 1 of the README is 6000 kimg), and for shorter runs every fade length in kimg
scaled by `total_kimg / 6000`, so that a 50 kimg CPU run passes through the same phases (blur, pose prior,
conditioning-swap fade) in the same proportions as the paper run.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.config import _from_dict, to_plain

# Fields that define the schedules: a resumed run keeps the snapshot's values so that no fade jumps.
SCHEDULE_FIELDS = ("seed", "pose_prior_weight", "pose_prior_kimg", "gpc_reg_prob", "gpc_reg_fade_kimg",
                   "density_noise_fade_kimg", "blur_init_sigma", "blur_fade_kimg", "ema_kimg", "ema_rampup",
                   "mbstd_group")
MIN_FADE_STEPS = 50  # scaled fades last at least this many iterations
# Length of the reference's first training stage; shorter runs scale their fade lengths by kimg / this.
REFERENCE_RUN_KIMG = 6000.0


class TrainingError(Exception):
    """Training cannot start or continue; the message says what is wrong and what to do."""


@dataclass(frozen=True)
class TrainingConfig:
    """Losses, optimisers, schedules and intervals of one training run (reference-spec.md §4)."""

    total_kimg: float = 6000.0  # length of the run in thousands of real images shown to D
    batch: int = 32  # global batch over all processes
    seed: int = 0  # seed of the networks' initialisation, the latents and the data order
    g_lr: float = 0.0025  # Adam learning rate of G
    d_lr: float = 0.002  # Adam learning rate of D before the lazy-regularisation correction
    betas: tuple[float, float] = (0.0, 0.99)  # Adam betas before the lazy-regularisation correction
    adam_eps: float = 1e-8  # Adam epsilon of both optimisers
    d_reg_interval: int = 16  # lazy R1: one regularisation step every this many iterations, weighted by it
    r1_gamma: float = 1.0  # R1 weight of the image and raw-image gradients
    r1_gamma_seg: float = 1.0  # R1 weight of the mask gradient
    pose_loss_weight: float = 1.0  # weight of D's pose-head loss against G's pose on fakes
    # Share of D's fakes rendered with another sample's G pose; only these train D's pose head, so it must read
    # the pose from the geometry, not from the camera or the latent (0 = the reference; docs/training.md).
    d_pose_shuffle: float = 0.5
    pose_prior_weight: float = 0.5  # weight of the prior pulling G's pose branch to the dataset poses
    pose_prior_kimg: float = 200.0  # the prior holds for this long, then decays linearly to 0 over as long again
    gpc_reg_prob: float = 0.7  # final probability of swapping G's mapping condition with another sample's
    gpc_reg_fade_kimg: float = 1000.0  # the swap probability fades from 1 to gpc_reg_prob over this many kimg
    bcg_reg_prob: float = 0.2  # probability of drawing a sample's background from another sample's ws
    density_noise_fade_kimg: float = 200.0  # noise on raw density fades from 1 to 0 over this many kimg
    blur_init_sigma: float = 10.0  # initial sigma (pixels) of the blur on D's image inputs
    blur_fade_kimg: float = 200.0  # the blur fades linearly to 0 over this many kimg
    neural_resolution_final: int | None = None  # final neural rendering resolution; None keeps G's own
    neural_resolution_fade_kimg: float = 1000.0  # R fades from G's resolution to the final one over this many kimg
    ema_kimg: float = 10.0  # half-life of the G and D moving averages in kimg
    ema_rampup: float | None = 0.05  # half-life is at most this fraction of the images seen so far; None = off
    mbstd_group: int = 4  # minibatch-standard-deviation group size of D
    d_warmup_kimg: float = 0.0  # the run's first kimg train D alone (a warm start's fresh D catches up first)
    train_g_pose_branch: bool = True  # train G's pose branch (stage 1) or freeze it (stages 2 and 3)
    warp_mode: str = "fast"  # body warp of fakes: fast (default) | exact (the reference) | grid (frozen branch) | none
    tick_kimg: float = 4.0  # one progress tick (a stats.jsonl line) every this many kimg
    snap_ticks: int = 50  # snapshot and evaluation every this many ticks
    image_snap_ticks: int = 25  # image grids every this many ticks
    grid_size: int = 4  # samples per side of the image grids
    eval_images: int = 16  # held-out images used by the pose evaluation at each snapshot

    @property
    def d_lr_effective(self) -> float:
        """D's learning rate corrected for lazy regularisation (lr * k / (k + 1))."""
        return self.d_lr * self._lazy_ratio

    @property
    def d_betas_effective(self) -> tuple[float, float]:
        """D's betas corrected for lazy regularisation (beta ** (k / (k + 1)))."""
        return (self.betas[0] ** self._lazy_ratio, self.betas[1] ** self._lazy_ratio)

    @property
    def _lazy_ratio(self) -> float:
        return self.d_reg_interval / (self.d_reg_interval + 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict for JSON and weights-only checkpoints."""
        return to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainingConfig":
        """Inverse of `to_dict`; unknown keys raise a ValueError naming them."""
        return _from_dict(cls, data)

    def continued_from(self, saved: "TrainingConfig") -> "TrainingConfig":
        """This run's options with the schedules of the snapshot being resumed (SCHEDULE_FIELDS)."""
        return dataclasses.replace(self, **{name: getattr(saved, name) for name in SCHEDULE_FIELDS})

    @classmethod
    def for_run(cls, total_kimg: float, batch: int = 32, **overrides: Any) -> "TrainingConfig":
        """Defaults for a run of `total_kimg` at global `batch`: fade lengths scaled to the run, EMA to the batch."""
        scale = min(1.0, total_kimg / REFERENCE_RUN_KIMG)
        reference = cls()
        # A fade shorter than MIN_FADE_STEPS iterations would be over before G could follow it (e.g. the prior).
        floor_kimg = MIN_FADE_STEPS * batch / 1000
        scaled = {
            name: max(getattr(reference, name) * scale, min(getattr(reference, name), floor_kimg))
            for name in ("pose_prior_kimg", "gpc_reg_fade_kimg", "density_noise_fade_kimg", "blur_fade_kimg",
                         "neural_resolution_fade_kimg")
        }
        scaled["tick_kimg"] = reference.tick_kimg * scale
        # The reference ties the EMA half-life to the batch (10 kimg at batch 32); a short run caps it at 5 %
        # of its length so that G_ema still follows the training.
        ema_kimg = min(batch * 10 / 32, 0.05 * total_kimg)
        values = dict(total_kimg=total_kimg, batch=batch, ema_kimg=ema_kimg, **scaled)
        values.update(overrides)
        return cls(**values)
