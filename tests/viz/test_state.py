"""AppState: JSON round trips, clear errors for bad files, angle wrapping, focal/FOV and seed-grid maths."""
from __future__ import annotations

import json
import math

import pytest

from viz.state import (
    DEFAULT_FOCAL,
    AppState,
    StateFileError,
    focal_from_fov,
    fov_from_focal,
    load_state,
    remember_recent,
    save_state,
    wrap_degrees,
)


def edited_state() -> AppState:
    state = AppState(checkpoint="/models/a.pt")
    state.camera.yaw_deg = 123.5
    state.camera.lookat = (0.1, 0.2, 0.3)
    state.latent.set_seed(1234)
    state.latent.truncation_cutoff = 5
    state.pose.neck_deg = (10.0, -20.0, 5.0)
    state.pose.cond_linked = False
    state.render.neural_resolution = 128
    state.render.warp_mode = "exact"
    state.ui.recent_checkpoints = ["/models/a.pt", "/models/b.pt"]
    return state


def test_json_round_trip_restores_every_field_with_its_type(tmp_path):
    state = edited_state()
    path = save_state(state, tmp_path / "sub" / "state.json")
    loaded = load_state(path)
    assert loaded == state
    assert isinstance(loaded.camera.lookat, tuple) and isinstance(loaded.pose.neck_deg, tuple)
    assert loaded.render.neural_resolution == 128 and loaded.latent.truncation_cutoff == 5
    assert json.loads(path.read_text())["format"] == "portrait-viz-state/1"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"], "the temporary file must be renamed away"


def test_missing_fields_keep_their_defaults(tmp_path):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"camera": {"yaw_deg": 45}}))
    loaded = load_state(path)
    assert loaded.camera.yaw_deg == 45.0 and isinstance(loaded.camera.yaw_deg, float)
    assert loaded.camera.pitch_deg == AppState().camera.pitch_deg
    assert loaded.latent == AppState().latent


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"camera": {"yaw": 1.0}}), "unknown field(s) ['yaw']"),
        (json.dumps({"camera": {"yaw_deg": "left"}}), "CameraState.yaw_deg must be a float"),
        (json.dumps({"pose": {"neck_deg": [1, 2]}}), "needs 3 numbers"),
        (json.dumps({"render": {"deterministic": 1}}), "must be true or false"),
        (json.dumps({"format": "other/9"}), "has format 'other/9'"),
        (json.dumps([1, 2]), "expected a JSON object"),
        # Values that passed the type check and crashed the viewer at every start (issue 20, item 4):
        (json.dumps({"camera": {"fov_deg": 0}}), "CameraState.fov_deg = 0.0 is outside 1..170"),
        (json.dumps({"latent": {"stylemix_seed": 2**31}}), "LatentState.stylemix_seed = 2147483648 is outside"),
        (json.dumps({"latent": {"seed_x": 3e8}}), "LatentState.seed_x"),
        (json.dumps({"render": {"output": "hologram"}}), "RenderOptions.output = 'hologram' is not one of image"),
        (json.dumps({"render": {"neural_resolution": 0}}), "RenderOptions.neural_resolution = 0 is outside"),
        ('{"camera": {"yaw_deg": NaN}}', "CameraState.yaw_deg must be a finite number"),
        ('{"pose": {"neck_deg": [1, Infinity, 0]}}', "PoseState.neck_deg must be a finite number"),
    ],
)
def test_bad_state_files_give_errors_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(StateFileError) as error:
        load_state(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_missing_state_file_is_a_clear_error(tmp_path):
    with pytest.raises(StateFileError, match="does not exist"):
        load_state(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    "angle, wrapped", [(0, 0), (179, 179), (180, -180), (190, -170), (-190, 170), (540, -180), (-720, 0), (359, -1)]
)
def test_yaw_wraps_into_the_full_circle(angle, wrapped):
    assert wrap_degrees(angle) == pytest.approx(wrapped)


def test_focal_and_fov_are_exact_inverses():
    # A 90-degree FOV sees from -1 to 1 at unit distance: f = 1 / (2 tan 45) = 0.5 in normalised units.
    assert focal_from_fov(90.0) == pytest.approx(0.5)
    assert fov_from_focal(DEFAULT_FOCAL) == pytest.approx(math.degrees(2 * math.atan(1 / (2 * 6.5104166))))
    for fov in (4.0, 8.78, 20.0, 45.0):
        assert fov_from_focal(focal_from_fov(fov)) == pytest.approx(fov)


def test_seed_grid_position_and_integer_seed_agree():
    state = AppState()
    state.latent.set_seed(1234)
    assert (state.latent.seed_x, state.latent.seed_y) == (34.0, 12.0)
    assert state.latent.seed == 1234
    state.latent.seed_x = 34.4
    assert state.latent.seed == 1234
    state.latent.seed_y = 12.6
    assert state.latent.seed == 1334


def test_undo_snapshot_restores_edits_but_not_remembered_ui():
    state = edited_state()
    snapshot = state.edit_snapshot()
    state.camera.yaw_deg = -10.0
    state.pose.head_deg = (1.0, 2.0, 3.0)
    state.ui.presentation = True
    state.restore_snapshot(snapshot)
    assert state.camera.yaw_deg == 123.5 and state.pose.head_deg == (0.0, 0.0, 0.0)
    assert state.ui.presentation is True


def test_recent_checkpoints_move_to_front_without_duplicates():
    recent = remember_recent(["a", "b", "c"], "c")
    assert recent == ["c", "a", "b"]
    assert remember_recent([str(i) for i in range(10)], "new")[:2] == ["new", "0"]
    assert len(remember_recent([str(i) for i in range(10)], "new")) == 10
