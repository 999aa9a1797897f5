"""Where the first state comes from: --state, the remembered session, the command-line checkpoint."""
from __future__ import annotations

import pytest

from viz.shell.app import initial_state
from viz.shell.app_config import AppConfig
from viz.state import AppState, StateFileError, save_state


def config(tmp_path, **changes) -> AppConfig:
    return AppConfig(config_dir=tmp_path / "config", data_dir=tmp_path / "data", **changes)


def test_remembered_session_is_restored_but_the_checkpoint_comes_from_the_command_line(tmp_path):
    remembered = AppState(checkpoint="old.pt")
    remembered.camera.yaw_deg = 33.0
    remembered.ui.presentation = True
    save_state(remembered, tmp_path / "config" / "state.json")
    state, untrained, messages = initial_state(config(tmp_path, checkpoint="preset:tiny"))
    assert state.camera.yaw_deg == 33.0 and state.checkpoint == "preset:tiny" and not untrained
    assert not state.ui.presentation, "every session starts with its panels"
    assert ("info", f"state restored from {tmp_path / 'config' / 'state.json'}") in messages


def test_missing_default_model_says_untrained(tmp_path, monkeypatch):
    monkeypatch.setattr("viz.shell.app_config.DEFAULT_CHECKPOINT", tmp_path / "missing.pt")
    state, untrained, messages = initial_state(config(tmp_path))
    assert state.checkpoint == "preset:small" and untrained
    assert any(level == "warning" and "untrained preset:small" in text for level, text in messages)


def test_state_file_brings_its_own_checkpoint(tmp_path):
    saved = AppState(checkpoint="/models/mine.pt")
    saved.latent.set_seed(42)
    path = save_state(saved, tmp_path / "mine.json")
    state, untrained, _ = initial_state(config(tmp_path, state_file=path))
    assert state.checkpoint == "/models/mine.pt" and state.latent.seed == 42 and not untrained


def test_corrupt_remembered_state_falls_back_to_defaults_but_a_corrupt_state_file_is_an_error(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "state.json").write_text("{broken")
    state, _, messages = initial_state(config(tmp_path, checkpoint="preset:tiny"))
    assert state.camera == AppState().camera
    assert any(level == "warning" and "started from defaults" in text for level, text in messages)
    with pytest.raises(StateFileError, match="broken.json"):
        bad = tmp_path / "broken.json"
        bad.write_text("[")
        initial_state(config(tmp_path, state_file=bad))
