"""The tri-grid generator: mapping, tri-grid synthesis, volume rendering with background, super-resolution.

Behaviour per reference-spec.md §1 (3DPortraitGAN's TriPlaneGenerator); API per docs/INTERFACES.md; parameter
names per reference-spec.md §8. The module holds no caches: callers keep ws and planes and pass them back in.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Collection

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.config import GeneratorConfig, RenderingConfig
from core.networks.heads import OSGDecoder, PoseBranch
from core.networks.mapping import StyleGAN2Backbone
from core.networks.superresolution import SuperResolution
from core.networks.synthesis import SynthesisNetwork, ToRGBLayer
from core.rendering import generate_rays, mean_trigrid_features, render_rays
from core.rendering.volume import Occupancy
from core.names import OUTPUT_NAMES

PointWarp = Callable[[torch.Tensor], torch.Tensor]  # observation-space points [B, N, 3] -> canonical [B, N, 3]
MASK_SCALE, MASK_OFFSET = 1.002, 0.001  # image_mask = sum_w * 1.002 - 0.001, as the reference


@dataclass
class GeneratorOutput:
    """One render. Images are in [-1, 1]; depth in world units along the ray. Skipped products are None."""

    image: torch.Tensor | None  # [B, 3, res, res] after super-resolution
    image_raw: torch.Tensor  # [B, 3, R, R] ToRGB of the composited neural features
    image_depth: torch.Tensor  # [B, 1, R, R] expected depth
    image_mask: torch.Tensor  # [B, 1, R, R] opacity, sum of weights * 1.002 - 0.001
    image_background: torch.Tensor | None  # [B, 3, R, R] ToRGB of the background features alone
    timings_ms: dict[str, float] = field(default_factory=dict)  # stage -> wall-clock milliseconds


class _StageTimer:
    """Wall-clock milliseconds per stage; with `synchronize` it waits for queued GPU work so the numbers are honest."""

    def __init__(self, device: torch.device, timings: dict[str, float], synchronize: bool = True):
        self.device = device
        self.timings = timings
        self.synchronize = synchronize
        self.start = 0.0

    def _sync(self) -> None:
        if self.synchronize and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def begin(self) -> None:
        self._sync()
        self.start = time.perf_counter()

    def end(self, stage: str) -> None:
        self._sync()
        self.timings[stage] = self.timings.get(stage, 0.0) + (time.perf_counter() - self.start) * 1e3


class TriGridGenerator(nn.Module):
    """z, camera [B, 25], body pose [B, 6] -> portrait images, raw images, depth, mask and background."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = config
        self.backbone = StyleGAN2Backbone(
            z_dim=config.z_dim, c_dim=config.mapping_c_dim, w_dim=config.w_dim,
            img_resolution=config.backbone_resolution, img_channels=config.backbone_channels,
            channel_base=config.channel_base, channel_max=config.channel_max,
            mapping_layers=config.mapping_layers, mapping_lr_multiplier=config.mapping_lr_multiplier,
            w_avg_beta=config.w_avg_beta,
        )
        self.superresolution = SuperResolution(
            config.triplane_channels, config.sr_channels, config.w_dim, config.sr_input_resolution,
            config.img_resolution, config.img_channels, use_fp16=config.sr_fp16, conv_clamp=config.sr_conv_clamp,
            antialias=config.sr_antialias, noise_mode=config.sr_noise_mode,
        )
        self.decoder = OSGDecoder(config.triplane_channels, config.decoder_hidden, config.decoder_lr_multiplier,
                                  config.rendering.decoder_activation)
        self.torgb = ToRGBLayer(config.triplane_channels, config.img_channels, config.w_dim)
        self.bcg_synthesis = SynthesisNetwork(
            config.w_dim, config.sr_input_resolution, config.triplane_channels,
            channel_base=config.background_channel_base, channel_max=config.background_channel_max,
        )
        self.pose_branch = PoseBranch(config.z_dim, config.c_dim, config.pose_branch_hidden, config.pose_dim,
                                      config.pose_mirror_test)
        if self.bcg_synthesis.num_ws > self.num_ws:
            raise ValueError(f"the background network needs {self.bcg_synthesis.num_ws} ws but the backbone makes "
                             f"only {self.num_ws}; lower sr_input_resolution or raise backbone_resolution")

    @property
    def num_ws(self) -> int:
        """Number of per-layer latents of the backbone (14 at 256)."""
        return self.backbone.num_ws

    def mapping(
        self,
        z: torch.Tensor,
        camera: torch.Tensor,
        pose: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """z: [B, z_dim], camera: [B, 25], pose: [B, 6] or None (= zeros) -> ws [B, num_ws, w_dim]."""
        if camera.ndim != 2 or camera.shape != (z.shape[0], self.config.c_dim):
            raise ValueError(f"mapping: camera must be [{z.shape[0]}, {self.config.c_dim}], got {tuple(camera.shape)}")
        if pose is None:
            pose = camera.new_zeros(camera.shape[0], self.config.pose_dim)
        if pose.shape != (camera.shape[0], self.config.pose_dim):
            raise ValueError(f"mapping: pose must be [{camera.shape[0]}, {self.config.pose_dim}], "
                             f"got {tuple(pose.shape)}")
        condition = torch.cat([camera, pose.to(camera.dtype)], dim=1) * self.config.c_scale
        return self.backbone.mapping(z, condition, truncation_psi=truncation_psi,
                                     truncation_cutoff=truncation_cutoff, update_emas=update_emas)

    def synthesize_trigrid(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """ws: [B, num_ws, w_dim] -> planes [B, 3, C*D, H, W] (flat channel index c * D + d inside a plane)."""
        features = self.backbone.synthesis(ws, noise_mode=noise_mode)
        return features.view(features.shape[0], 3, -1, *features.shape[-2:])

    def synthesize_background(self, ws_background: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """ws [B, num_ws, w_dim] -> the background network's features [B, C, R', R'] (depends on ws only: a viewer
        caches it per latent, like the tri-grid)."""
        return self.bcg_synthesis(ws_background[:, :self.bcg_synthesis.num_ws], noise_mode=noise_mode)

    def _decode(self, planes: torch.Tensor, points: torch.Tensor, options: RenderingConfig
                ) -> tuple[torch.Tensor, torch.Tensor]:
        # The decoder sees the mean of the three planes' features (reference-spec.md §1.4).
        mean_features = mean_trigrid_features(planes, points, options.box_warp, self.config.triplane_depth)
        return self.decoder(mean_features, activation=options.decoder_activation)

    def sample_density(self, planes: torch.Tensor, points: torch.Tensor,
                       rendering: RenderingConfig | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw density [B, N, 1] and features [B, N, C] at canonical `points: [B, N, 3]` (no warp, no crop)."""
        return self._decode(planes, points, rendering or self.config.rendering)

    def render(
        self,
        ws: torch.Tensor,
        planes: torch.Tensor,
        camera: torch.Tensor,
        *,
        neural_resolution: int | None = None,
        rendering: RenderingConfig | None = None,
        point_warp: PointWarp | None = None,
        ws_background: torch.Tensor | None = None,
        noise_mode: str = "const",
        generator: torch.Generator | None = None,
        outputs: Collection[str] | None = None,
        occupancy: Occupancy | None = None,
        cancel: Callable[[], bool] | None = None,
        max_rays_per_chunk: int | None = None,
        sr_input_resolution: int | None = None,
        background: torch.Tensor | None = None,
    ) -> GeneratorOutput:
        """Render planes [B, 3, C*D, H, W] made from ws [B, num_ws, w_dim] seen from camera [B, 25].

        neural_resolution: rays per side R (default config.neural_resolution); rendering: sampling options
        (default config.rendering); point_warp: observation -> canonical points (None = canonical avatar);
        ws_background: ws of the background network (default ws); generator: random draws of the ray sampler;
        outputs: names from OUTPUT_NAMES that are needed (None = all); super-resolution runs only for `image`
        and the background ToRGB only for `image_background`; occupancy: empty-space skipping
        (core.rendering.occupancy; None = every sample is decoded, as in training); cancel, max_rays_per_chunk:
        see core.rendering.volume.render_rays (a long refinement render that a newer request interrupts);
        sr_input_resolution: run super-resolution at this input size (default config.sr_input_resolution) and
        scale its output to img_resolution bilinearly (a quick preview at half the size costs a quarter);
        background: `synthesize_background(ws_background, noise_mode)` when the caller kept it (None: made here).
        """
        config = self.config
        options = rendering or config.rendering
        resolution = neural_resolution or config.neural_resolution
        wanted = set(OUTPUT_NAMES if outputs is None else outputs)
        unknown = wanted - set(OUTPUT_NAMES)
        if unknown:
            raise ValueError(f"render: unknown outputs {sorted(unknown)}; known: {OUTPUT_NAMES}")
        batch = ws.shape[0]
        if planes.shape[0] != batch or camera.shape != (batch, config.c_dim):
            raise ValueError(f"render: ws {tuple(ws.shape)}, planes {tuple(planes.shape)} and camera "
                             f"{tuple(camera.shape)} must share the batch size; camera must be [B, {config.c_dim}]")
        ws_background = ws if ws_background is None else ws_background
        timings: dict[str, float] = {}
        # Training does not wait for the GPU at every stage; its timings then only count the launches.
        timer = _StageTimer(ws.device, timings, synchronize=not self.training)

        timer.begin()
        origins, directions = generate_rays(camera, resolution)
        rays = render_rays(lambda points: self._decode(planes, points, options), origins, directions, options,
                           point_warp=point_warp, generator=generator, occupancy=occupancy, cancel=cancel,
                           max_rays_per_chunk=max_rays_per_chunk)

        def to_image(values: torch.Tensor) -> torch.Tensor:  # [B, R*R, K] -> [B, K, R, R]
            return values.permute(0, 2, 1).reshape(batch, -1, resolution, resolution)

        features, depth, weights_sum = to_image(rays.features), to_image(rays.depth), to_image(rays.weights_sum)
        if background is None:
            background = self.synthesize_background(ws_background, noise_mode)
        if background.shape[-1] != resolution:
            background = F.interpolate(background, size=(resolution, resolution), mode="bilinear",
                                       align_corners=False, antialias=True)
        # The background fills what the rays leave transparent, in feature space, before ToRGB.
        features = features + (1 - weights_sum) * background
        image_raw = self.torgb(features, ws[:, -1])
        image_background = None
        if "image_background" in wanted:
            image_background = self.torgb(background, ws_background[:, -1])
        timer.end("rendering")

        image = None
        if "image" in wanted:
            timer.begin()
            image = self.superresolution(image_raw, features, ws, input_resolution=sr_input_resolution)
            if image.shape[-1] != config.img_resolution:
                image = F.interpolate(image, size=(config.img_resolution,) * 2, mode="bilinear", align_corners=False)
            timer.end("superresolution")
        return GeneratorOutput(
            image=image, image_raw=image_raw, image_depth=depth,
            image_mask=weights_sum * MASK_SCALE - MASK_OFFSET, image_background=image_background,
            timings_ms=timings,
        )

    def forward(
        self,
        z: torch.Tensor,
        camera: torch.Tensor,
        pose: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
        noise_mode: str = "const",
        **render_options,
    ) -> GeneratorOutput:
        """Mapping, tri-grid and render in one call: z [B, z_dim], camera [B, 25], pose [B, 6] or None.

        The pose conditions the mapping only; pass `point_warp=` to also deform the avatar. Training should
        pass noise_mode="random". Other keyword arguments go to `render`.
        """
        timings: dict[str, float] = {}
        timer = _StageTimer(z.device, timings, synchronize=not self.training)
        timer.begin()
        ws = self.mapping(z, camera, pose, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
                          update_emas=update_emas)
        timer.end("mapping")
        timer.begin()
        planes = self.synthesize_trigrid(ws, noise_mode=noise_mode)
        timer.end("trigrid")
        output = self.render(ws, planes, camera, noise_mode=noise_mode, **render_options)
        output.timings_ms = {**timings, **output.timings_ms}
        return output

    def predict_pose(self, z: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """The pose branch: z [B, z_dim], camera [B, 25] -> pose [B, 6], mirror-symmetric in the camera."""
        return self.pose_branch(z, camera)
