"""StyleGAN2 mapping network z, c -> w with a tracked average for truncation, and the backbone (reference-spec.md §1.2).

Names per §8: `embed.{weight, bias}`, `fc0 ... fc{n-1}.{weight, bias}`, buffer `w_avg`.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from core.networks.layers import FullyConnectedLayer, normalize_2nd_moment
from core.networks.synthesis import SynthesisNetwork


class MappingNetwork(nn.Module):
    """x = norm(z) ++ norm(embed(c)) -> fc0 ... fc{n-1} (lrelu, slow learning rate) -> w broadcast to num_ws."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 2,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.998,
    ):
        super().__init__()
        if z_dim <= 0 and c_dim <= 0:
            raise ValueError("MappingNetwork needs z_dim > 0 or c_dim > 0")
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        embed_features = w_dim if c_dim > 0 else 0
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        features = [z_dim + embed_features] + [w_dim] * num_layers
        for index in range(num_layers):
            layer = FullyConnectedLayer(features[index], features[index + 1], activation="lrelu",
                                        lr_multiplier=lr_multiplier)
            setattr(self, f"fc{index}", layer)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        """z: [B, z_dim], c: [B, c_dim] -> ws [B, num_ws, w_dim] (w [B, w_dim] when num_ws is None).

        Truncation w = w_avg + psi * (w - w_avg) applies to the first `truncation_cutoff` ws (all when None).
        `update_emas` moves w_avg toward this batch's mean w with decay w_avg_beta.
        """
        parts = []
        if self.z_dim > 0:
            if z is None or z.ndim != 2 or z.shape[1] != self.z_dim:
                raise ValueError(f"MappingNetwork: z must be [B, {self.z_dim}], got "
                                 f"{None if z is None else tuple(z.shape)}")
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim > 0:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"MappingNetwork: c must be [B, {self.c_dim}], got "
                                 f"{None if c is None else tuple(c.shape)}")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1)
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        if update_emas and self.w_avg_beta is not None:
            with torch.no_grad():
                self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            # The discriminator's condition mapping: one vector per sample, no truncation.
            return x
        ws = x.unsqueeze(1).expand(-1, self.num_ws, -1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else max(0, min(int(truncation_cutoff), self.num_ws))
            truncated = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
            ws = torch.cat([truncated, ws[:, cutoff:]], dim=1)
        return ws.contiguous()


class StyleGAN2Backbone(nn.Module):
    """The tri-grid backbone: `mapping` (z, c -> ws) and `synthesis` (ws -> [B, channels, res, res])."""

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int,
        channel_max: int,
        mapping_layers: int = 2,
        mapping_lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.998,
    ):
        super().__init__()
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channel_base=channel_base,
                                          channel_max=channel_max)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, num_layers=mapping_layers,
                                      lr_multiplier=mapping_lr_multiplier, w_avg_beta=w_avg_beta)
