"""StyleGAN2 synthesis: styled 3x3 layers, ToRGB, 'skip' blocks and the whole network (reference-spec.md §1.3).

Parameter names follow reference-spec.md §8: `b{r}.const`, `b{r}.conv0|conv1.{weight, bias, noise_strength,
affine.*}`, buffers `noise_const [r, r]` and `resample_filter [4, 4]`, `b{r}.torgb.*`.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from core.names import NOISE_MODES
from core.networks.filters import DEFAULT_TAPS, records_gradients, setup_filter, upsample2d
from core.networks.layers import ACTIVATION_GAINS, FullyConnectedLayer, bias_act, modulated_conv2d



def _check_noise_mode(noise_mode: str) -> None:
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"unknown noise_mode {noise_mode!r}; use one of {NOISE_MODES}")


def resolve_fused(fused_modconv: bool | None, module: nn.Module) -> bool:
    """Grouped ('fused') modulated convolution only at inference unless the caller decides."""
    return (not module.training) if fused_modconv is None else fused_modconv


class SynthesisLayer(nn.Module):
    """Modulated, demodulated 3x3 convolution (optionally upsampling by 2) + noise + bias + lrelu."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        activation: str = "lrelu",
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(DEFAULT_TAPS))
        # Bias 1 keeps the initial styles at 1 so that modulation starts as identity.
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool | None = None,
                gain: float = 1.0) -> torch.Tensor:
        """x: [B, in, H, W], w: [B, w_dim] -> [B, out, H * up, W * up]."""
        _check_noise_mode(noise_mode)
        styles = self.affine(w)
        noise = None
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device,
                                dtype=x.dtype) * self.noise_strength
        elif noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        # Reference weights act as a true convolution in the upsampling layers and a correlation elsewhere.
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                             fused=resolve_fused(fused_modconv, self))
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        # The convolution's output is this layer's own: the bias goes in place when nothing records gradients.
        return bias_act(x, self.bias, activation=self.activation, gain=ACTIVATION_GAINS[self.activation] * gain,
                        clamp=clamp, owned=True)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, resolution={self.resolution}, "
                f"up={self.up}")


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution without demodulation (weight gain 1/sqrt(in)) + bias: features to image channels."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool | None = None) -> torch.Tensor:
        """x: [B, in, H, W], w: [B, w_dim] -> [B, out, H, W]."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=resolve_fused(fused_modconv, self))
        return bias_act(x, self.bias, clamp=self.conv_clamp, owned=True)

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, out_channels={self.out_channels}"


class SynthesisBlock(nn.Module):
    """One resolution of the 'skip' architecture: (const | conv0 up) -> conv1 -> torgb, summed into the image.

    `up=1` gives the no-upsampling variant used by the 4x super-resolution's first block.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        up: int = 2,
        use_fp16: bool = False,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.up = up
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter(DEFAULT_TAPS))
        self.num_conv = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=up, conv_clamp=conv_clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_torgb = 1

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool | None = None,
        force_fp32: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x: [B, in, r/up, r/up] (None for the first block), img: [B, img_channels, r/up, r/up] or None,
        ws: [B, num_conv + num_torgb, w_dim] -> (x [B, out, r, r], img [B, img_channels, r, r] float32)."""
        expected = self.num_conv + self.num_torgb
        if ws.ndim != 3 or ws.shape[1] != expected:
            raise ValueError(f"SynthesisBlock b{self.resolution}: ws must be [B, {expected}, w_dim], "
                             f"got {tuple(ws.shape)}")
        w_iter = iter(ws.unbind(dim=1))
        # Half precision only where it is fast and safe: on CUDA, in blocks built for it.
        dtype = torch.float16 if self.use_fp16 and not force_fp32 and ws.device.type == "cuda" else torch.float32
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
        else:
            x = self.conv0(x.to(dtype), next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        if img is not None and self.up > 1:
            img = upsample2d(img, self.resample_filter, factor=self.up)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
        if img is None:
            img = y
        elif records_gradients(img, y):
            img = img + y
        else:  # y is torgb's fresh output: the skip sum goes into it (a 288-channel 256^2 sum in the tri-grid)
            img = y.add_(img)
        return x, img


class SynthesisNetwork(nn.Module):
    """Blocks b4 ... b{img_resolution}; channels at resolution r are min(channel_base // r, channel_max).

    num_ws = 2 per block (conv0/const-conv1) + 1 final ToRGB; block b{r} reads ws[idx : idx + num_conv + 1]
    where idx advances by num_conv, so each block's ToRGB shares its w with the next block's first conv.
    """

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 4 or 2**log2 != img_resolution:
            raise ValueError(f"SynthesisNetwork: img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_channels, channels[res], w_dim, res, img_channels, conv_clamp=conv_clamp)
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last block's ToRGB

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", fused_modconv: bool | None = None) -> torch.Tensor:
        """ws: [B, num_ws, w_dim] -> img [B, img_channels, img_resolution, img_resolution] float32."""
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"SynthesisNetwork: ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        x = img = None
        w_index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_index, block.num_conv + block.num_torgb)
            x, img = block(x, img, block_ws, noise_mode=noise_mode, fused_modconv=fused_modconv)
            w_index += block.num_conv
        return img
