"""Inversion's files: photos and masks that must be refused clearly, the latent file's round trip, and every
tool that opens a latent file (scene builder, path files, core.generate) showing exactly its ws."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from core.camera import orbit_camera
from core.generate.__main__ import main as generate_main
from core.generate.render import ViewRenderer
from core.invert.latent_file import InvertedLatent, LatentFileError, load_latent, save_latent
from core.invert.photo import Crop, InvertInputError, centre_crop, estimate_mask, load_target
from core.loading import open_generator
from core.paths import CameraKey, LatentKey, load_path, save_path
from core.paths.model import PATH_FORMAT, CameraPath, Keyframe
from core.scene import SceneBuilder, SceneSpec


def _photo(path, width=96, height=80, colour=(30, 60, 90)):
    pixels = np.full((height, width, 3), colour, dtype=np.uint8)
    pixels[20:60, 30:70] = (220, 180, 150)  # a bright square "person" on a flat background
    Image.fromarray(pixels).save(path)
    return path


def test_bad_photos_and_masks_are_named_with_the_fix(tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    with pytest.raises(InvertInputError, match="notes.png: not an image file"):
        load_target(not_image, 64)
    with pytest.raises(InvertInputError, match="no such photo"):
        load_target(tmp_path / "missing.png", 64)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (20, 40)).save(tiny)
    with pytest.raises(InvertInputError, match="20x40; it needs at least 32"):
        load_target(tiny, 64)
    photo = _photo(tmp_path / "photo.png")
    wrong_mask = tmp_path / "mask.png"
    Image.new("L", (50, 50)).save(wrong_mask)
    with pytest.raises(InvertInputError, match="mask is 50x50 but the photo is 96x80"):
        load_target(photo, 64, mask=wrong_mask)
    with pytest.raises(InvertInputError, match="must lie inside the 96x80 photo"):
        load_target(photo, 64, crop=Crop(50, 0, 64))


def test_huge_photos_are_refused_before_decoding(tmp_path, monkeypatch):
    import core.invert.photo as photo_module

    monkeypatch.setattr(photo_module, "MAX_PHOTO_PIXELS", 1000)
    with pytest.raises(InvertInputError, match="scale it down first"):
        load_target(_photo(tmp_path / "big.png"), 64)


def test_crop_resize_and_estimated_mask(tmp_path):
    photo = _photo(tmp_path / "photo.png")
    assert centre_crop(96, 80) == Crop(8, 0, 80)
    target = load_target(photo, 40, crop=Crop(10, 0, 80))
    assert target.image.shape == (40, 40, 3) and target.mask_source == "estimated"
    # The square covers photo columns 30..69 -> crop columns 20..59 -> target 10..29, rows 20..59 -> 10..29.
    expected = np.zeros((40, 40), dtype=bool)
    expected[10:30, 10:30] = True
    assert np.array_equal(target.mask > 0.5, expected)
    # A vertical gradient background (as the synthetic set's) is modelled, not taken for the person.
    rows = np.linspace(40, 200, 48)[:, None, None]
    gradient = np.broadcast_to(np.concatenate([rows, rows * 0.5, 255 - rows], axis=2), (48, 48, 3)).astype(np.uint8)
    person = gradient.copy()
    person[16:48, 12:36] = (230, 190, 160)  # head and shoulders reaching the bottom edge
    estimated = estimate_mask(person)
    assert estimated is not None and np.array_equal(estimated > 0.5, (person != gradient).any(axis=2))
    flat = np.full((32, 32, 3), 128, dtype=np.uint8)
    assert estimate_mask(flat) is None  # nothing differs from the border: no mask rather than a wrong one
    mask_file = tmp_path / "mask.png"
    Image.fromarray(np.full((80, 96), 255, dtype=np.uint8)).save(mask_file)
    assert load_target(photo, 40, mask=mask_file).mask_source == "file"


def test_latent_file_round_trip_and_bad_files(tmp_path):
    ws = np.random.RandomState(0).randn(5, 8).astype(np.float32)
    latent = InvertedLatent(ws, 30.0, -5.0, (1, 2, 3, 4, 5, 6), "model.pt")
    path = save_latent(tmp_path / "latent.npz", latent)
    again = load_latent(path)
    assert np.array_equal(again.ws, ws) and again.yaw_deg == 30.0 and again.pitch_deg == -5.0
    assert again.pose_deg == (1, 2, 3, 4, 5, 6) and again.checkpoint == "model.pt"
    with pytest.raises(LatentFileError, match="this model takes 6x8"):
        again.check_model(6, 8, str(path))
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip")
    with pytest.raises(LatentFileError, match="garbage.npz: not a latent file"):
        load_latent(garbage)
    other = tmp_path / "other.npz"
    np.savez(other, ws=ws)
    with pytest.raises(LatentFileError, match="format 'missing'"):
        load_latent(other)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, format=np.array("portrait-latent/1"), ws=np.array([object()], dtype=object))
    with pytest.raises(LatentFileError):  # object arrays would need pickle: never loaded
        load_latent(pickled)


@pytest.fixture(scope="module")
def model():
    generator, _, _ = open_generator("preset:tiny", "cpu")
    return generator


def _latent_of_seed(model, tmp_path, seed=5, psi=0.7):
    """A latent file holding exactly the ws that seed `seed` maps to (and those ws)."""
    builder = SceneBuilder(model, body=lambda: None)
    ws = builder.ws(SceneSpec(seeds=((seed, 1.0),), truncation_psi=psi))
    path = save_latent(tmp_path / "seed.npz", InvertedLatent(ws[0].numpy(), 0.0, 0.0, (0.0,) * 6, "preset:tiny"))
    return path, ws


def test_scene_builder_reads_the_ws_of_a_latent_file_and_rereads_a_rewritten_one(model, tmp_path):
    path, ws = _latent_of_seed(model, tmp_path)
    builder = SceneBuilder(model, body=lambda: None)
    spec = SceneSpec(seeds=((0, 1.0),), latent_file=str(path))
    assert torch.equal(builder.ws(spec), ws)
    other = torch.randn_like(ws)
    save_latent(path, InvertedLatent(other[0].numpy(), 0.0, 0.0, (0.0,) * 6, "preset:tiny"))
    assert torch.equal(builder.ws(spec), other)  # the file's signature is part of the cache key
    small = save_latent(tmp_path / "small.npz", InvertedLatent(np.zeros((2, 3), np.float32), 0, 0, (0,) * 6, "x.pt"))
    with pytest.raises(LatentFileError, match="small.npz: its ws are 2x3"):
        builder.ws(SceneSpec(latent_file=str(small)))


def test_generate_images_and_a_path_file_show_the_latent_files_pixels(model, tmp_path):
    path, _ = _latent_of_seed(model, tmp_path)
    renderer = ViewRenderer(model)
    camera = CameraKey(20.0, 5.0)
    from_seed = renderer.render(LatentKey(((5, 1.0),), 0.7), camera)["image"]
    from_file = renderer.render(LatentKey((), 0.7, file=str(path)), camera)["image"]
    assert np.array_equal(from_seed, from_file)

    out = tmp_path / "images"
    assert generate_main(["images", "--checkpoint", "preset:tiny", "--device", "cpu", "--latent", str(path),
                          "--yaw", "20", "--pitch", "5", "--out", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out / "seed.png")), from_seed)
    assert generate_main(["images", "--checkpoint", "preset:tiny", "--latent", str(path), "--seeds", "1",
                          "--out", str(out)]) == 2  # one or the other

    key = Keyframe(0.0, CameraKey(20.0, 5.0), latent=LatentKey((), 0.7, file="seed.npz"))
    path_file = tmp_path / "path.json"
    path_file.write_text(json.dumps({"format": PATH_FORMAT, "keyframes": [
        {"time": 0, "camera": {"yaw_deg": 20, "pitch_deg": 5}, "latent": {"file": "seed.npz"}}]}))
    loaded = load_path(path_file)
    assert loaded.keyframes[0].latent.file == str(tmp_path / "seed.npz")  # relative to the path file
    save_path(CameraPath(keyframes=(key,)), tmp_path / "again.json")
    assert json.loads((tmp_path / "again.json").read_text())["keyframes"][0]["latent"]["file"] == "seed.npz"


def test_a_request_with_a_latent_file_renders_its_ws(model, tmp_path):
    from renderer.engine import Renderer
    from renderer.requests import RenderRequest

    path, _ = _latent_of_seed(model, tmp_path)
    renderer = Renderer("cpu")
    base = RenderRequest(checkpoint="preset:tiny", seeds=((5, 1.0),), yaw_deg=30.0, skip_empty_space=False)
    seeded = renderer.render(base)
    inverted = renderer.render(base.replace(seeds=((0, 1.0),), latent_file=str(path), extras=("predicted_pose",)))
    assert seeded.error is None and inverted.error is None
    assert np.array_equal(seeded.image, inverted.image)
    assert "no z" in inverted.extras["errors"]["predicted_pose"]
    broken = renderer.render(base.replace(latent_file=str(tmp_path / "missing.npz")))
    assert broken.image is None and "no such latent file" in broken.error
    assert orbit_camera(0.0, 0.0).shape == (1, 25)


def test_the_viewer_shows_a_rewritten_latent_file_anew(model, tmp_path):
    from renderer.engine import Renderer
    from renderer.requests import RenderRequest

    path, ws = _latent_of_seed(model, tmp_path)
    renderer = Renderer("cpu")
    request = RenderRequest(checkpoint="preset:tiny", latent_file=str(path), yaw_deg=20.0)
    first = renderer.render(request)
    (tmp_path / "other").mkdir()
    _, other = _latent_of_seed(model, tmp_path / "other", seed=9)
    save_latent(path, InvertedLatent(other[0].numpy(), 0.0, 0.0, (0.0,) * 6, "preset:tiny"))
    again = renderer.render(request)  # the same request, but the file now holds seed 9's ws
    assert first.error is None and again.error is None
    assert not np.array_equal(first.image, again.image)
