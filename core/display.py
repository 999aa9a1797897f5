"""Turn the generator's output tensors into the RGB bytes the GUI shows."""
from __future__ import annotations

import numpy as np
import torch


def to_display_image(tensor: torch.Tensor, output: str) -> np.ndarray:
    """uint8 [H, W, 3] from one output of `TriGridGenerator.render` for the first batch item.

    `tensor`: [B, 3, H, W] in [-1, 1] for image / image_raw / image_background, [B, 1, H, W] in world
    units for image_depth (min-max normalised, near = white, as the reference shows it), [B, 1, H, W] in
    [0, 1] for image_mask.
    """
    if tensor.dim() != 4 or tensor.shape[1] not in (1, 3):
        raise ValueError(f"output {output!r}: expected a [B, 1 or 3, H, W] tensor, got shape {tuple(tensor.shape)}")
    item = tensor[0].detach().float()
    if output == "image_depth":
        near, far = item.min(), item.max()
        # A flat depth map has no range to normalise: show it as black rather than dividing by zero.
        unit = (far - item) / (far - near) if far > near else torch.zeros_like(item)
    elif output == "image_mask":
        unit = item
    else:
        unit = (item + 1.0) / 2.0
    if unit.shape[0] == 1:
        unit = unit.expand(3, -1, -1)
    pixels = (unit * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
    return pixels.permute(1, 2, 0).contiguous().cpu().numpy()
