"""From seeds to ws: z per seed, blending in W around w_avg, truncation and style mixing."""
from __future__ import annotations

import numpy as np
import torch


def z_from_seed(seed: int, z_dim: int, device: torch.device) -> torch.Tensor:
    """z: [1, z_dim] drawn from N(0, 1) by NumPy's RandomState(seed), the same on every run and machine."""
    # RandomState's stream is frozen by NumPy's compatibility policy, unlike torch's or default_rng's.
    values = np.random.RandomState(seed % 2**32).randn(1, z_dim)
    return torch.from_numpy(values.astype(np.float32)).to(device)


def mean_ws(generator: torch.nn.Module, camera: torch.Tensor, pose: torch.Tensor | None = None) -> torch.Tensor:
    """ws: [1, num_ws, w_dim] all equal to the mapping's w_avg (psi = 0 over every layer returns it, whatever z)."""
    z = torch.zeros(1, generator.config.z_dim, device=camera.device)
    return generator.mapping(z, camera, pose, truncation_psi=0.0, truncation_cutoff=None)


def blended_ws(
    generator: torch.nn.Module,
    seeds: tuple[tuple[int, float], ...],
    camera: torch.Tensor,
    pose: torch.Tensor,
    truncation_psi: float,
    truncation_cutoff: int | None,
) -> torch.Tensor:
    """ws: [1, num_ws, w_dim] = w_avg + sum_i weight_i * (w_i - w_avg) over the (seed, weight) pairs.

    Every seed is mapped with the same conditioning `camera`: [1, 25] and `pose`: [1, 6] (the reference
    conditioned only the last seed, a bug this does not repeat).
    """
    z_dim = generator.config.z_dim
    device = camera.device
    w_avg = mean_ws(generator, camera, pose)
    ws = w_avg.clone()
    for seed, weight in seeds:
        ws_seed = generator.mapping(
            z_from_seed(seed, z_dim, device), camera, pose,
            truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff,
        )
        ws = ws + weight * (ws_seed - w_avg)
    return ws


def style_mixed(
    ws: torch.Tensor,
    generator: torch.nn.Module,
    stylemix_seed: int,
    layers: tuple[int, ...],
    camera: torch.Tensor,
    pose: torch.Tensor,
    truncation_psi: float,
    truncation_cutoff: int | None,
) -> torch.Tensor:
    """ws: [1, num_ws, w_dim] with the ws at `layers` replaced by those of `stylemix_seed`."""
    num_ws = ws.shape[1]
    out_of_range = [layer for layer in layers if not 0 <= layer < num_ws]
    if out_of_range:
        raise ValueError(f"style-mixing layers {out_of_range} do not exist: this model has ws 0..{num_ws - 1}")
    mix_z = z_from_seed(stylemix_seed, generator.config.z_dim, ws.device)
    mix_ws = generator.mapping(mix_z, camera, pose, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
    mixed = ws.clone()
    index = list(layers)
    mixed[:, index] = mix_ws[:, index]
    return mixed
