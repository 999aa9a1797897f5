"""The pose-aware dual discriminator (reference-spec.md §3): a StyleGAN2 ResNet D on 7 channels with a pose head.

Input: concat(image [3, res], resize(image_raw -> res) [3], 2 * resize(mask -> res) - 1 [1]), antialiased
bilinear resizes. The trunk ends in a 4x4 epilogue (minibatch-std, conv, flatten, fc, out); the logit is the
projection of `out` onto a mapping of the condition concat(camera, pose), and the pose head `DPoseBranch`
regresses the body pose [6] from the flattened 4x4 features and the camera.

Deliberate difference from the reference: the reference's pose head sees a mirrored image with the
*unmirrored* camera. Here a left-side view (`is_left`) is mirrored together with its camera, and the predicted
pose is mirrored back, exactly like the generator's pose branch, so the pose head only ever sees right-side
views with a camera that agrees with the pixels. Since the trunk does not depend on the condition, the
trunk runs a second time only when some sample of the batch was mirrored; otherwise the pose pass's features
give the logit too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.camera import is_left, mirror_camera, mirror_pose
from core.config import GeneratorConfig
from core.networks.filters import setup_filter
from core.networks.layers import Conv2dLayer, FullyConnectedLayer
from core.networks.mapping import MappingNetwork

# The reference D's channels at the paper size: channel_base 32768, channel_max 512, whatever G's backbone uses.
REFERENCE_D_CHANNEL_BASE = 32768
REFERENCE_G_CHANNEL_BASE = 32768


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Shape of the discriminator."""

    img_resolution: int = 512  # resolution of D's image input (the generator's output size)
    img_channels: int = 7  # image (3) + resized raw image (3) + mask (1)
    c_dim: int = 25  # camera label size
    pose_dim: int = 6  # body pose size
    channel_base: int = 32768  # channels at resolution r are min(channel_base // r, channel_max)
    channel_max: int = 512  # upper bound of channels
    cmap_dim: int | None = None  # size of the condition mapping and the final projection; None = channels at 4x4
    mapping_layers: int = 8  # fully connected layers of the condition mapping
    mapping_lr_multiplier: float = 0.01  # learning-rate multiplier of the condition mapping's layers
    mbstd_group: int = 4  # minibatch-standard-deviation group size (clipped to the batch)
    mbstd_channels: int = 1  # feature groups of the minibatch-standard-deviation statistic
    num_fp16_res: int = 4  # the highest resolutions that run in float16 (CUDA only)
    conv_clamp: float | None = 256.0  # clamp of every convolution output
    pose_hidden: tuple[int, ...] = (2048, 512, 128, 32)  # hidden widths of the pose head

    @classmethod
    def for_generator(cls, config: GeneratorConfig, mbstd_group: int = 4) -> "DiscriminatorConfig":
        """The discriminator that goes with a generator: its output size, and channels scaled like its backbone."""
        scale = config.channel_base / REFERENCE_G_CHANNEL_BASE
        channel_max = config.channel_max
        # The pose head narrows from 4x the 4x4 channels, like the paper's 2048 -> 512 -> 128 -> 32.
        pose_hidden = (4 * channel_max, channel_max, min(128, channel_max), 32)
        return cls(img_resolution=config.img_resolution, c_dim=config.c_dim, pose_dim=config.pose_dim,
                   channel_base=int(REFERENCE_D_CHANNEL_BASE * scale), channel_max=channel_max,
                   mbstd_group=mbstd_group, pose_hidden=pose_hidden)


class DiscriminatorBlock(nn.Module):
    """One ResNet block halving the resolution: (fromrgb), conv0, conv1 (down 2), and a 1x1 skip (down 2)."""

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 use_fp16: bool, conv_clamp: float | None):
        super().__init__()
        self.resolution = resolution
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter())
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation="lrelu", down=2, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> torch.Tensor:
        """x: [B, in, r, r] or None (first block, which reads img: [B, img_channels, r, r]) -> [B, out, r/2, r/2]."""
        dtype = torch.float16 if self.use_fp16 and (x if x is not None else img).is_cuda else torch.float32
        if x is None:
            x = self.fromrgb(img.to(dtype))
        x = x.to(dtype)
        # Residual branches are each scaled by sqrt(1/2) so that their sum keeps unit variance.
        skip = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return skip + x


def minibatch_std(x: torch.Tensor, group_size: int, channels: int) -> torch.Tensor:
    """Append the per-group standard deviation of the features: [B, C, H, W] -> [B, C + channels, H, W].

    Groups are consecutive samples (0..G-1, G..2G-1, ...), so splitting a global batch into consecutive
    per-rank chunks whose size is a multiple of G gives the same statistic on every layout.
    """
    batch, features, height, width = x.shape
    group = min(group_size, batch)
    if batch % group != 0:
        raise ValueError(f"minibatch_std: batch {batch} is not a multiple of the group size {group}")
    y = x.float().reshape(batch // group, group, channels, features // channels, height, width)
    y = (y.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [B/G, channels]
    y = y.reshape(batch // group, 1, channels, 1, 1).expand(-1, group, -1, height, width)
    return torch.cat([x, y.reshape(batch, channels, height, width).to(x.dtype)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 end of the trunk: minibatch-std, conv, flatten (exposed for the pose head), fc, out."""

    def __init__(self, in_channels: int, cmap_dim: int, mbstd_group: int, mbstd_channels: int,
                 conv_clamp: float | None):
        super().__init__()
        self.mbstd_group = mbstd_group
        self.mbstd_channels = mbstd_channels
        self.conv = Conv2dLayer(in_channels + mbstd_channels, in_channels, 3, activation="lrelu",
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * 16, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, cmap_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, C, 4, 4] -> (out [B, cmap_dim], flatten [B, C * 16])."""
        x = minibatch_std(x.float(), self.mbstd_group, self.mbstd_channels)
        flatten = self.conv(x).flatten(1)
        return self.out(self.fc(flatten)), flatten


class DPoseBranch(nn.Module):
    """Pose head: concat(flatten, camera) -> hidden lrelu layers -> pose [6] (linear)."""

    def __init__(self, in_features: int, hidden: tuple[int, ...], pose_dim: int):
        super().__init__()
        widths = [in_features, *hidden, pose_dim]
        self.net = nn.Sequential(*[
            FullyConnectedLayer(widths[i], widths[i + 1], activation="lrelu" if i + 2 < len(widths) else "linear")
            for i in range(len(widths) - 1)
        ])

    def forward(self, flatten: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """flatten: [B, F], camera: [B, 25] -> pose [B, 6]."""
        return self.net(torch.cat([flatten, camera.float()], dim=1))


@dataclass
class DiscriminatorOutput:
    """What one discriminator call returns."""

    logits: torch.Tensor  # [B, 1] realness scores
    pose: torch.Tensor  # [B, 6] predicted body pose (neck, head axis-angle, radians)


class PoseAwareDiscriminator(nn.Module):
    """D(image, image_raw, mask, camera) -> (logits [B, 1], pose [B, 6]); module names as reference-spec.md §8."""

    def __init__(self, config: DiscriminatorConfig):
        super().__init__()
        self.config = config
        log2 = int(math.log2(config.img_resolution))
        if 2**log2 != config.img_resolution or log2 < 3:
            raise ValueError(f"discriminator: img_resolution must be a power of two >= 8, got {config.img_resolution}")
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {r: min(config.channel_base // r, config.channel_max) for r in self.block_resolutions + [4]}
        cmap_dim = config.cmap_dim or channels[4]
        fp16_resolution = max(2 ** (log2 + 1 - config.num_fp16_res), 8)
        for resolution in self.block_resolutions:
            in_channels = channels[resolution] if resolution < config.img_resolution else 0
            block = DiscriminatorBlock(in_channels, channels[resolution], channels[resolution // 2], resolution,
                                       config.img_channels, use_fp16=resolution >= fp16_resolution,
                                       conv_clamp=config.conv_clamp)
            setattr(self, f"b{resolution}", block)
        # Condition-only mapping (no z, no truncation): embed, 2nd-moment normalisation, lrelu FCs.
        self.mapping = MappingNetwork(z_dim=0, c_dim=config.c_dim + config.pose_dim, w_dim=cmap_dim, num_ws=None,
                                      num_layers=config.mapping_layers, lr_multiplier=config.mapping_lr_multiplier,
                                      w_avg_beta=None)
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, config.mbstd_group, config.mbstd_channels,
                                        config.conv_clamp)
        self.pose_branch = DPoseBranch(channels[4] * 16 + config.c_dim, config.pose_hidden, config.pose_dim)
        self.register_buffer("resample_filter", setup_filter())
        self.cmap_dim = cmap_dim

    def assemble_input(self, image: torch.Tensor, image_raw: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, 3, res, res], [B, 3, R, R], [B, 1, R, R] (mask in [0, 1]) -> the 7-channel input [B, 7, res, res]."""
        res = self.config.img_resolution
        if image.shape[-1] != res or image.shape[-2] != res:
            raise ValueError(f"discriminator: image must be [B, 3, {res}, {res}], got {tuple(image.shape)}")
        raw = resize_antialiased(image_raw, res)
        mask = resize_antialiased(mask, res) * 2 - 1
        return torch.cat([image, raw, mask], dim=1)

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, 7, res, res] -> (out [B, cmap_dim], flatten [B, C4 * 16]); independent of the condition."""
        return self.b4(self.block_features(x)[-1].float())

    def block_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x: [B, 7, res, res] -> the output of every block, finest first (a perceptual distance's features)."""
        features, outputs = None, []
        for resolution in self.block_resolutions:
            features = getattr(self, f"b{resolution}")(features, x if features is None else None)
            outputs.append(features)
        return outputs

    def predict_pose(self, x: torch.Tensor, camera: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: [B, 7, res, res], camera: [B, 25] -> (pose [B, 6], trunk `out` when no sample was mirrored else None).

        Left-side views are mirrored with their camera; their predicted pose is mirrored back.
        """
        left = is_left(camera)
        if bool(left.any()):
            flip = left.reshape(-1, 1, 1, 1)
            pose_input = torch.where(flip, x.flip(-1), x)
            pose_camera = torch.where(left[:, None], mirror_camera(camera), camera)
            _, flatten = self.trunk(pose_input)
            pose = self.pose_branch(flatten, pose_camera)
            return torch.where(left[:, None], mirror_pose(pose), pose), None
        out, flatten = self.trunk(x)
        return self.pose_branch(flatten, camera), out

    def forward(self, image: torch.Tensor, image_raw: torch.Tensor, mask: torch.Tensor,
                camera: torch.Tensor) -> DiscriminatorOutput:
        """image [B, 3, res, res] in [-1, 1], image_raw [B, 3, R, R], mask [B, 1, R, R] in [0, 1], camera [B, 25]."""
        x = self.assemble_input(image, image_raw, mask)
        pose, out = self.predict_pose(x, camera)
        if out is None:
            out, _ = self.trunk(x)
        cmap = self.mapping(None, torch.cat([camera, pose.detach()], dim=1))
        logits = (out * cmap).sum(dim=1, keepdim=True) / math.sqrt(self.cmap_dim)
        return DiscriminatorOutput(logits=logits, pose=pose)


def resize_antialiased(image: torch.Tensor, resolution: int) -> torch.Tensor:
    """Antialiased bilinear resize of [B, C, H, W] to [B, C, resolution, resolution] (identity when equal)."""
    if image.shape[-1] == resolution and image.shape[-2] == resolution:
        return image
    return F.interpolate(image, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)


def parameter_count(module: nn.Module) -> int:
    """Number of trainable numbers in `module`."""
    return sum(parameter.numel() for parameter in module.parameters())
