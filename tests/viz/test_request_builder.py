"""AppState -> RenderRequest: field mapping, seed blending, conditioning, sending only on change."""
from __future__ import annotations

import pytest

from renderer.requests import RenderRequest
from viz.request_builder import RequestGate, blended_seeds, build_request
from viz.state import DEFAULT_FOCAL, AppState


def test_default_state_gives_the_default_frontal_request():
    request = build_request(AppState(checkpoint="preset:tiny"), "cpu")
    assert request.checkpoint == "preset:tiny" and request.device == "cpu"
    assert request.seeds == ((0, 1.0),)
    assert request.focal == pytest.approx(DEFAULT_FOCAL)
    assert (request.yaw_deg, request.pitch_deg, request.radius) == (0.0, 0.0, 2.7)
    assert request.pose_deg == (0.0,) * 6 and request.cond_pose_deg == (0.0,) * 6  # posing keeps the rest condition
    assert request.stylemix_seed is None and request.stylemix_layers == ()
    assert request.preview is False and request.extras == ()


def test_fractional_grid_point_blends_four_seeds_bilinearly():
    seeds = dict(blended_seeds(2.25, 3.5))
    assert seeds == pytest.approx({302: 0.375, 303: 0.125, 402: 0.375, 403: 0.125})
    assert sum(seeds.values()) == pytest.approx(1.0)
    assert blended_seeds(7.0, 1.0) == ((107, 1.0),), "an integer point is one seed"


def test_every_edit_reaches_the_request():
    state = AppState(checkpoint="model.pt")
    state.camera.yaw_deg, state.camera.pitch_deg, state.camera.fov_deg = -120.0, 15.0, 90.0
    state.camera.cond_yaw_deg = 30.0
    state.latent.truncation_psi, state.latent.truncation_cutoff = 0.5, 4
    state.latent.stylemix_enabled, state.latent.stylemix_first, state.latent.stylemix_last = True, 3, 5
    state.pose.neck_deg, state.pose.head_deg = (10.0, 0.0, 0.0), (0.0, -20.0, 5.0)
    state.pose.cond_linked, state.pose.cond_head_deg = False, (0.0, 1.0, 0.0)
    state.pose.use_predicted_pose = True
    state.render.output, state.render.warp_mode, state.render.neural_resolution = "image_depth", "exact", 128
    request = build_request(state, "cuda", preview=True)
    assert (request.yaw_deg, request.pitch_deg) == (-120.0, 15.0)
    assert request.focal == pytest.approx(0.5)
    assert (request.cond_yaw_deg, request.cond_pitch_deg) == (30.0, 0.0)
    assert (request.truncation_psi, request.truncation_cutoff) == (0.5, 4)
    assert request.stylemix_seed == 1000 and request.stylemix_layers == (3, 4, 5)
    assert request.pose_deg == (10.0, 0.0, 0.0, 0.0, -20.0, 5.0)
    assert request.cond_pose_deg == (0.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert request.extras == ("predicted_pose",)  # D reads the image once the input rests
    assert build_request(state, "cuda", preview=False).extras == ("predicted_pose", "image_pose")
    assert (request.output, request.warp_mode, request.neural_resolution) == ("image_depth", "exact", 128)
    assert request.preview is True and request.device == "cuda"


def test_conditioning_camera_can_follow_the_render_camera():
    state = AppState(checkpoint="preset:tiny")
    state.camera.yaw_deg, state.camera.pitch_deg = 60.0, -10.0
    assert build_request(state, "cpu").cond_yaw_deg == 0.0
    state.camera.cond_follow_render = True
    request = build_request(state, "cpu")
    assert (request.cond_yaw_deg, request.cond_pitch_deg) == (60.0, -10.0)


def test_gate_sends_only_changed_requests():
    gate = RequestGate()
    state = AppState(checkpoint="preset:tiny")
    assert gate.needs_send(build_request(state, "cpu"))
    assert not gate.needs_send(build_request(state, "cpu")), "an identical request rebuilt next frame is not resent"
    state.camera.yaw_deg = 1.0
    assert gate.needs_send(build_request(state, "cpu"))
    assert not gate.needs_send(build_request(state, "cpu"))
    assert gate.needs_send(build_request(state, "cpu", preview=True)), "preview and full quality differ"
    gate.forget()
    assert gate.needs_send(build_request(state, "cpu", preview=True))
    assert isinstance(gate.last_sent, RenderRequest)
