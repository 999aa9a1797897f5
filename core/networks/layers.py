"""StyleGAN2 building blocks with equalised learning rate, shared by the generator and the discriminator.

Behaviour per reference-spec.md §1.2-1.3: weights are stored as N(0, 1) / lr_multiplier and scaled at run
time, so that every layer learns at the same speed; activations are linear or lrelu(0.2) * sqrt(2), with an
optional clamp. Everything is pure PyTorch (no custom CUDA ops) and works on any device and dtype.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from core.networks.filters import DEFAULT_TAPS, channels_last_on_cpu, records_gradients, setup_filter, upfirdn2d
from core.networks import winograd

# Default gain of each activation: keeps the signal's second moment unchanged through the layer.
ACTIVATION_GAINS = {"linear": 1.0, "relu": math.sqrt(2.0), "lrelu": math.sqrt(2.0)}
LRELU_SLOPE = 0.2  # negative slope of StyleGAN2's leaky ReLU


def bias_act(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    dim: int = 1,
    owned: bool = False,
) -> torch.Tensor:
    """Add `bias` along `dim`, apply the activation, multiply by `gain` (default: the activation's), clamp to ±clamp.

    x: [B, C, ...] (or any shape with the channels at `dim`); bias: [C]. owned: the caller hands x over (a fresh
    result nobody else reads), so without gradients even the bias is added in place.
    """
    if activation not in ACTIVATION_GAINS:
        raise ValueError(f"bias_act: unknown activation {activation!r}; known: {sorted(ACTIVATION_GAINS)}")
    tracked = records_gradients(x, bias)
    # Each step after the first may reuse the buffer the previous one made (e.g. a 512^2 x 128 super-resolution
    # map: no fresh 128 MB buffer per step), unless autograd saves those results. The caller's x is edited only
    # when it is `owned`.
    editable = owned and not tracked
    if bias is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        bias = bias.to(x.dtype).reshape(shape)
        x, editable = (x.add_(bias) if editable else x + bias), not tracked
    if activation == "lrelu":
        x, editable = F.leaky_relu(x, LRELU_SLOPE, inplace=editable), not tracked
    elif activation == "relu":
        x, editable = F.relu(x, inplace=editable), not tracked
    gain = ACTIVATION_GAINS[activation] if gain is None else gain
    if gain != 1:
        x, editable = (x.mul_(gain) if editable else x * gain), not tracked
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp) if editable else x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) along `dim`: every latent gets unit second moment."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


class FullyConnectedLayer(nn.Module):
    """Equalised-learning-rate linear layer: y = act(x @ (W * lr / sqrt(in))^T + b * lr)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        # Stored divided by lr_multiplier so that the effective initial bias is exactly bias_init.
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init) / lr_multiplier)) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def scaled(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The effective (weight [out, in], bias [out] or None) in `dtype`: the stored ones times their gains."""
        weight = self.weight.to(dtype) * self.weight_gain
        return weight, None if self.bias is None else self.bias.to(dtype) * self.bias_gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, in_features] -> [B, out_features]."""
        weight, bias = self.scaled(x.dtype)
        if self.activation == "linear" and bias is not None:
            return torch.addmm(bias.unsqueeze(0), x, weight.t())
        return bias_act(x @ weight.t(), bias, activation=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


def _conv(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int, groups: int, flip_weight: bool,
          transpose: bool = False) -> torch.Tensor:
    """Plain (or transposed) convolution; `flip_weight=True` means correlation, as torch's conv2d computes."""
    if not flip_weight and weight.shape[-1] * weight.shape[-2] > 1:
        weight = weight.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, weight, stride=stride, padding=padding, groups=groups)
    if winograd.applies(x, weight, stride, padding, groups):  # wide 3x3 layers of a render on the CPU
        return winograd.conv3x3(x, weight)
    return F.conv2d(x, weight, stride=stride, padding=padding, groups=groups)


def conv2d_resample(
    x: torch.Tensor,
    weight: torch.Tensor,
    resample_filter: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Convolution fused with FIR upsampling or downsampling by an integer factor.

    x: [B, I, H, W]; weight: [O, I / groups, k, k]; returns [B, O, H * up / down, W * up / down] when
    `padding = k // 2`. Upsampling equals "FIR-upsample by `up` keeping the filter's full support (no crop),
    then a valid convolution", run as a strided transposed convolution on the small input (up**2 times fewer
    multiplications). Downsampling equals "FIR-filter, then a strided valid convolution".
    """
    if up > 1 and down > 1:
        raise ValueError("conv2d_resample: up- and downsampling at once is not supported")
    if (up > 1 or down > 1) and resample_filter is None:
        raise ValueError("conv2d_resample: resampling needs a resample_filter")
    kernel_size = weight.shape[-1]
    if up == 1 and down == 1:
        return _conv(x, weight, stride=1, padding=padding, groups=groups, flip_weight=flip_weight)
    taps = resample_filter.shape[-1]
    if down > 1:
        # Low-pass first, then let a strided convolution drop the pixels it would not keep.
        pad0 = padding + (taps - down + 1) // 2
        pad1 = padding + (taps - down) // 2
        x = upfirdn2d(x, resample_filter, padding=(pad0, pad1, pad0, pad1))
        return _conv(x, weight, stride=down, padding=0, groups=groups, flip_weight=flip_weight)
    pad0 = padding + (taps + up - 1) // 2
    pad1 = padding + (taps - up) // 2
    if kernel_size < up:
        # Too small a kernel for the transposed form: upsample explicitly, then convolve.
        x = upfirdn2d(x, resample_filter, up=up, padding=(pad0, pad1, pad0, pad1), gain=up**2)
        return _conv(x, weight, stride=1, padding=0, groups=groups, flip_weight=flip_weight)
    # The transposed convolution already spans kernel_size - 1 (start) and kernel_size - up (end) pixels.
    pad0 -= kernel_size - 1
    pad1 -= kernel_size - up
    overlap = max(min(-pad0, -pad1), 0)
    out_channels, in_per_group = weight.shape[0], weight.shape[1]
    # conv_transpose2d wants [I, O / groups, k, k].
    weight_t = weight.reshape(groups, out_channels // groups, in_per_group, kernel_size, kernel_size)
    weight_t = weight_t.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, kernel_size, kernel_size)
    # Channels-last in: the CPU's transposed convolution then makes no NCHW copy of its output, and the FIR filter
    # below runs 2.7x faster on it (paper-512's last block: 989 -> 414 ms, identical values).
    x = channels_last_on_cpu(x, weight)
    x = _conv(x, weight_t, stride=up, padding=overlap, groups=groups, flip_weight=not flip_weight, transpose=True)
    return upfirdn2d(x, resample_filter, padding=(pad0 + overlap, pad1 + overlap, pad0 + overlap, pad1 + overlap),
                     gain=up**2)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused: bool = True,
) -> torch.Tensor:
    """StyleGAN2 modulated convolution: per-sample weights W * s_in, optionally demodulated to unit norm per output.

    x: [B, I, H, W]; weight: [O, I, k, k]; styles: [B, I]; noise: broadcastable to [B, O, H', W'] or None.
    `fused=True` runs one grouped convolution with per-sample weights; `fused=False` scales activations
    instead (cheaper in training); both give the same result.
    """
    batch = x.shape[0]
    out_channels, in_channels, kernel_h, kernel_w = weight.shape
    if styles.shape != (batch, in_channels):
        raise ValueError(f"modulated_conv2d: styles must be [{batch}, {in_channels}], got {tuple(styles.shape)}")
    if x.dtype == torch.float16 and demodulate:
        # Rescale before multiplying so that half precision cannot overflow; demodulation undoes the scale.
        weight = weight * (1 / math.sqrt(in_channels * kernel_h * kernel_w)
                           / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    per_sample = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [B, O, I, k, k]
    demod = None
    if demodulate:
        demod = (per_sample.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [B, O]
    if not fused:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), resample_filter, up=up, down=down, padding=padding,
                            flip_weight=flip_weight)
        if demod is not None:
            x = x * demod.to(x.dtype).reshape(batch, -1, 1, 1)
        return _add_noise(x, noise)
    if demod is not None:
        per_sample = per_sample * demod.reshape(batch, -1, 1, 1, 1)
    # Batch 1 needs no reshape, whose view would give the size-1 batch a stride that makes the CPU's convolution
    # copy a channels-last input back to NCHW (see conv2d_resample).
    if batch > 1:
        x = x.reshape(1, -1, *x.shape[2:])
    per_sample = per_sample.reshape(-1, in_channels, kernel_h, kernel_w).to(x.dtype)
    x = conv2d_resample(x, per_sample, resample_filter, up=up, down=down, padding=padding, groups=batch,
                        flip_weight=flip_weight)
    if batch > 1:
        x = x.reshape(batch, -1, *x.shape[2:])
    return _add_noise(x, noise)


def _add_noise(x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
    """x + noise; in place when nothing records gradients (x is the convolution's fresh output here)."""
    if noise is None:
        return x
    if records_gradients(x, noise):
        return x + noise.to(x.dtype)
    return x.add_(noise.to(x.dtype))


class Conv2dLayer(nn.Module):
    """Equalised-learning-rate convolution with optional FIR up/downsampling, bias, activation and clamp.

    The discriminator's `fromrgb`, `conv0`, `conv1` (down=2) and `skip` (1x1, down=2, no bias) layers.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_taps: tuple[float, ...] = DEFAULT_TAPS,
        conv_clamp: float | None = None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer("resample_filter", setup_filter(resample_taps))
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = ACTIVATION_GAINS[activation]

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """x: [B, in_channels, H, W] -> [B, out_channels, H * up / down, W * up / down]."""
        weight = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, weight, self.resample_filter, up=self.up, down=self.down, padding=self.padding,
                            flip_weight=(self.up == 1))
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, activation=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, activation={self.activation}, "
                f"up={self.up}, down={self.down}")
