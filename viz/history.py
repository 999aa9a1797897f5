"""Undo/redo of AppState edits, one step per finished edit (not one per drag frame)."""
from __future__ import annotations

import copy
from typing import Any

from viz.state import AppState


class EditHistory:
    """Snapshots of the undoable parts of an AppState.

    The app calls `commit(state, editing=...)` once per frame. While an edit is in progress (a slider or the
    viewport is being dragged, an animation runs) nothing is recorded; when the input rests and the state
    differs from the last snapshot, one new undo step is recorded.
    """

    def __init__(self, state: AppState, limit: int = 200):
        self._limit = limit  # oldest steps are forgotten beyond this many
        self._undo: list[dict[str, Any]] = [state.edit_snapshot()]  # last item = the current, committed state
        self._redo: list[dict[str, Any]] = []

    @property
    def can_undo(self) -> bool:
        return len(self._undo) > 1

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def commit(self, state: AppState, editing: bool = False) -> bool:
        """Records the state as a new step if it changed and no edit is in progress; True when recorded."""
        if editing:
            return False
        snapshot = state.edit_snapshot()
        if snapshot == self._undo[-1]:
            return False
        self._undo.append(snapshot)
        self._redo.clear()
        del self._undo[: max(0, len(self._undo) - self._limit)]
        return True

    def undo(self, state: AppState) -> bool:
        """Restores the previous step; an uncommitted edit is recorded first so that redo can bring it back."""
        self.commit(state)
        if not self.can_undo:
            return False
        self._redo.append(self._undo.pop())
        state.restore_snapshot(copy.deepcopy(self._undo[-1]))
        return True

    def redo(self, state: AppState) -> bool:
        """Re-applies the step undone last."""
        self.commit(state)
        if not self.can_redo:
            return False
        self._undo.append(self._redo.pop())
        state.restore_snapshot(copy.deepcopy(self._undo[-1]))
        return True

    def forget_current(self, state: AppState) -> None:
        """Drops the newest step if `state` went back to the step before it (an edit that was rejected)."""
        if len(self._undo) > 1 and self._undo[-2] == state.edit_snapshot():
            self._undo.pop()

    def reset(self, state: AppState) -> None:
        """Forgets all steps; the current state becomes the only one (after loading a state file)."""
        self._undo = [state.edit_snapshot()]
        self._redo = []
