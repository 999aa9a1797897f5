"""Schedules of reference-spec.md §4 as pure functions of the number of real images shown so far.

`cur_nimg` is absolute (it includes the images of the run that was resumed), as in the reference, so a
resumed run continues every fade where it stopped. The one exception is the neural-resolution fade, which
the reference measures from the start of the current run (`resume_nimg`), so that stage 3 fades from its
own start.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.train.config import TrainingConfig


def _fade(cur_nimg: float, fade_kimg: float) -> float:
    """Progress of a linear fade in [0, 1]; a zero-length fade is already complete."""
    if fade_kimg <= 0:
        return 1.0
    return min(max(cur_nimg / (fade_kimg * 1e3), 0.0), 1.0)


def swap_probability(cur_nimg: float, config: TrainingConfig) -> float:
    """Probability of the mapping-condition swap: 1 at the start, fading linearly to `gpc_reg_prob`."""
    alpha = _fade(cur_nimg, config.gpc_reg_fade_kimg)
    return (1 - alpha) * 1.0 + alpha * config.gpc_reg_prob


def pose_prior_weight(cur_nimg: float, config: TrainingConfig) -> float:
    """Weight of G's pose prior: constant for `pose_prior_kimg`, then linear to 0 over as long again.

    Without the body warp (`warp_mode` "none") G's pose only conditions the mapping, which says nothing about
    the pose in the image: the prior is then the branch's one teacher and keeps its full weight instead of
    fading (a faded branch drifts to any pose).
    """
    hold = config.pose_prior_kimg * 1e3
    if cur_nimg < hold or config.warp_mode == "none":
        return config.pose_prior_weight
    if hold <= 0:
        return 0.0
    return config.pose_prior_weight * max(1.0 - (cur_nimg - hold) / hold, 0.0)


def blur_sigma(cur_nimg: float, config: TrainingConfig) -> float:
    """Sigma in pixels of the blur on D's image inputs: `blur_init_sigma` fading linearly to 0."""
    return (1.0 - _fade(cur_nimg, config.blur_fade_kimg)) * config.blur_init_sigma


def density_noise(cur_nimg: float, config: TrainingConfig) -> float:
    """Standard deviation of the noise added to raw density: 1 fading linearly to 0."""
    return 1.0 - _fade(cur_nimg, config.density_noise_fade_kimg)


def neural_resolution(cur_nimg: float, resume_nimg: float, initial: int, config: TrainingConfig) -> int:
    """Neural rendering resolution: `initial` fading to `neural_resolution_final`, counted from the run's start."""
    final = config.neural_resolution_final or initial
    alpha = _fade(cur_nimg - resume_nimg, config.neural_resolution_fade_kimg)
    return int(round(initial * (1 - alpha) + final * alpha))


def ema_beta(cur_nimg: float, batch: int, config: TrainingConfig, rampup: bool = True) -> float:
    """Per-step decay of the G and D moving averages: half-life `ema_kimg`, shorter early in a fresh run."""
    half_life_nimg = config.ema_kimg * 1e3
    if rampup and config.ema_rampup is not None:
        half_life_nimg = min(half_life_nimg, cur_nimg * config.ema_rampup)
    return 0.5 ** (batch / max(half_life_nimg, 1e-8))


@dataclass(frozen=True)
class ScheduleValues:
    """Every scheduled value at one moment of training (logged to stats.jsonl each tick)."""

    swap_prob: float  # probability of the mapping-condition swap
    pose_prior_weight: float  # weight of G's pose prior
    blur_sigma: float  # sigma of the blur on D's image inputs, pixels
    density_noise: float  # noise added to raw density
    neural_resolution: int  # rays per side of the neural rendering
    ema_beta: float  # decay of the moving averages this step


def schedule_values(cur_nimg: float, resume_nimg: float, initial_resolution: int, config: TrainingConfig,
                    ema_rampup: bool = True) -> ScheduleValues:
    """All schedules at `cur_nimg` (absolute) for a run that started at `resume_nimg`."""
    return ScheduleValues(
        swap_prob=swap_probability(cur_nimg, config),
        pose_prior_weight=pose_prior_weight(cur_nimg, config),
        blur_sigma=blur_sigma(cur_nimg, config),
        density_noise=density_noise(cur_nimg, config),
        neural_resolution=neural_resolution(cur_nimg, resume_nimg, initial_resolution, config),
        ema_beta=ema_beta(cur_nimg, config.batch, config, rampup=ema_rampup),
    )


def blur_kernel(sigma: float) -> list[float]:
    """Normalised 1-D taps 2^(-(x/sigma)^2) for |x| <= floor(3 sigma); [1.0] when sigma is (nearly) 0."""
    radius = int(math.floor(sigma * 3))
    if radius <= 0:
        return [1.0]
    taps = [2.0 ** (-((x / sigma) ** 2)) for x in range(-radius, radius + 1)]
    total = sum(taps)
    return [tap / total for tap in taps]
