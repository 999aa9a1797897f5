"""AppState -> RenderRequest, and the rule for when a new request is sent."""
from __future__ import annotations

import math

from renderer.requests import RenderRequest
from viz.state import SEED_GRID_STEP, AppState, focal_from_fov


def blended_seeds(seed_x: float, seed_y: float) -> tuple[tuple[int, float], ...]:
    """The 4 integer grid neighbours of a fractional grid point with bilinear weights (zero weights dropped).

    Seed of grid cell (column, row) is `column + 100 * row` (wrapped to 32 bits), as the reference's latent widget.
    """
    pairs = []
    for offset_x, offset_y in ((0, 0), (1, 0), (0, 1), (1, 1)):
        column = math.floor(seed_x) + offset_x
        row = math.floor(seed_y) + offset_y
        weight = (1.0 - abs(seed_x - column)) * (1.0 - abs(seed_y - row))
        if weight > 1e-6:
            pairs.append(((column + row * SEED_GRID_STEP) & 0xFFFFFFFF, weight))
    return tuple(pairs)


def build_request(state: AppState, device: str, preview: bool = False) -> RenderRequest:
    """The one request that renders what `state` describes on `device`."""
    camera, latent, pose, render = state.camera, state.latent, state.pose, state.render
    cond_yaw, cond_pitch = (
        (camera.yaw_deg, camera.pitch_deg) if camera.cond_follow_render
        else (camera.cond_yaw_deg, camera.cond_pitch_deg)
    )
    stylemix_layers = tuple(range(latent.stylemix_first, latent.stylemix_last + 1)) if latent.stylemix_enabled else ()
    return RenderRequest(
        checkpoint=state.checkpoint,
        device=device,
        seeds=blended_seeds(latent.seed_x, latent.seed_y),
        latent_file=latent.latent_file,
        truncation_psi=latent.truncation_psi,
        truncation_cutoff=latent.truncation_cutoff,
        stylemix_seed=latent.stylemix_seed if latent.stylemix_enabled else None,
        stylemix_layers=stylemix_layers,
        yaw_deg=camera.yaw_deg,
        pitch_deg=camera.pitch_deg,
        radius=camera.radius,
        focal=focal_from_fov(camera.fov_deg),
        lookat=camera.lookat,
        cond_yaw_deg=cond_yaw,
        cond_pitch_deg=cond_pitch,
        pose_deg=pose.degrees(),
        cond_pose_deg=pose.cond_degrees(),
        output=render.output,
        neural_resolution=render.neural_resolution,
        depth_samples=render.depth_samples,
        importance_samples=render.importance_samples,
        deterministic=render.deterministic,
        importance_sampler=render.importance_sampler,
        camera_convention=camera.convention,
        trigrid_cache=render.trigrid_cache,
        skip_empty_space=render.skip_empty_space,
        preview=preview,
        noise_mode=latent.noise_mode,
        warp_mode=render.warp_mode,
        # D's reading of the image costs a second render: asked for once the input rests, not while dragging.
        extras=(("predicted_pose",) + (() if preview else ("image_pose",))) if pose.use_predicted_pose else (),
    )


class RequestGate:
    """Sends a request only when it differs from the last one sent."""

    def __init__(self):
        self.last_sent: RenderRequest | None = None  # the newest request handed to the client

    def needs_send(self, request: RenderRequest) -> bool:
        """True (and remembers `request`) when it is new; False for a repeat of the last one."""
        if request == self.last_sent:
            return False
        self.last_sent = request
        return True

    def forget(self) -> None:
        """The next request is sent even if unchanged (after a worker restart)."""
        self.last_sent = None
