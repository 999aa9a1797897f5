"""Undo/redo: one step per finished edit, restore and re-apply, rejected edits leave no step."""
from __future__ import annotations

from viz.history import EditHistory
from viz.state import AppState


def test_drag_frames_make_one_undo_step_when_the_edit_ends():
    state = AppState()
    history = EditHistory(state)
    for yaw in range(1, 30):  # a slider drag: many frames with the item active
        state.camera.yaw_deg = float(yaw)
        assert not history.commit(state, editing=True)
    assert history.commit(state, editing=False)
    assert not history.commit(state, editing=False), "an unchanged state is not a new step"
    assert history.undo(state)
    assert state.camera.yaw_deg == 0.0
    assert not history.can_undo


def test_undo_then_redo_reapplies_and_a_new_edit_clears_redo():
    state = AppState()
    history = EditHistory(state)
    state.latent.set_seed(5)
    history.commit(state)
    state.pose.neck_deg = (0.0, 30.0, 0.0)
    history.commit(state)
    history.undo(state)
    assert state.pose.neck_deg == (0.0, 0.0, 0.0) and state.latent.seed == 5
    history.undo(state)
    assert state.latent.seed == 0
    history.redo(state)
    history.redo(state)
    assert state.latent.seed == 5 and state.pose.neck_deg == (0.0, 30.0, 0.0)
    history.undo(state)
    state.camera.pitch_deg = 10.0
    history.commit(state)
    assert not history.can_redo
    assert not history.redo(state)


def test_undo_records_an_uncommitted_edit_so_redo_brings_it_back():
    state = AppState()
    history = EditHistory(state)
    state.camera.yaw_deg = 45.0  # edited, but the app has not committed yet
    history.undo(state)
    assert state.camera.yaw_deg == 0.0
    history.redo(state)
    assert state.camera.yaw_deg == 45.0


def test_rejected_edit_is_forgotten():
    state = AppState(checkpoint="good.pt")
    history = EditHistory(state)
    state.camera.yaw_deg = 10.0
    history.commit(state)
    state.checkpoint = "corrupt.pt"
    history.commit(state)
    state.checkpoint = "good.pt"  # the app reverts a checkpoint that failed to load
    history.forget_current(state)
    history.undo(state)
    assert state.camera.yaw_deg == 0.0 and state.checkpoint == "good.pt"


def test_history_keeps_at_most_its_limit():
    state = AppState()
    history = EditHistory(state, limit=5)
    for yaw in range(1, 20):
        state.camera.yaw_deg = float(yaw)
        history.commit(state)
    undone = 0
    while history.undo(state):
        undone += 1
    assert undone == 4 and state.camera.yaw_deg == 15.0
