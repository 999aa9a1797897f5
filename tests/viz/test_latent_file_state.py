"""An inverted latent in the viewer's state: it survives the state file, becomes keyframes, and plays back."""
from __future__ import annotations

import json

import pytest

from viz.path_player import apply_frame, keyframe_from_state
from viz.request_builder import build_request
from viz.state import AppState, StateFileError, load_state, save_state


def test_the_state_file_keeps_the_latent_file_and_refuses_a_wrong_type(tmp_path):
    state = AppState()
    state.latent.latent_file = "/data/me/latent.npz"
    path = save_state(state, tmp_path / "state.json")
    assert load_state(path).latent.latent_file == "/data/me/latent.npz"
    assert build_request(load_state(path), "cpu").latent_file == "/data/me/latent.npz"
    data = json.loads(path.read_text())
    data["latent"]["latent_file"] = 3
    path.write_text(json.dumps(data))
    with pytest.raises(StateFileError, match="LatentState.latent_file must be"):
        load_state(path)


def test_keyframes_carry_the_latent_file_and_playback_restores_it():
    state = AppState()
    state.latent.latent_file = "/data/me/latent.npz"
    key = keyframe_from_state(state)
    assert key.latent.file == "/data/me/latent.npz"
    other = AppState()
    other.latent.seed_x = 7.0
    apply_frame(other, key)
    assert other.latent.latent_file == "/data/me/latent.npz"
    seeded = keyframe_from_state(AppState())
    apply_frame(other, seeded)
    assert other.latent.latent_file is None and other.latent.seed_x == 0.0
