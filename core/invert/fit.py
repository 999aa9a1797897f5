"""Fitting a photo: camera search, body pose from D's pose head, W / W+ optimisation and pivotal tuning.

`Inversion` holds one fit: `search_camera()` scores the mean face over the whole yaw circle and refines the
best few candidates with the latent, `step()` is one optimisation step (the GUI job calls it between
progress reports, the command line in a tqdm loop), `best` is the lowest-loss state so far (what Ctrl+C
keeps), `finetune(steps)` tunes a copy of G around the best latent. The camera (yaw, pitch) and the body
pose are optimised with the latent; gradients reach the pose through the differentiable body warp.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np
import torch

from core.body.fast_warp import FastWarp
from core.camera import angle_between_deg, orbit_camera
from core.invert.losses import LossWeights, masked_mse, perceptual_term, resize
from core.invert.photo import Target
from core.latents import mean_ws


@dataclass(frozen=True)
class InvertOptions:
    """How a photo is fitted (the command line's options)."""

    steps: int = 200  # latent optimisation steps after the camera search
    finetune_steps: int = 0  # pivotal-tuning steps of a copy of G (0 = keep G)
    w_plus: bool = False  # optimise one w per layer (W+) instead of one w for all
    camera: tuple[float, float] | None = None  # (yaw, pitch) degrees given by the user; None = search
    search_yaw_step: float = 15.0  # degrees between the yaws of the coarse search
    search_pitches: tuple[float, ...] = (-12.0, 0.0, 12.0)
    search_candidates: int = 3  # coarse winners refined with the latent (at least 1)
    search_steps: int = 15  # latent steps spent on each candidate
    fit_camera: bool = True  # optimise yaw and pitch with the latent
    fit_pose: bool = True  # optimise the neck/head pose with the latent (through the warp)
    pose_init: str = "auto"  # "auto" (D's pose head when the checkpoint keeps D, else rest) | "discriminator" | "rest"
    learning_rate: float = 0.02  # Adam, on w (cosine ramp-down over the steps)
    camera_learning_rate: float = 0.5  # degrees per step scale
    pose_learning_rate: float = 0.005  # radians per step scale
    finetune_learning_rate: float = 3e-4
    perceptual: str = "auto"  # core.invert.losses.perceptual_term
    weights: LossWeights = field(default_factory=LossWeights)

    def __post_init__(self) -> None:
        if self.search_candidates < 1 or self.search_steps < 0 or self.steps < 0 or self.finetune_steps < 0:
            raise ValueError("InvertOptions: search_candidates must be at least 1 and the step counts at least 0")


@dataclass(frozen=True, eq=False)
class FitState:
    """One point of the fit: latent, camera, pose and how well it matches."""

    ws: torch.Tensor  # [1, num_ws, w_dim], detached
    yaw_deg: float
    pitch_deg: float
    pose: torch.Tensor  # [1, 6] radians, detached
    loss: float = math.inf
    step: int = 0

    @property
    def pose_deg(self) -> tuple[float, ...]:
        return tuple(float(value) for value in torch.rad2deg(self.pose[0]).tolist())


@dataclass(frozen=True)
class Quality:
    """How well a render matches the photo."""

    psnr_db: float  # inside the mask (all pixels without one), images in [0, 1]
    mask_iou: float | None  # rendered silhouette vs the target mask at 0.5; None without a mask


class Inversion:
    """One photo fitted into `generator` (eval mode, on its device); `discriminator` may be None."""

    def __init__(self, generator: torch.nn.Module, body, target: Target, options: InvertOptions,
                 discriminator: torch.nn.Module | None = None):
        self.generator = generator
        self.body = body
        self.options = options
        self.discriminator = discriminator
        self.device = next(generator.parameters()).device
        config = generator.config
        self.rendering = replace(config.rendering, deterministic=True)
        self.neural_resolution = config.neural_resolution
        image = torch.tensor(target.image, device=self.device).permute(2, 0, 1)[None].float() / 127.5 - 1
        self.target_image = resize(image, config.img_resolution)
        self.target_raw = resize(self.target_image, self.neural_resolution)
        self.target_mask = None if target.mask is None else resize(
            torch.tensor(target.mask, device=self.device)[None, None].float(), config.img_resolution)
        self.target_mask_raw = None if self.target_mask is None else resize(self.target_mask, self.neural_resolution)
        mask_for_d = self.target_mask if self.target_mask is not None else torch.ones_like(self.target_image[:, :1])
        self.perceptual = perceptual_term(options.perceptual, discriminator, self.target_image, self.target_raw,
                                          resize(mask_for_d, self.neural_resolution), self.device)
        self.w_avg = self._mean_ws()
        self.search_scores: list[tuple[float, float, float]] = []  # (yaw, pitch, coarse score)
        camera = options.camera or (0.0, 0.0)
        self.state = FitState(self.w_avg, float(camera[0]), float(camera[1]), self._initial_pose(*camera))
        self.best = self.state
        self.steps_done = 0
        self.tuned: torch.nn.Module | None = None  # the fine-tuned copy of G (finetune_iter)
        self.finetune_loss: float | None = None
        self._optimizer = None

    # Rendering and loss ------------------------------------------------------------------------------------
    def _mean_ws(self) -> torch.Tensor:
        with torch.no_grad():
            return mean_ws(self.generator, orbit_camera(0.0, 0.0, device=self.device))

    def render(self, ws: torch.Tensor, yaw, pitch, pose: torch.Tensor | None, generator=None,
               outputs=("image", "image_raw", "image_mask")):
        """Render ws [B, num_ws, w_dim] at yaw/pitch (floats or [B] tensors, degrees) with pose [1, 6] radians."""
        generator = generator or self.generator
        camera = orbit_camera(yaw, pitch, device=self.device)
        warp = None if pose is None else FastWarp(self.body, pose, thickness=generator.config.thickness,
                                                  box_warp=self.rendering.box_warp)
        planes = generator.synthesize_trigrid(ws)
        if camera.shape[0] != ws.shape[0]:  # one latent seen from several cameras: one tri-grid
            ws = ws.expand(camera.shape[0], -1, -1)
            planes = planes.expand(camera.shape[0], *planes.shape[1:])
        return generator.render(ws, planes, camera, rendering=self.rendering, point_warp=warp, outputs=outputs)

    def losses(self, output, ws: torch.Tensor | None = None, pose: torch.Tensor | None = None,
               perceptual: bool = True) -> dict[str, torch.Tensor]:
        """The loss terms [B] of a render and their weighted `total`."""
        weights = self.options.weights
        mask_raw = output.image_mask.clamp(0, 1)
        terms = {"image": masked_mse(output.image, self.target_image, self.target_mask),
                 "raw": masked_mse(output.image_raw, self.target_raw, self.target_mask_raw)}
        if self.target_mask_raw is not None:
            terms["mask"] = (mask_raw - self.target_mask_raw).square().flatten(1).mean(1)
        if perceptual and self.perceptual.name != "none":
            terms["perceptual"] = self.perceptual(output.image, output.image_raw, mask_raw, self.target_image)
        if ws is not None:
            terms["latent"] = (ws - self.w_avg).square().mean(dim=(1, 2))
        if pose is not None:
            terms["pose"] = pose.square().sum(1)
        terms["total"] = sum(getattr(weights, name) * value for name, value in terms.items())
        return terms

    def quality(self, state: FitState | None = None, generator=None) -> Quality:
        """PSNR and mask IoU of `state` (default: the best so far) against the photo."""
        state = state or self.best
        with torch.no_grad():
            output = self.render(state.ws, state.yaw_deg, state.pitch_deg, state.pose, generator)
            mse = float(masked_mse((output.image + 1) / 2, (self.target_image + 1) / 2, self.target_mask)[0])
            iou = None
            if self.target_mask is not None:
                rendered = resize(output.image_mask, self.target_mask.shape[-1]) > 0.5
                wanted = self.target_mask > 0.5
                union = float((rendered | wanted).sum())
                iou = float((rendered & wanted).sum()) / union if union else 1.0
        return Quality(10 * math.log10(1.0 / max(mse, 1e-10)), iou)

    # Body pose ---------------------------------------------------------------------------------------------
    def _initial_pose(self, yaw: float, pitch: float) -> torch.Tensor:
        choice = self.options.pose_init
        if choice not in ("auto", "discriminator", "rest"):
            raise ValueError(f"pose_init must be auto, discriminator or rest, got {choice!r}")
        if choice == "rest" or (choice == "auto" and self.discriminator is None):
            return torch.zeros(1, 6, device=self.device)
        if self.discriminator is None:
            raise ValueError("--pose-init discriminator: the checkpoint keeps no D_ema; use --pose-init rest")
        return self.discriminator_pose(yaw, pitch)

    def discriminator_pose(self, yaw: float, pitch: float) -> torch.Tensor:
        """D's pose head's reading [1, 6] (radians) of the photo seen from yaw/pitch."""
        mask = self.target_mask if self.target_mask is not None else torch.ones_like(self.target_image[:, :1])
        with torch.no_grad():
            x = self.discriminator.assemble_input(self.target_image, self.target_raw,
                                                  resize(mask, self.neural_resolution))
            pose, _ = self.discriminator.predict_pose(x, orbit_camera(yaw, pitch, device=self.device))
        return pose.detach()

    # Camera search -----------------------------------------------------------------------------------------
    def search_camera(self) -> list[tuple[float, float, float]]:
        """Run the whole camera search (see `search_iter`); returns the coarse scores, lowest first."""
        for _ in self.search_iter():
            pass
        return self.search_scores

    def search_iter(self) -> Iterator[float]:
        """The camera search, yielding its done fraction after each unit of work (the caller may stop early).

        Scores the mean face at every (yaw, pitch) of the coarse grid (pixel and silhouette terms), then
        refines the best `search_candidates` distinct yaws with `search_steps` latent steps each and keeps
        the lowest-loss one as the state. `search_scores` holds the coarse scores (yaw, pitch, score)."""
        options = self.options
        yaws = np.arange(0.0, 360.0, options.search_yaw_step)
        grid = [(float(yaw if yaw <= 180 else yaw - 360), float(pitch)) for yaw in yaws
                for pitch in options.search_pitches]
        refine_work = options.search_candidates * options.search_steps
        total_work = len(grid) / 8 + refine_work  # a batch of 8 coarse views costs about one latent step
        scores = []
        with torch.no_grad():
            for start in range(0, len(grid), 8):
                chunk = grid[start:start + 8]
                yaw = torch.tensor([c[0] for c in chunk], device=self.device)
                pitch = torch.tensor([c[1] for c in chunk], device=self.device)
                total = self.losses(self.render(self.w_avg, yaw, pitch, None), perceptual=False)["total"]
                scores += [(c[0], c[1], float(s)) for c, s in zip(chunk, total)]
                yield (start + len(chunk)) / 8 / total_work
        scores.sort(key=lambda item: item[2])
        self.search_scores = scores
        candidates: list[tuple[float, float]] = []
        for yaw, pitch, _ in scores:  # distinct yaws: a face and its slightly turned copy are one candidate
            if all(angle_between_deg(yaw, other) > 1.5 * options.search_yaw_step for other, _ in candidates):
                candidates.append((yaw, pitch))
            if len(candidates) == options.search_candidates:
                break
        results, done = [], len(grid) / 8
        for yaw, pitch in candidates:
            self.state = FitState(self.w_avg, yaw, pitch, self._initial_pose(yaw, pitch))
            self._optimizer = None
            for step in range(options.search_steps):
                self._step(step, options.search_steps)
                done += 1
                results.append(self.state)
                yield done / total_work
        self.state = min(results, key=lambda state: state.loss) if results else FitState(
            self.w_avg, *candidates[0], self._initial_pose(*candidates[0]))
        self.best = self.state
        self._optimizer = None

    # Optimisation ------------------------------------------------------------------------------------------
    def _parameters(self):
        options = self.options
        ws = self.state.ws if options.w_plus else self.state.ws[:, :1]
        w = ws.detach().clone().requires_grad_(True)
        yaw = torch.tensor(self.state.yaw_deg, device=self.device, requires_grad=options.fit_camera)
        pitch = torch.tensor(self.state.pitch_deg, device=self.device, requires_grad=options.fit_camera)
        pose = self.state.pose.detach().clone().requires_grad_(options.fit_pose)
        groups = [{"params": [w], "lr": options.learning_rate}]
        if options.fit_camera:
            groups.append({"params": [yaw, pitch], "lr": options.camera_learning_rate})
        if options.fit_pose:
            groups.append({"params": [pose], "lr": options.pose_learning_rate})
        self._optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
        self._base_rates = [group["lr"] for group in groups]
        self._variables = (w, yaw, pitch, pose)

    def _step(self, step: int, total: int) -> dict[str, float]:
        if self._optimizer is None:
            self._parameters()
        w, yaw, pitch, pose = self._variables
        ramp = 0.5 * (1 + math.cos(math.pi * min(step / max(total, 1), 1.0))) * 0.9 + 0.1  # cosine down to 10%
        for group, base in zip(self._optimizer.param_groups, self._base_rates):
            group["lr"] = base * ramp
        ws = w if self.options.w_plus else w.expand(-1, self.generator.num_ws, -1)
        output = self.render(ws, yaw, pitch, pose if self.options.fit_pose or bool(pose.any()) else None)
        terms = self.losses(output, ws, pose)
        loss = float(terms["total"][0].detach())
        current = FitState(ws.detach().clone(), float(yaw.detach()), float(pitch.detach()), pose.detach().clone(), loss,
                           self.steps_done)
        self._optimizer.zero_grad(set_to_none=True)
        terms["total"].sum().backward()
        self._optimizer.step()
        with torch.no_grad():
            pitch.clamp_(-80.0, 80.0)
        self.state = current
        if loss < self.best.loss:
            self.best = current
        return {name: float(value[0].detach()) for name, value in terms.items()}

    def step(self) -> dict[str, float]:
        """One latent optimisation step of the main phase; returns the loss terms of the state it started from."""
        terms = self._step(self.steps_done, self.options.steps)
        self.steps_done += 1
        return terms

    def finetune_iter(self, steps: int) -> Iterator[int]:
        """Tune a copy of G (`tuned`) for `steps` steps to reproduce the photo at the best latent, camera and pose
        (pivotal tuning; the mapping network stays as it was), yielding the steps done."""
        self.tuned = copy.deepcopy(self.generator).requires_grad_(True)
        self.tuned.backbone.mapping.requires_grad_(False)
        parameters = [parameter for parameter in self.tuned.parameters() if parameter.requires_grad]
        optimizer = torch.optim.Adam(parameters, lr=self.options.finetune_learning_rate)
        best = self.best
        pose = best.pose if bool(best.pose.any()) else None
        try:
            for step in range(steps):
                terms = self.losses(self.render(best.ws, best.yaw_deg, best.pitch_deg, pose, generator=self.tuned))
                optimizer.zero_grad(set_to_none=True)
                terms["total"].sum().backward()
                optimizer.step()
                self.finetune_loss = float(terms["total"][0].detach())
                yield step + 1
        finally:
            self.tuned.requires_grad_(False).eval()


def inversion_steps(inversion: Inversion) -> Iterator[tuple[str, float]]:
    """The whole fit as (phase, done fraction of the phase) after each unit of work: "search" (unless the
    camera is given), "latent", then "finetune" (when asked). Stop iterating to stop; `best` stays valid."""
    options = inversion.options
    if options.camera is None:
        for fraction in inversion.search_iter():
            yield "search", fraction
    for step in range(options.steps):
        inversion.step()
        yield "latent", (step + 1) / options.steps
    if options.finetune_steps:
        for step in inversion.finetune_iter(options.finetune_steps):
            yield "finetune", step / options.finetune_steps
