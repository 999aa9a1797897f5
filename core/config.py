"""Dataclass configurations of the generator and its renderer, with named presets.

Every field has a default and a one-line comment. Presets are built with `preset(name)`;
`paper-512` and `paper-256` reproduce the reference "full-head" generator (reference-spec.md §1),
`tiny` is a small model for CPU use and tests, `small` is the size of the shipped default model.
Configs are frozen and contain only plain values, so they round-trip through `to_dict`/`from_dict`
and can be stored in a `weights_only` checkpoint.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from core.budget import MAX_IMAGE_SIDE, MAX_NEURAL_RESOLUTION, MAX_SAMPLES_PER_RAY
from core.names import CAMERA_CONVENTIONS, IMPORTANCE_SAMPLERS, MIRROR_TESTS  # noqa: F401 (re-exported)


@dataclass(frozen=True)
class RenderingConfig:
    """How rays are sampled and integrated (reference-spec.md §1.6-1.7)."""

    ray_start: float = 2.25  # near bound of every ray, world units from the camera centre
    ray_end: float = 3.3  # far bound of every ray
    depth_resolution: int = 48  # coarse (stratified) samples per ray
    depth_resolution_importance: int = 48  # fine samples per ray drawn from the coarse weights
    box_warp: float = 1.0  # side of the cube [-box/2, box/2]^3 covered by the tri-grid
    triplane_crop: float = 0.1  # sigma is forced to -1000 where |x| or |z| > box/2 - crop (no crop in y)
    density_bias: float = -1.0  # sigma = softplus(raw + density_bias), the reference's softplus(raw - 1)
    decoder_activation: str = "none"  # activation of the decoder's feature outputs: none | sigmoid | lrelu
    deterministic: bool = False  # True: no jitter and midpoint inverse-CDF (reproducible inference renders)
    importance_sampler: str = "project"  # project | reference (IMPORTANCE_SAMPLERS; released imports: reference)

    def __post_init__(self):
        # Sizes a checkpoint's configuration can ask for are bounded too (core.budget), so no file hangs a render.
        if not 2 <= self.depth_resolution <= MAX_SAMPLES_PER_RAY:
            raise ValueError(f"depth_resolution {self.depth_resolution}: coarse samples per ray must be 2.."
                             f"{MAX_SAMPLES_PER_RAY}")
        if not 0 <= self.depth_resolution_importance <= MAX_SAMPLES_PER_RAY:
            raise ValueError(f"depth_resolution_importance {self.depth_resolution_importance}: fine samples per ray "
                             f"must be 0..{MAX_SAMPLES_PER_RAY}")
        if self.importance_sampler not in IMPORTANCE_SAMPLERS:
            raise ValueError(f"importance_sampler must be one of {IMPORTANCE_SAMPLERS}, "
                             f"got {self.importance_sampler!r}")


@dataclass(frozen=True)
class GeneratorConfig:
    """Shape of the tri-grid generator (reference-spec.md §1.1-1.10)."""

    z_dim: int = 512  # latent z size
    w_dim: int = 512  # intermediate latent w size
    c_dim: int = 25  # camera label size: 16 cam2world + 9 normalised intrinsics
    pose_dim: int = 6  # body pose size: neck and head axis-angle, radians
    c_scale: float = 1.0  # the mapping condition (camera ++ pose) is multiplied by this
    mapping_layers: int = 2  # fully connected layers of the mapping network after the embedding
    mapping_lr_multiplier: float = 0.01  # learning-rate multiplier of the mapping layers
    w_avg_beta: float = 0.998  # decay of the tracked average of w (used by truncation)
    backbone_resolution: int = 256  # resolution of the StyleGAN2 backbone that emits the tri-grid
    channel_base: int = 32768  # backbone channels at resolution r are min(channel_base // r, channel_max)
    channel_max: int = 512  # upper bound of backbone channels
    triplane_channels: int = 32  # feature channels of each plane (per depth slice)
    triplane_depth: int = 3  # depth slices of each plane (the tri-grid's thickness)
    decoder_hidden: int = 64  # hidden width of the OSG decoder
    decoder_lr_multiplier: float = 1.0  # learning-rate multiplier of the decoder
    img_resolution: int = 512  # final image size after super-resolution
    img_channels: int = 3  # RGB
    neural_resolution: int = 64  # default neural rendering resolution R (rays per side)
    sr_input_resolution: int = 128  # neural image and features are resized to this before super-resolution
    sr_channels: tuple[int, int] = (256, 128)  # channels of the two super-resolution blocks
    sr_fp16: bool = True  # run the super-resolution blocks in half precision on CUDA
    sr_conv_clamp: float | None = 256.0  # clamp of super-resolution convolution outputs
    sr_antialias: bool = True  # antialiased resize of the super-resolution input
    sr_noise_mode: str = "none"  # noise of the super-resolution layers: none | const | random
    background_channel_base: int = 16384  # channel_base of the background synthesis network
    background_channel_max: int = 512  # channel_max of the background synthesis network
    pose_branch_hidden: tuple[int, int] = (128, 32)  # hidden widths of the generator's pose branch
    thickness: float = 0.25  # body warp moves only points closer than this to the body surface
    pose_mirror_test: str = "project"  # project | reference (MIRROR_TESTS; released imports: reference)
    rendering: RenderingConfig = field(default_factory=RenderingConfig)  # ray sampling and integration

    def __post_init__(self):
        if not 1 <= self.neural_resolution <= MAX_NEURAL_RESOLUTION or not 1 <= self.img_resolution <= MAX_IMAGE_SIDE:
            raise ValueError(f"neural_resolution {self.neural_resolution} / img_resolution {self.img_resolution}: "
                             f"at most {MAX_NEURAL_RESOLUTION} / {MAX_IMAGE_SIDE}")
        if self.pose_mirror_test not in MIRROR_TESTS:
            raise ValueError(f"pose_mirror_test must be one of {MIRROR_TESTS}, got {self.pose_mirror_test!r}")

    @property
    def backbone_channels(self) -> int:
        """Output channels of the backbone: 3 planes x channels x depth slices."""
        return 3 * self.triplane_channels * self.triplane_depth

    @property
    def mapping_c_dim(self) -> int:
        """Size of the mapping condition: camera and body pose."""
        return self.c_dim + self.pose_dim

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (lists for tuples), safe for `weights_only` checkpoints and JSON."""
        return to_plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GeneratorConfig":
        """Inverse of `to_dict`; unknown keys raise a ValueError naming them."""
        return _from_dict(cls, data)


def to_plain(value: Any) -> Any:
    """Nested dicts with lists for tuples: safe for JSON and `weights_only` checkpoints."""
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value


def _from_dict(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}")
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            value = _from_dict(type(default), value)
        elif isinstance(default, tuple) and value is not None:
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def _paper(img_resolution: int) -> GeneratorConfig:
    sr_channels = (256, 128) if img_resolution == 512 else (128, 64)
    return GeneratorConfig(img_resolution=img_resolution, sr_channels=sr_channels)


PRESETS = {
    # The reference full-head generator at 512 (SuperresolutionHybrid8XDC), 53.8 M parameters.
    "paper-512": lambda: _paper(512),
    # The reference full-head generator at 256 (SuperresolutionHybrid4X).
    "paper-256": lambda: _paper(256),
    # The size of the shipped default model: 128 px output, trainable on one GPU in minutes.
    "small": lambda: GeneratorConfig(
        z_dim=256, w_dim=256, backbone_resolution=128, channel_base=8192, channel_max=256,
        triplane_channels=32, img_resolution=128, neural_resolution=64, sr_input_resolution=64,
        sr_channels=(128, 64), background_channel_base=4096, background_channel_max=128,
        rendering=RenderingConfig(depth_resolution=32, depth_resolution_importance=32),
    ),
    # A small model for CPU use and tests: one image in well under 100 ms on 2 cores.
    "tiny": lambda: GeneratorConfig(
        z_dim=64, w_dim=64, backbone_resolution=64, channel_base=2048, channel_max=64,
        triplane_channels=16, decoder_hidden=32, img_resolution=64, neural_resolution=32,
        sr_input_resolution=32, sr_channels=(32, 16), background_channel_base=512,
        background_channel_max=32, pose_branch_hidden=(32, 16),
        rendering=RenderingConfig(depth_resolution=24, depth_resolution_importance=24),
    ),
}


def preset(name: str) -> GeneratorConfig:
    """The named preset; an unknown name raises a ValueError that lists the known ones."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
