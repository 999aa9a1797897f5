"""core.body.field_store: the fast warp's canonical fields come back from the user's cache bit for bit, and a
damaged, foreign or unwritable cache only costs a rebuild."""
from __future__ import annotations

import logging

import pytest
import torch

from core.body import field_store, load_body_model
from core.body.fast_warp import CanonicalFields, FastWarp, _stored_or_built
from core.body.probe_points import render_sample_points

RESOLUTION = 17  # coarse fields build in well under a second


@pytest.fixture(scope="module")
def body():
    return load_body_model()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "portrait-viz" / "warp-fields"


def test_stored_fields_equal_built_ones_and_warp_alike(body, cache):
    built = _stored_or_built(body, 0.25, 1.0, RESOLUTION)
    assert len(list(cache.glob("*.npz"))) == 1
    calls = []
    original = CanonicalFields._build
    CanonicalFields._build = lambda self, body: calls.append(1) or original(self, body)
    try:
        read = _stored_or_built(body, 0.25, 1.0, RESOLUTION)
    finally:
        CanonicalFields._build = original
    assert calls == []  # read back, not built again
    for name in field_store.STORED:
        assert torch.equal(getattr(built, name), getattr(read, name))
    pose = torch.tensor([0.2, -0.3, 0.05, -0.2, 0.4, 0.1])
    points = render_sample_points(8, yaw_deg=25.0)
    assert torch.equal(FastWarp(body, pose, fields=built)(points), FastWarp(body, pose, fields=read)(points))


def test_the_name_changes_with_every_input(body):
    key = field_store.fields_key(body, 0.25, 1.0, RESOLUTION)
    assert key == field_store.fields_key(body, 0.25, 1.0, RESOLUTION)
    others = [field_store.fields_key(body, *settings) for settings in
              ((0.3, 1.0, RESOLUTION), (0.25, 1.2, RESOLUTION), (0.25, 1.0, RESOLUTION + 2),
               (0.25, 1.0, RESOLUTION, ("another margin",)))]
    assert len({key, *others}) == 5
    moved = load_body_model()
    moved.canonical_vertices = moved.canonical_vertices + 1e-3
    assert field_store.fields_key(moved, 0.25, 1.0, RESOLUTION) != key


def test_damaged_or_foreign_files_are_rebuilt(body, cache, caplog):
    _stored_or_built(body, 0.25, 1.0, RESOLUTION)
    (key,) = [path.stem for path in cache.glob("*.npz")]  # the name the warp's builder gives these fields
    path = cache / f"{key}.npz"
    path.write_bytes(b"not an npz archive")
    with caplog.at_level(logging.WARNING):
        fields = _stored_or_built(body, 0.25, 1.0, RESOLUTION)
    assert "unreadable warp-field cache" in caplog.text
    shapes = CanonicalFields.stored_shapes(RESOLUTION)
    assert field_store.load_stored(key, shapes, body.device) is not None  # the rebuild replaced the damaged file
    assert fields.groups_at_images.shape == shapes["groups_at_images"]
    assert field_store.load_stored(key, CanonicalFields.stored_shapes(RESOLUTION + 2), body.device) is None


def test_an_unwritable_cache_only_costs_a_rebuild(body, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # the cache folder cannot be created under a file
    with caplog.at_level(logging.WARNING):
        fields = _stored_or_built(body, 0.25, 1.0, RESOLUTION)
    assert "could not keep the warp fields" in caplog.text
    assert fields.groups_at_images.shape == CanonicalFields.stored_shapes(RESOLUTION)["groups_at_images"]


def test_the_folder_keeps_only_the_most_recently_used_files(body, cache, monkeypatch):
    import os

    cache.mkdir(parents=True)
    for index in range(field_store.KEPT_FILES + 3):
        old = cache / f"old{index}.npz"
        old.write_bytes(b"")
        os.utime(old, (1000.0 + index, 1000.0 + index))
    _stored_or_built(body, 0.25, 1.0, RESOLUTION)  # writes its file, then trims the folder
    kept = {path.name for path in cache.glob("*.npz")}
    assert len(kept) == field_store.KEPT_FILES
    assert {f"old{index}.npz" for index in range(4)}.isdisjoint(kept)  # the least recently used went first
    assert len([name for name in kept if not name.startswith("old")]) == 1  # the new file stays
