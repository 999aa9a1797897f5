"""One scene pipeline: a frozen description of what a render is made from, and one cached builder of
model -> ws -> tri-grid -> body warp.

The viewer's renderer (renderer/engine.py), `core.generate` (image sheets and path videos, from the command
line and from the GUI) and `core.mesh` all assemble their scenes here, so the same description gives the
same latent, tri-grid and warp wherever it is rendered (tests/core/test_scene.py renders a posed keyframe
through the viewer's request and through the video path and finds the same pixels).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import torch

from core.body.warp import DEFAULT_GRID_RESOLUTION, make_warp
from core.cache import LruCache
from core.camera import camera_from_angles
from core.invert.latent_file import file_signature, load_latent
from core.latents import blended_ws, style_mixed
from core.names import REST_POSE
from core.rendering.occupancy import OccupancyGrid, build_occupancy



@dataclass(frozen=True)
class SceneSpec:
    """Everything that determines ws, the tri-grid and the warp of a render (the camera is not part of it)."""

    seeds: tuple[tuple[int, float], ...] = ((0, 1.0),)  # (seed, weight) pairs blended in W around w_avg
    latent_file: str | None = None  # an inverted latent (core.invert.latent_file): its ws replace the seeds'
    truncation_psi: float = 0.7  # w = w_avg + psi (w - w_avg)
    truncation_cutoff: int | None = None  # truncate only the first ws; None = all
    stylemix_seed: int | None = None  # seed whose ws replace `stylemix_layers`; None = no mixing
    stylemix_layers: tuple[int, ...] = ()  # indices of the ws taken from `stylemix_seed`
    cond_yaw_deg: float = 0.0  # conditioning camera of the mapping (0 = frontal, as in training)
    cond_pitch_deg: float = 0.0
    cond_pose_deg: tuple[float, ...] = REST_POSE  # conditioning body pose, degrees
    camera_convention: str = "project"  # how the conditioning yaw/pitch become a camera (core.camera)
    noise_mode: str = "const"  # synthesis noise: const | random | none
    pose_deg: tuple[float, ...] = REST_POSE  # the body pose the warp applies, degrees
    warp_mode: str = "fast"  # core.body.warp.WARP_MODES
    warp_resolution: int = DEFAULT_GRID_RESOLUTION  # nodes per side of a "grid" warp (unused by the others)

    def __post_init__(self) -> None:
        object.__setattr__(self, "seeds", tuple((int(seed), float(weight)) for seed, weight in self.seeds))
        object.__setattr__(self, "stylemix_layers", tuple(int(layer) for layer in self.stylemix_layers))
        object.__setattr__(self, "cond_pose_deg", tuple(float(value) for value in self.cond_pose_deg))
        object.__setattr__(self, "pose_deg", tuple(float(value) for value in self.pose_deg))

    @property
    def latent_key(self) -> tuple:
        """The fields that determine ws (and with the noise mode, the tri-grid); a latent file counts by its
        path, modification time and size, so a rewritten file is read again."""
        if self.latent_file is not None:
            return (file_signature(self.latent_file), self.stylemix_seed, self.stylemix_layers,
                    self.cond_yaw_deg, self.cond_pitch_deg, self.cond_pose_deg, self.camera_convention)
        return (self.seeds, self.truncation_psi, self.truncation_cutoff, self.stylemix_seed, self.stylemix_layers,
                self.cond_yaw_deg, self.cond_pitch_deg, self.cond_pose_deg, self.camera_convention)

    @property
    def warp_key(self) -> tuple:
        """The fields that determine the warp; the grid resolution only matters to grid warps."""
        return (self.pose_deg, self.warp_mode, self.warp_resolution if self.warp_mode == "grid" else None)

    def replace(self, **changes) -> "SceneSpec":
        return dataclasses.replace(self, **changes)


def pose_radians(pose_deg: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """pose: [1, 6] axis-angle radians (neck xyz, head xyz) from degrees."""
    if not any(pose_deg):
        return torch.zeros(1, 6, device=device)
    from core.body import pose_from_degrees  # the body package's loaders are only needed for a pose

    return torch.as_tensor(pose_from_degrees(pose_deg[:3], pose_deg[3:]), dtype=torch.float32).reshape(1, 6).to(device)


class SceneBuilder:
    """Cached ws, tri-grids, backgrounds and warps of one generator.

    `body` returns the body model the warps use (called only for a posed scene); `stats` is the dict the
    caches count their hits and misses into (shared with the renderer's other caches).
    """

    def __init__(self, generator: torch.nn.Module, body: Callable[[], object], stats: dict[str, int] | None = None,
                 ws_capacity: int = 16, trigrid_capacity: int = 4, warp_capacity: int = 4):
        self.generator = generator
        self.device = next(generator.parameters()).device
        self._body = body
        self.stats = stats if stats is not None else {}
        self._ws = LruCache("ws", ws_capacity, self.stats)
        self._planes = LruCache("trigrid", trigrid_capacity, self.stats)
        self._warps = LruCache("warp", warp_capacity, self.stats)
        self._occupancy = LruCache("occupancy", trigrid_capacity, self.stats)
        self._backgrounds = LruCache("background", trigrid_capacity, self.stats)

    def ws(self, spec: SceneSpec) -> torch.Tensor:
        """[1, num_ws, w_dim] of the spec's seeds, truncation, style mix and conditioning."""
        return self._ws.get_or_create(spec.latent_key, lambda: self._map(spec))

    def planes(self, spec: SceneSpec, ws: torch.Tensor | None = None, cache: bool = True) -> torch.Tensor:
        """The tri-grid [1, 3, C*D, H, W] of the spec's ws (`ws` when the caller has it already; `cache=False`
        synthesizes it anew)."""
        def synthesize() -> torch.Tensor:
            return self.generator.synthesize_trigrid(self.ws(spec) if ws is None else ws, noise_mode=spec.noise_mode)

        return self._planes.get_or_create((spec.latent_key, spec.noise_mode), synthesize) if cache else synthesize()

    def background(self, spec: SceneSpec, ws: torch.Tensor | None = None, cache: bool = True) -> torch.Tensor:
        """The background network's features of the spec's ws, cached beside the tri-grid (as costly as a third of
        a `small` camera move when made per frame)."""
        def synthesize() -> torch.Tensor:
            return self.generator.synthesize_background(self.ws(spec) if ws is None else ws, spec.noise_mode)

        if not cache:
            return synthesize()
        return self._backgrounds.get_or_create((spec.latent_key, spec.noise_mode), synthesize)

    def warp(self, spec: SceneSpec) -> Callable | None:
        """The observation -> canonical warp of the spec's body pose; None at rest (nothing to warp)."""
        if not any(spec.pose_deg):
            return None
        return self._warps.get_or_create(spec.warp_key, lambda: self._build_warp(spec))

    def occupancy(self, spec: SceneSpec, planes: torch.Tensor | None = None) -> OccupancyGrid:
        """Empty-space skipping's grid of the spec's tri-grid (core.rendering.occupancy), in canonical space,
        so one grid serves every camera and pose; cached beside the tri-grid."""
        def build() -> OccupancyGrid:
            grid_planes = self.planes(spec) if planes is None else planes
            options = self.generator.config.rendering
            return build_occupancy(lambda points: self.generator.sample_density(grid_planes, points)[0], self.device,
                                   options.box_warp, options.triplane_crop, options.density_bias)

        return self._occupancy.get_or_create((spec.latent_key, spec.noise_mode), build)

    def has_trigrid(self, spec: SceneSpec) -> bool:
        """True when the spec's tri-grid is cached (it is being reused: an occupancy grid would pay off)."""
        return (spec.latent_key, spec.noise_mode) in self._planes

    def has_warp(self, spec: SceneSpec) -> bool:
        """True when the spec's warp is built already (a rest pose needs none)."""
        return not any(spec.pose_deg) or spec.warp_key in self._warps

    def clear(self) -> None:
        """Forget every cached tensor (after an out-of-memory error)."""
        for cache in (self._ws, self._planes, self._warps, self._occupancy, self._backgrounds):
            cache.clear()

    def _map(self, spec: SceneSpec) -> torch.Tensor:
        # The conditioning camera is the training camera (pivot, radius, focal): zooming keeps the identity.
        camera = camera_from_angles(spec.camera_convention, spec.cond_yaw_deg, spec.cond_pitch_deg, device=self.device)
        pose = pose_radians(spec.cond_pose_deg, self.device)
        truncation = (spec.truncation_psi, spec.truncation_cutoff)
        if spec.latent_file is not None:
            ws = self._file_ws(spec.latent_file)
        else:
            ws = blended_ws(self.generator, spec.seeds, camera, pose, *truncation)
        if spec.stylemix_seed is not None and spec.stylemix_layers:
            ws = style_mixed(ws, self.generator, spec.stylemix_seed, spec.stylemix_layers, camera, pose, *truncation)
        return ws

    def _file_ws(self, path: str) -> torch.Tensor:
        """[1, num_ws, w_dim] of a latent file (LatentFileError when it belongs to another model)."""
        latent = load_latent(path)
        latent.check_model(self.generator.num_ws, self.generator.config.w_dim, path)
        return torch.from_numpy(latent.ws).to(self.device)[None]

    def _build_warp(self, spec: SceneSpec) -> Callable | None:
        config = self.generator.config
        # The shell thickness and box belong to the model: the warp must move the points it was trained with.
        return make_warp(self._body(), pose_radians(spec.pose_deg, self.device), mode=spec.warp_mode,
                         thickness=config.thickness, box_warp=config.rendering.box_warp,
                         resolution=spec.warp_resolution)
