"""Small heads of the generator: the OSG density/feature decoder and the pose branch (reference-spec.md §1.5, §1.10).

Names per §8: `decoder.net.0` (FC C -> hidden), `decoder.net.2` (FC hidden -> 1 + C); `pose_branch.net.{0, 1, 2}`.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn

from core.camera import is_left, mirror_camera, mirror_pose
from core.networks import softplus_kernel
from core.networks.filters import records_gradients
from core.networks.layers import LRELU_SLOPE, FullyConnectedLayer

DECODER_ACTIVATIONS = ("none", "sigmoid", "lrelu")  # what the decoder applies to its feature outputs


class OSGDecoder(nn.Module):
    """Averaged plane features -> FC -> Softplus -> FC: channel 0 is raw sigma, the rest are features."""

    def __init__(self, feature_channels: int, hidden: int, lr_multiplier: float = 1.0, activation: str = "none"):
        super().__init__()
        if activation not in DECODER_ACTIVATIONS:
            raise ValueError(f"unknown decoder_activation {activation!r}; use one of {DECODER_ACTIVATIONS}")
        self.feature_channels = feature_channels
        self.activation = activation
        self.net = nn.Sequential(
            FullyConnectedLayer(feature_channels, hidden, lr_multiplier=lr_multiplier),
            nn.Softplus(),
            FullyConnectedLayer(hidden, 1 + feature_channels, lr_multiplier=lr_multiplier),
        )

    def forward(self, mean_features: torch.Tensor, activation: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """mean_features: [B, N, C], the average of the three planes' features -> (sigma_raw [B, N, 1],
        features [B, N, C]).

        The caller averages the planes (core.rendering.mean_trigrid_features does it without a copy).
        `activation` overrides the feature activation chosen at construction (one of DECODER_ACTIVATIONS).
        """
        activation = self.activation if activation is None else activation
        if activation not in DECODER_ACTIVATIONS:
            raise ValueError(f"unknown decoder_activation {activation!r}; use one of {DECODER_ACTIVATIONS}")
        batch, num_points, channels = mean_features.shape
        if channels != self.feature_channels:
            raise ValueError(f"OSGDecoder: expected {self.feature_channels} feature channels, got {channels}")
        x = self._mlp(mean_features.reshape(batch * num_points, channels))
        x = x.reshape(batch, num_points, 1 + channels)
        sigma_raw, features = x[..., :1], x[..., 1:]
        if activation == "sigmoid":
            # Slightly beyond [0, 1] so that the extremes stay reachable with finite logits.
            features = torch.sigmoid(features) * 1.002 - 0.001
        elif activation == "lrelu":
            features = torch.nn.functional.leaky_relu(features, LRELU_SLOPE) * math.sqrt(2.0)
        return sigma_raw, features

    def _mlp(self, x: torch.Tensor) -> torch.Tensor:
        """self.net(x) for x [N, C]; a render on a CPU adds the hidden bias and takes the softplus in one compiled
        pass (core.networks.softplus_kernel: 2.1-2.6x that step, within float32 rounding of torch's)."""
        first, activation, second = self.net
        fast = (softplus_kernel.ready() and x.device.type == "cpu" and x.dtype == torch.float32
                and not torch.is_autocast_enabled("cpu")  # its matrix product would give bfloat16
                and first.bias is not None and not records_gradients(x, first.weight)
                and activation.beta == 1 and activation.threshold == 20)
        if not fast:
            return self.net(x)
        weight, bias = first.scaled(x.dtype)
        return second(softplus_kernel.bias_softplus_(torch.mm(x, weight.t()), bias))


class PoseBranch(nn.Module):
    """Predicts the body pose [B, 6] from z and the camera, with explicit left/right symmetry.

    Cameras on the subject's left are mirrored before the MLP and the prediction is mirrored back, so the MLP
    only ever sees right-side cameras and predict(z, mirror(c)) == mirror(predict(z, c)) holds exactly.
    """

    def __init__(self, z_dim: int, c_dim: int, hidden: tuple[int, int] = (128, 32), pose_dim: int = 6,
                 mirror_test: str = "project"):
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.mirror_test = mirror_test  # core.camera.is_left's test: "reference" for the authors' released models
        self.net = nn.Sequential(
            FullyConnectedLayer(z_dim + c_dim, hidden[0], activation="lrelu"),
            FullyConnectedLayer(hidden[0], hidden[1], activation="lrelu"),
            FullyConnectedLayer(hidden[1], pose_dim),
        )

    def forward(self, z: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
        """z: [B, z_dim] (raw, not normalised), camera: [B, c_dim] -> pose [B, 6] (axis-angle, radians)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim or camera.shape != (z.shape[0], self.c_dim):
            raise ValueError(f"PoseBranch: expected z [B, {self.z_dim}] and camera [B, {self.c_dim}], got "
                             f"{tuple(z.shape)} and {tuple(camera.shape)}")
        left = is_left(camera, self.mirror_test).unsqueeze(1)
        canonical_camera = torch.where(left, mirror_camera(camera), camera)
        pose = self.net(torch.cat([z, canonical_camera], dim=1))
        return torch.where(left, mirror_pose(pose), pose)
