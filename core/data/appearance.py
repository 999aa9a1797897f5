"""Per-identity appearance and shape of a synthetic portrait, and per-image lighting and background.

Everything here is plain numbers so that a record (JSON) rebuilds the same person exactly; `mirrored()`
gives the person reflected across x = 0, which the mirror-augmentation test renders.
"""
from __future__ import annotations

import colorsys
import dataclasses
from dataclasses import dataclass

import numpy as np

HAIR_STYLES = ("short", "bob", "long", "bun", "bald")
HAIR_STYLE_WEIGHTS = (0.32, 0.2, 0.3, 0.12, 0.06)
# Natural hair colours (linear RGB in [0, 1]) and a dyed one for variety.
HAIR_COLOURS = (
    (0.05, 0.04, 0.035), (0.16, 0.09, 0.05), (0.33, 0.2, 0.1), (0.75, 0.6, 0.34),
    (0.55, 0.22, 0.08), (0.62, 0.62, 0.6), (0.2, 0.25, 0.6),
)
HAIR_COLOUR_WEIGHTS = (0.3, 0.25, 0.16, 0.11, 0.07, 0.07, 0.04)
LIGHT_SKIN, DARK_SKIN = np.array([0.96, 0.78, 0.66]), np.array([0.3, 0.18, 0.12])
EYE_COLOURS = ((0.2, 0.12, 0.06), (0.1, 0.25, 0.45), (0.2, 0.35, 0.2), (0.08, 0.06, 0.05))


def _triple(values) -> tuple[float, float, float]:
    return tuple(float(value) for value in values)


@dataclass(frozen=True)
class Appearance:
    """One synthetic person: body shape, colours and the shape of every prop."""

    betas: tuple[float, ...]  # body shape coefficients (10) of the body model
    skin: tuple[float, float, float]  # skin colour, linear RGB
    hair_style: str  # one of HAIR_STYLES
    hair_colour: tuple[float, float, float]  # hair and brow colour
    hairline_deg: float  # elevation of the front hairline above the head centre
    hair_thickness: float  # how far the hair stands off the scalp, metres
    hair_length: float  # how far long hair falls below the head centre, metres
    hair_part: float  # -1..1: which side the fringe sweeps to (mirrors to -hair_part)
    eye_colour: tuple[float, float, float]  # iris colour
    eye_spacing_deg: float  # azimuth of each eye from the face's midline
    eye_size: float  # eyeball radius, metres
    brow_tilt_deg: float  # brow angle, inner end lower for > 0
    lip_colour: tuple[float, float, float]  # mouth colour
    mouth_width: float  # half-width of the mouth, metres
    nose_size: float  # scale of the nose tip prop
    ear_size: float  # scale of the ear props
    shirt_colour: tuple[float, float, float]  # clothing colour
    collar_colour: tuple[float, float, float]  # trim along the neckline
    neckline: float  # height of the neckline below the neck joint, metres
    v_neck: float  # depth of a V at the front of the neckline, metres
    feature_scale: float = 1.0  # size of eyes, brows, nose and mouth (> 1 keeps faces legible at 64 px)

    def mirrored(self) -> "Appearance":
        """The same person reflected across x = 0 (only the hair parting is asymmetric)."""
        return dataclasses.replace(self, hair_part=-self.hair_part)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Appearance":
        names = {item.name for item in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown appearance fields {sorted(unknown)}")
        converted = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
        return cls(**converted)


def _random_colour(rng: np.random.Generator, saturation: tuple[float, float], value: tuple[float, float]):
    return _triple(colorsys.hsv_to_rgb(rng.uniform(), rng.uniform(*saturation), rng.uniform(*value)))


def sample_appearance(rng: np.random.Generator, vary_shape: bool = True, feature_scale: float = 1.0) -> Appearance:
    """A random person. `vary_shape` False keeps the mean body (betas 0); `feature_scale` draws nothing."""
    tone = rng.beta(1.6, 1.6)
    skin = (1 - tone) * LIGHT_SKIN + tone * DARK_SKIN
    style = str(rng.choice(HAIR_STYLES, p=HAIR_STYLE_WEIGHTS))
    hair = np.array(HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=HAIR_COLOUR_WEIGHTS)]) * rng.uniform(0.85, 1.15)
    betas = rng.normal(0.0, 0.6, size=10) if vary_shape else np.zeros(10)
    return Appearance(
        betas=tuple(float(value) for value in betas),
        skin=_triple(np.clip(skin * rng.uniform(0.95, 1.05, size=3), 0, 1)),
        hair_style=style,
        hair_colour=_triple(np.clip(hair, 0, 1)),
        hairline_deg=float(rng.uniform(18.0, 34.0)),
        hair_thickness=float(rng.uniform(0.008, 0.022) if style != "bob" else rng.uniform(0.018, 0.03)),
        hair_length=float(rng.uniform(0.16, 0.3)),
        hair_part=float(rng.uniform(-1.0, 1.0)),
        eye_colour=EYE_COLOURS[rng.integers(len(EYE_COLOURS))],
        eye_spacing_deg=float(rng.uniform(15.0, 19.0)),
        eye_size=float(rng.uniform(0.0105, 0.0125)),
        brow_tilt_deg=float(rng.uniform(-12.0, 12.0)),
        lip_colour=_triple(np.clip(skin * np.array([1.0, 0.55, 0.55]) * rng.uniform(0.75, 0.95), 0, 1)),
        mouth_width=float(rng.uniform(0.018, 0.026)),
        nose_size=float(rng.uniform(0.85, 1.2)),
        ear_size=float(rng.uniform(0.9, 1.15)),
        shirt_colour=_random_colour(rng, (0.2, 0.9), (0.15, 0.9)),
        collar_colour=_random_colour(rng, (0.0, 0.6), (0.1, 0.95)),
        neckline=float(rng.uniform(0.03, 0.07)),
        v_neck=float(rng.choice([0.0, rng.uniform(0.02, 0.07)])),
        feature_scale=float(feature_scale),
    )


@dataclass(frozen=True)
class Lighting:
    """The light and backdrop of one image (world axes, so mirroring negates x)."""

    direction: tuple[float, float, float]  # unit vector toward the light
    ambient: float  # ambient strength
    diffuse: float  # diffuse strength
    specular: float  # specular strength
    background_top: tuple[float, float, float]  # backdrop colour at the image top
    background_bottom: tuple[float, float, float]  # backdrop colour at the image bottom

    def mirrored(self) -> "Lighting":
        x, y, z = self.direction
        return dataclasses.replace(self, direction=(-x, y, z))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Lighting":
        return cls(**{key: tuple(value) if isinstance(value, list) else value for key, value in values.items()})


def sample_lighting(rng: np.random.Generator, camera_yaw_deg: float) -> Lighting:
    """A key light within 70 degrees of the camera's side (so faces and backs of heads are both lit)."""
    azimuth = np.radians(camera_yaw_deg + rng.uniform(-70.0, 70.0))
    elevation = np.radians(rng.uniform(10.0, 60.0))
    direction = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
    return Lighting(
        direction=_triple(direction),
        ambient=float(rng.uniform(0.35, 0.55)),
        diffuse=float(rng.uniform(0.45, 0.7)),
        specular=float(rng.uniform(0.03, 0.12)),
        background_top=_random_colour(rng, (0.0, 0.5), (0.3, 0.95)),
        background_bottom=_random_colour(rng, (0.0, 0.5), (0.2, 0.9)),
    )
