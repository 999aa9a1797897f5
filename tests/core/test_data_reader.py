"""The dataset reader: reference layout, name-paired masks, mirroring, held-out split, resolution checks."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch

from core.camera import orbit_camera
from core.data.labels import sample_name
from core.data.reader import PortraitDataset, is_held_out, mirror_label
from core.data.storage import DatasetError, encode_png
from core.data.writer import LabeledImage, write_dataset

RESOLUTION = 16


def _label(yaw_deg: float, pitch_deg: float, pose_deg=(5.0, -10.0, 3.0, 2.0, 8.0, -4.0), lookat=(0.0, 0.0649, 0.0)):
    camera = orbit_camera(yaw_deg, pitch_deg, lookat=lookat)[0].double().numpy()
    return np.concatenate([camera, np.radians(pose_deg)])


def _image(index: int) -> np.ndarray:
    """An asymmetric image that encodes its index: a ramp plus the index in the red channel."""
    pixels = np.zeros((RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    pixels[:, :, 0] = index
    pixels[:, :, 1] = np.arange(RESOLUTION, dtype=np.uint8)[None, :] * 10
    pixels[:, :, 2] = np.arange(RESOLUTION, dtype=np.uint8)[:, None] * 5
    return pixels


def _mask(index: int) -> np.ndarray:
    mask = np.zeros((RESOLUTION, RESOLUTION, 1), dtype=np.uint8)
    mask[:, : index % RESOLUTION + 1] = 255  # a left-anchored bar whose width encodes the index
    return mask


def _samples(count: int) -> list[LabeledImage]:
    return [
        LabeledImage(sample_name(i), _image(i), _label(360.0 * i / count, 5.0 - i), _mask(i)) for i in range(count)
    ]


def test_reads_hand_written_360phq_style_zips(tmp_path):
    """Uncompressed zips written by hand, names `%010d/%010d.png`, labels in a different order from the names."""
    count = 5
    labels = [[sample_name(i), _label(72.0 * i, 3.0).tolist()] for i in reversed(range(count))]
    with zipfile.ZipFile(tmp_path / "images.zip", "w", zipfile.ZIP_STORED) as archive:
        for i in range(count):
            archive.writestr(f"{i // 1000:010d}/{i:010d}.png", encode_png(_image(i)))
        archive.writestr("dataset.json", json.dumps({"labels": labels}))
    with zipfile.ZipFile(tmp_path / "seg.zip", "w", zipfile.ZIP_STORED) as archive:
        for i in reversed(range(count)):  # stored in the opposite order: pairing must go by name
            archive.writestr(f"{i // 1000:010d}/{i:010d}.png", encode_png(_mask(i)))
    dataset = PortraitDataset(tmp_path / "images.zip", tmp_path / "seg.zip")
    assert len(dataset) == count and dataset.resolution == RESOLUTION
    for position in range(count):
        item = dataset[position]
        index = int(item["name"].split("/")[1][:-4])
        assert item["image"].shape == (3, RESOLUTION, RESOLUTION) and item["image"].dtype == np.uint8
        assert (item["image"][0] == index).all()
        np.testing.assert_array_equal(item["mask"], _mask(index).transpose(2, 0, 1))
        np.testing.assert_allclose(item["camera"], _label(72.0 * index, 3.0)[:25], atol=1e-6)
        assert item["camera"].dtype == np.float32 and item["pose"].shape == (6,)


def test_folder_and_zip_read_the_same(tmp_path):
    samples = _samples(4)
    write_dataset(tmp_path / "f_img", samples, tmp_path / "f_mask")
    write_dataset(tmp_path / "z_img.zip", samples, tmp_path / "z_mask.zip", as_zip=True)
    folder = PortraitDataset(tmp_path / "f_img", tmp_path / "f_mask")
    archive = PortraitDataset(tmp_path / "z_img.zip", tmp_path / "z_mask.zip")
    for i in range(4):
        a, b = folder[i], archive[i]
        assert a["name"] == b["name"]
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["mask"], b["mask"])
        np.testing.assert_array_equal(a["camera"], b["camera"])


def test_mirror_flips_pixels_camera_and_pose_as_the_reference(tmp_path):
    samples = _samples(3)
    write_dataset(tmp_path / "img", samples, tmp_path / "mask")
    dataset = PortraitDataset(tmp_path / "img", tmp_path / "mask", mirror=True)
    assert len(dataset) == 6
    for i in range(3):
        plain, flipped = dataset[i], dataset[i + 3]
        assert flipped["mirrored"] and not plain["mirrored"]
        np.testing.assert_array_equal(flipped["image"], plain["image"][:, :, ::-1])
        np.testing.assert_array_equal(flipped["mask"], plain["mask"][:, :, ::-1])
        signs = np.ones(25)
        signs[[1, 2, 3, 4, 8]] = -1
        np.testing.assert_array_equal(flipped["camera"], plain["camera"] * signs)
        np.testing.assert_array_equal(flipped["pose"], plain["pose"] * np.array([1, -1, -1, 1, -1, -1]))
        # Mirroring twice gives the original back, bit for bit.
        camera, pose = mirror_label(*mirror_label(plain["camera"], plain["pose"]))
        np.testing.assert_array_equal(camera, plain["camera"])
        np.testing.assert_array_equal(pose, plain["pose"])
    cameras, poses = dataset.labels()
    assert cameras.shape == (6, 25) and poses.shape == (6, 6)
    np.testing.assert_array_equal(cameras[4], dataset[4]["camera"])


def test_mirrored_label_is_the_label_of_the_mirrored_camera():
    """Reflecting across x = 0 sends yaw to -yaw and the look-at point's x to -x (analytic)."""
    label = _label(37.0, 12.0, lookat=(0.01, 0.07, -0.005))
    camera, pose = mirror_label(label[:25], label[25:])
    expected = _label(-37.0, 12.0, pose_deg=(5.0, 10.0, -3.0, 2.0, -8.0, 4.0), lookat=(-0.01, 0.07, -0.005))
    np.testing.assert_allclose(camera, expected[:25], atol=1e-6)
    np.testing.assert_allclose(pose, expected[25:], atol=1e-12)


def test_held_out_split_is_deterministic_and_disjoint(tmp_path):
    names = [sample_name(i) for i in range(2000)]
    held = [name for name in names if is_held_out(name, 0.1)]
    assert held == [name for name in names if is_held_out(name, 0.1)]
    assert 140 < len(held) < 260  # about 10 %
    assert set(held) <= {name for name in names if is_held_out(name, 0.2)}  # growing the fraction only adds
    write_dataset(tmp_path / "img", _samples(40), tmp_path / "mask")
    train = PortraitDataset(tmp_path / "img", tmp_path / "mask", split="train", eval_fraction=0.25)
    evaluation = PortraitDataset(tmp_path / "img", tmp_path / "mask", split="eval", eval_fraction=0.25)
    assert set(train.names).isdisjoint(evaluation.names)
    assert len(train.names) + len(evaluation.names) == 40 and len(evaluation.names) > 0


def test_default_collate_stacks_items(tmp_path):
    write_dataset(tmp_path / "img", _samples(4), tmp_path / "mask")
    loader = torch.utils.data.DataLoader(PortraitDataset(tmp_path / "img", tmp_path / "mask"), batch_size=4)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, RESOLUTION, RESOLUTION) and batch["image"].dtype == torch.uint8
    assert batch["camera"].shape == (4, 25) and batch["pose"].shape == (4, 6) and batch["mask"].shape == (4, 1, 16, 16)


def test_missing_mask_is_named(tmp_path):
    samples = _samples(3)
    write_dataset(tmp_path / "img", samples, tmp_path / "mask")
    (tmp_path / "mask" / samples[1].name).unlink()
    with pytest.raises(DatasetError, match=r"0000000001\.png.*every image needs a mask"):
        PortraitDataset(tmp_path / "img", tmp_path / "mask")


def test_mask_without_image_is_named(tmp_path):
    write_dataset(tmp_path / "img", _samples(2), tmp_path / "mask")
    (tmp_path / "mask" / "extra.png").write_bytes(encode_png(_mask(0)))
    with pytest.raises(DatasetError, match=r"extra\.png.*mask without an image"):
        PortraitDataset(tmp_path / "img", tmp_path / "mask")


def test_wrong_resolution_is_refused(tmp_path):
    write_dataset(tmp_path / "img", _samples(2), tmp_path / "mask")
    with pytest.raises(DatasetError, match=r"16x16 but resolution 32 was asked for"):
        PortraitDataset(tmp_path / "img", tmp_path / "mask", resolution=32)
    odd = [LabeledImage("a.png", np.zeros((12, 12, 3), np.uint8), _label(0.0, 0.0), np.zeros((12, 12, 1), np.uint8))]
    write_dataset(tmp_path / "odd", odd, tmp_path / "odd_mask")
    with pytest.raises(DatasetError, match=r"a\.png.*power-of-two"):
        PortraitDataset(tmp_path / "odd", tmp_path / "odd_mask")


def test_no_masks_needs_an_explicit_choice(tmp_path):
    write_dataset(tmp_path / "img", _samples(2))
    with pytest.raises(DatasetError, match="has no masks"):
        PortraitDataset(tmp_path / "img")
    item = PortraitDataset(tmp_path / "img", require_masks=False)[0]
    assert "mask" not in item and item["image"].shape == (3, RESOLUTION, RESOLUTION)
