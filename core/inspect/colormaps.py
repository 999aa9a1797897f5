"""Colour maps as small tables (no matplotlib): values -> uint8 RGB, plus a colour-bar strip."""
from __future__ import annotations

import numpy as np

# Nine evenly spaced stops of matplotlib's perceptually uniform maps; interpolated linearly in between.
COLORMAP_STOPS = {
    "viridis": ["440154", "472d7b", "3b528b", "2c728e", "21918c", "28ae80", "5ec962", "addc30", "fde725"],
    "magma": ["000004", "1c1044", "4f127b", "812581", "b5367a", "e55064", "fb8761", "fec287", "fcfdbf"],
    "gray": ["000000", "ffffff"],
}
COLORMAPS = tuple(COLORMAP_STOPS)


def _stops(name: str) -> np.ndarray:
    if name not in COLORMAP_STOPS:
        raise ValueError(f"unknown colour map {name!r}; use one of {', '.join(COLORMAPS)}")
    return np.array([[int(code[i:i + 2], 16) for i in (0, 2, 4)] for code in COLORMAP_STOPS[name]], np.float32)


def apply_colormap(values: np.ndarray, low: float, high: float, name: str = "viridis") -> np.ndarray:
    """uint8 RGB [..., 3] of `values` [...] mapped linearly from [low, high] onto the map (clamped; NaN -> low)."""
    stops = _stops(name)
    span = high - low if high > low else 1.0
    position = np.clip((np.nan_to_num(np.asarray(values, np.float32), nan=low) - low) / span, 0.0, 1.0)
    position = position * (len(stops) - 1)
    lower = np.minimum(np.floor(position).astype(np.int64), len(stops) - 2)
    fraction = (position - lower)[..., None]
    colors = stops[lower] * (1 - fraction) + stops[lower + 1] * fraction
    return np.round(colors).astype(np.uint8)


def colorbar(name: str = "viridis", length: int = 256, width: int = 16) -> np.ndarray:
    """A vertical colour-bar image uint8 [length, width, 3]: the map's high end at the top row."""
    ramp = np.linspace(1.0, 0.0, length, dtype=np.float32)
    return np.repeat(apply_colormap(ramp, 0.0, 1.0, name)[:, None, :], width, axis=1)
