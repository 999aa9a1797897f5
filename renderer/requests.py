"""What the GUI asks the render worker for, and what comes back.

This module imports no torch: the GUI process builds `RenderRequest`s every frame and compares them
with the previous one, so they are frozen, hashable and comparable. Sequences are stored as tuples
(lists given to the constructor are converted) so that equal requests hash equally.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# The outputs a request may select, the modes and the cameras' defaults: one definition each (core.names, which
# imports nothing); re-exported here for the GUI side.
from core.names import (CAMERA_CONVENTIONS, DEFAULT_FOCAL, DEFAULT_RADIUS, IMPORTANCE_SAMPLERS,  # noqa: F401
                        LOOKAT_PIVOT as DEFAULT_LOOKAT, NOISE_MODES, OUTPUT_NAMES as OUTPUTS, WARP_MODES)

# Quality steps beyond full quality that the viewer renders while idle (RenderRequest.refinement).
REFINEMENT_LEVELS = (0, 1, 2)
REFINEMENT_NAMES = ("full", "refined: 2x samples", "refined: 2x samples, 2x rays")


# Products of the inspect extras (renderer/inspect_products.py builds them).
PLANE_MODES = ("pca", "channel")  # tri-grid pictures: 3 principal components as RGB, or one channel
SLICE_AXES = ("x", "y", "z")  # axis orthogonal to a density slice
SLICE_QUANTITIES = ("sigma_raw", "density", "opacity")  # raw decoder output, softplus density, per-step opacity
SLICE_SPACES = ("canonical", "posed")  # slice the rest-pose field, or the field as the body pose warps it
COLORMAP_NAMES = ("viridis", "magma", "gray")  # colour maps of channel pictures and slices


@dataclass(frozen=True)
class InspectOptions:
    """Parameters of the inspect extras; part of the request, so changing one asks for a new product."""

    plane_mode: str = "pca"  # "planes": one of PLANE_MODES
    plane_channel: int = 0  # "planes" in channel mode: the feature channel shown
    plane_colormap: str = "viridis"  # "planes" in channel mode: the colour map
    slice_axis: str = "z"  # "density_slice": one of SLICE_AXES
    slice_offset: float = 0.0  # "density_slice": world coordinate of the slice along its axis
    slice_resolution: int = 128  # "density_slice": pixels per side
    slice_quantity: str = "sigma_raw"  # "density_slice": one of SLICE_QUANTITIES
    slice_space: str = "canonical"  # "density_slice": one of SLICE_SPACES
    slice_colormap: str = "magma"  # "density_slice": the colour map
    slice_value_range: tuple[float, float] | None = None  # colour map range; None = the slice's own min and max
    slice_body: bool = True  # "density_slice": add the body cross-section and the thickness shell
    ray_pixel: tuple[int, int] = (0, 0)  # "ray_profile": (row, column) in the pixels of the shown image

    def __post_init__(self) -> None:
        _check_choice("inspect.plane_mode", self.plane_mode, PLANE_MODES)
        _check_choice("inspect.plane_colormap", self.plane_colormap, COLORMAP_NAMES)
        _check_choice("inspect.slice_axis", self.slice_axis, SLICE_AXES)
        _check_choice("inspect.slice_quantity", self.slice_quantity, SLICE_QUANTITIES)
        _check_choice("inspect.slice_space", self.slice_space, SLICE_SPACES)
        _check_choice("inspect.slice_colormap", self.slice_colormap, COLORMAP_NAMES)
        object.__setattr__(self, "plane_channel", int(self.plane_channel))
        object.__setattr__(self, "slice_offset", float(self.slice_offset))
        object.__setattr__(self, "slice_resolution", int(self.slice_resolution))
        if not 2 <= self.slice_resolution <= 2048:
            raise ValueError(f"RenderRequest.inspect.slice_resolution must be 2..2048, got {self.slice_resolution}")
        if self.slice_value_range is not None:
            low, high = _floats(self.slice_value_range, 2, "inspect.slice_value_range")
            if not high > low:
                raise ValueError(f"RenderRequest.inspect.slice_value_range needs low < high, got {(low, high)}")
            object.__setattr__(self, "slice_value_range", (low, high))
        object.__setattr__(self, "ray_pixel", tuple(int(v) for v in _floats(self.ray_pixel, 2, "inspect.ray_pixel")))

    def replace(self, **changes: Any) -> "InspectOptions":
        """A copy with some fields changed (validated like new options)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RenderRequest:
    """Everything that determines one rendered frame; the renderer is a function of this value."""

    checkpoint: str = "preset:tiny"  # checkpoint path, or "preset:<name>" for a randomly initialised model
    device: str = "cpu"  # torch device the worker renders on: "cpu", "cuda", "cuda:1"
    seeds: tuple[tuple[int, float], ...] = ((0, 1.0),)  # (seed, weight) pairs blended in W around w_avg
    latent_file: str | None = None  # an inverted latent (.npz of core.invert); its ws replace the seeds' and psi
    truncation_psi: float = 0.7  # w = w_avg + psi * (w - w_avg); 1 = no truncation
    truncation_cutoff: int | None = None  # truncate only the first this-many ws; None = all of them
    stylemix_seed: int | None = None  # seed whose ws replace the `stylemix_layers`; None = no mixing
    stylemix_layers: tuple[int, ...] = ()  # indices of the ws taken from `stylemix_seed`
    yaw_deg: float = 0.0  # render camera yaw: 0 = front, 90 = the subject's left, 180 = back
    pitch_deg: float = 0.0  # render camera pitch: > 0 looks from above
    radius: float = DEFAULT_RADIUS  # distance of the render camera from the look-at point
    focal: float = DEFAULT_FOCAL  # normalised focal length of the render camera (zoom)
    lookat: tuple[float, float, float] = DEFAULT_LOOKAT  # point the render camera orbits and looks at
    cond_yaw_deg: float = 0.0  # yaw of the camera the mapping network is conditioned on (0 = frontal)
    cond_pitch_deg: float = 0.0  # pitch of the conditioning camera
    pose_deg: tuple[float, float, float, float, float, float] = (0.0,) * 6  # neck xyz, head xyz, degrees
    cond_pose_deg: tuple[float, ...] | None = None  # body pose the mapping is conditioned on; None = pose_deg
    output: str = "image"  # which product is shown, one of OUTPUTS
    neural_resolution: int | None = None  # rays per image side; None = the model's default
    depth_samples: int | None = None  # coarse samples per ray; None = the model's default
    importance_samples: int | None = None  # fine samples per ray; None = the model's default
    deterministic: bool = True  # no sampling jitter, so that the same request gives the same pixels
    importance_sampler: str | None = None  # one of IMPORTANCE_SAMPLERS; None = the model's own (reference: imports)
    camera_convention: str = "project"  # how yaw/pitch become the render and conditioning cameras (CAMERA_CONVENTIONS)
    trigrid_cache: bool = True  # reuse the tri-grid while w is unchanged (only the camera or pose moved)
    skip_empty_space: bool = True  # decode no sample in the latent's empty cells (core.rendering.occupancy)
    preview: bool = False  # cheaper render while the user drags: half resolution, half the samples
    refinement: int = 0  # beyond full quality while idle: 1 = twice the samples per ray, 2 = also twice the rays
    noise_mode: str = "const"  # synthesis noise, one of NOISE_MODES
    warp_mode: str = "fast"  # body-pose warp, one of WARP_MODES
    extras: tuple[str, ...] = ()  # names of optional extra products (e.g. "planes") returned in `extras`
    inspect: InspectOptions | None = None  # parameters of the "planes", "density_slice", "ray_profile" extras

    def __post_init__(self) -> None:
        # Tuples, not lists, so that equal requests hash equally wherever they were built.
        object.__setattr__(self, "seeds", tuple((int(seed), float(weight)) for seed, weight in self.seeds))
        object.__setattr__(self, "stylemix_layers", tuple(int(layer) for layer in self.stylemix_layers))
        object.__setattr__(self, "lookat", _floats(self.lookat, 3, "lookat"))
        object.__setattr__(self, "pose_deg", _floats(self.pose_deg, 6, "pose_deg"))
        if self.cond_pose_deg is not None:
            object.__setattr__(self, "cond_pose_deg", _floats(self.cond_pose_deg, 6, "cond_pose_deg"))
        object.__setattr__(self, "extras", tuple(str(name) for name in self.extras))
        if self.inspect is not None and not isinstance(self.inspect, InspectOptions):
            raise ValueError("RenderRequest.inspect must be an InspectOptions or None, "
                             f"got {type(self.inspect).__name__}")
        _check_choice("output", self.output, OUTPUTS)
        _check_choice("warp_mode", self.warp_mode, WARP_MODES)
        _check_choice("noise_mode", self.noise_mode, NOISE_MODES)
        _check_choice("camera_convention", self.camera_convention, CAMERA_CONVENTIONS)
        if self.importance_sampler is not None:
            _check_choice("importance_sampler", self.importance_sampler, IMPORTANCE_SAMPLERS)
        if not self.seeds:
            raise ValueError("RenderRequest.seeds is empty: give at least one (seed, weight) pair, e.g. ((0, 1.0),)")
        if self.refinement not in REFINEMENT_LEVELS or (self.refinement and self.preview):
            raise ValueError(f"RenderRequest.refinement is {self.refinement!r}: 0, 1 or 2, and 0 for a preview")
        for name in ("neural_resolution", "depth_samples", "importance_samples"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"RenderRequest.{name} must be a positive integer or None, got {value!r}")

    def replace(self, **changes: Any) -> "RenderRequest":
        """A copy with some fields changed (validated like a new request)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class RenderResult:
    """One rendered frame, or the reason why there is none. Hashed by identity (it holds an array)."""

    stamp: int  # the stamp `RenderClient.submit` returned for `request`
    request: RenderRequest  # the request this result answers
    image: Any = None  # numpy uint8 [H, W, 3], or None when `error` is set
    error: str | None = None  # what went wrong, in words for the user; None on success
    # timings_ms: mapping, trigrid, warp, rendering, superresolution, total
    timings_ms: dict[str, float] = field(default_factory=dict)
    model_info: dict[str, Any] = field(default_factory=dict)  # preset, resolution, kimg, dataset, device, trained, ...
    extras: dict[str, Any] = field(default_factory=dict)  # optional products named in `request.extras`
    raw_preview: bool = False  # a preview that shows the neural image scaled up, without super-resolution
    warming_up: bool = False  # the worker still loaded a model's compiled loops beside this frame (slower frames)

    @property
    def ok(self) -> bool:
        """True when the result holds an image."""
        return self.error is None and self.image is not None


def _floats(values: Any, count: int, name: str) -> tuple[float, ...]:
    values = tuple(float(value) for value in values)
    if len(values) != count:
        raise ValueError(f"RenderRequest.{name} needs {count} numbers, got {len(values)}: {values}")
    return values


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"RenderRequest.{name} is {value!r}; choose one of {', '.join(choices)}")
