"""Super-resolution: the neural image and its features -> the final image (reference-spec.md §1.9).

One class covers the reference's variants: the input is resized to `sr_input_resolution`, then two
SynthesisBlocks (`block0`, `block1`) run with the last w repeated. block1 upsamples by 2 when the output is at
least twice the input; block0 upsamples too when it is at least four times (paper-512 = Hybrid8XDC: 128 -> 256
-> 512; paper-256 = Hybrid4X: 128 -> 128 -> 256).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.networks.filters import DEFAULT_TAPS, setup_filter
from core.networks.synthesis import SynthesisBlock

WS_PER_BLOCK = 3  # conv0, conv1 and torgb each read one (identical) w


class SuperResolution(nn.Module):
    """rgb [B, 3, R, R] + features [B, C, R, R] + ws [B, num_ws, w_dim] -> image [B, 3, res, res]."""

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, int],
        w_dim: int,
        input_resolution: int,
        img_resolution: int,
        img_channels: int = 3,
        use_fp16: bool = True,
        conv_clamp: float | None = 256.0,
        antialias: bool = True,
        noise_mode: str = "none",
    ):
        super().__init__()
        factor = img_resolution // input_resolution
        if factor not in (1, 2, 4) or factor * input_resolution != img_resolution:
            raise ValueError(f"super-resolution: img_resolution {img_resolution} must be 1, 2 or 4 times "
                             f"sr_input_resolution {input_resolution}; change one of them in the GeneratorConfig")
        self.input_resolution = input_resolution
        self.img_resolution = img_resolution
        self.antialias = antialias
        self.noise_mode = noise_mode
        up0 = 2 if factor >= 4 else 1
        up1 = 2 if factor >= 2 else 1
        self.block0 = SynthesisBlock(in_channels, channels[0], w_dim, input_resolution * up0, img_channels, up=up0,
                                     use_fp16=use_fp16, conv_clamp=conv_clamp)
        self.block1 = SynthesisBlock(channels[0], channels[1], w_dim, img_resolution, img_channels, up=up1,
                                     use_fp16=use_fp16, conv_clamp=conv_clamp)
        if up0 == 1:
            # The reference's non-upsampling variants keep this (unused) filter; kept for checkpoint compatibility.
            self.register_buffer("resample_filter", setup_filter(DEFAULT_TAPS))

    def _resize(self, image: torch.Tensor, size: int) -> torch.Tensor:
        if image.shape[-1] == size and image.shape[-2] == size:
            return image
        return F.interpolate(image, size=(size, size), mode="bilinear", align_corners=False, antialias=self.antialias)

    def forward(self, rgb: torch.Tensor, features: torch.Tensor, ws: torch.Tensor,
                fused_modconv: bool | None = None, force_fp32: bool = False,
                input_resolution: int | None = None) -> torch.Tensor:
        """rgb: [B, 3, R, R], features: [B, C, R, R], ws: [B, num_ws, w_dim] -> [B, 3, res, res] float32.

        input_resolution: run at this input size instead of `self.input_resolution` (a preview at half size);
        the output is then that many times the upsampling factor, not `img_resolution`.
        """
        ws_last = ws[:, -1:].expand(-1, WS_PER_BLOCK, -1)
        size = input_resolution or self.input_resolution
        x, img = self._resize(features, size), self._resize(rgb, size)
        x, img = self.block0(x, img, ws_last, noise_mode=self.noise_mode, fused_modconv=fused_modconv,
                             force_fp32=force_fp32)
        x, img = self.block1(x, img, ws_last, noise_mode=self.noise_mode, fused_modconv=fused_modconv,
                             force_fp32=force_fp32)
        return img
