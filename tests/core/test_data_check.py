"""`python -m core.data check`: every kind of bad input gives an error naming the file; good data a summary."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.camera import orbit_camera
from core.data.__main__ import main
from core.data.check import check_dataset
from core.data.labels import sample_name
from core.data.storage import encode_png
from core.data.writer import LabeledImage, write_dataset

RESOLUTION = 16


def _label(yaw_deg: float) -> np.ndarray:
    camera = orbit_camera(yaw_deg, 4.0)[0].double().numpy()
    return np.concatenate([camera, np.radians([10.0, -20.0, 0.0, 0.0, 15.0, 5.0])])


def _good(tmp_path, count: int = 12):
    samples = [
        LabeledImage(
            sample_name(i),
            np.full((RESOLUTION, RESOLUTION, 3), 20 * i, np.uint8),
            _label(30.0 * i + 15.0),
            np.full((RESOLUTION, RESOLUTION, 1), 255, np.uint8),
        )
        for i in range(count)
    ]
    return write_dataset(tmp_path / "images", samples, tmp_path / "masks")


def _edit_labels(images, edit) -> None:
    path = images / "dataset.json"
    document = json.loads(path.read_text())
    edit(document["labels"])
    path.write_text(json.dumps(document))


def test_good_dataset_summary(tmp_path, capsys):
    _good(tmp_path)
    report = check_dataset(tmp_path)  # the synth-style root: images/ and masks/ are found
    assert report.ok, report.errors
    assert report.count == 12 and report.resolution == RESOLUTION
    np.testing.assert_allclose(np.sort(report.yaw_deg), np.sort(((np.arange(12) * 30.0 + 195.0) % 360) - 180),
                               atol=1e-3)
    np.testing.assert_allclose(report.pose_deg[:, 1], -20.0, atol=1e-4)
    assert main(["check", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "count: 12   resolution: 16" in printed and "no problems found" in printed
    # 12 yaws 30 degrees apart, mid-bin: one in each 30-degree bin.
    assert printed.count("       1  ####") == 12


def _expect_error(tmp_path, capsys, *fragments: str) -> None:
    report = check_dataset(tmp_path)
    assert not report.ok
    joined = "\n".join(report.errors)
    for fragment in fragments:
        assert fragment in joined, joined
    assert main(["check", str(tmp_path)]) != 0
    capsys.readouterr()


def test_image_without_label(tmp_path, capsys):
    images, _ = _good(tmp_path)
    _edit_labels(images, lambda labels: labels.pop(3))
    _expect_error(tmp_path, capsys, f"{sample_name(3)}: has no label in dataset.json")


def test_label_without_image(tmp_path, capsys):
    images, masks = _good(tmp_path)
    (images / sample_name(4)).unlink()
    (masks / sample_name(4)).unlink()
    _expect_error(tmp_path, capsys, f"{sample_name(4)}: is labelled in dataset.json but the image is missing")


def test_wrong_label_length(tmp_path, capsys):
    images, _ = _good(tmp_path)
    _edit_labels(images, lambda labels: labels[2][1].pop())
    _expect_error(tmp_path, capsys, f"{sample_name(2)}: label has 30 numbers, expected 31")


def test_non_finite_label(tmp_path, capsys):
    images, _ = _good(tmp_path)
    path = images / "dataset.json"
    document = json.loads(path.read_text())
    document["labels"][5][1][27] = float("nan")
    path.write_text(json.dumps(document))  # json writes NaN, which Python's reader accepts
    _expect_error(tmp_path, capsys, f"{sample_name(5)}: label contains a non-finite number")


def test_camera_that_is_not_a_rotation(tmp_path, capsys):
    images, _ = _good(tmp_path)

    def scale_first_column(labels):
        for flat in (0, 4, 8):
            labels[6][1][flat] *= 2.0

    _edit_labels(images, scale_first_column)
    _expect_error(tmp_path, capsys, f"{sample_name(6)}: cam2world is not a rotation")


def test_mixed_image_sizes(tmp_path, capsys):
    images, _ = _good(tmp_path)
    (images / sample_name(7)).write_bytes(encode_png(np.zeros((32, 32, 3), np.uint8)))
    _expect_error(tmp_path, capsys, "mixed sizes: 16x16 (23), 32x32 (1)")


def test_corrupt_png(tmp_path, capsys):
    images, _ = _good(tmp_path)
    data = (images / sample_name(8)).read_bytes()
    (images / sample_name(8)).write_bytes(data[: len(data) // 2])
    _expect_error(tmp_path, capsys, f"{sample_name(8)}: is not a readable image")
    assert check_dataset(tmp_path, decode=False).ok  # the quick header-only look cannot see truncated pixels
    (images / sample_name(9)).write_bytes(b"not a png at all")
    assert f"{sample_name(9)}: is not a readable image" in "\n".join(check_dataset(tmp_path, decode=False).errors)


def test_zip_dataset_with_errors_names_the_member(tmp_path):
    samples = [
        LabeledImage(sample_name(i), np.zeros((RESOLUTION, RESOLUTION, 3), np.uint8), _label(10.0 * i),
                     np.zeros((RESOLUTION, RESOLUTION, 1), np.uint8))
        for i in range(3)
    ]
    samples.append(LabeledImage("extra/big.png", np.zeros((32, 32, 3), np.uint8), _label(0.0), None))
    images, masks = write_dataset(tmp_path / "images.zip", samples, tmp_path / "masks.zip", as_zip=True)
    report = check_dataset(tmp_path)
    joined = "\n".join(report.errors)
    assert f"{images}:extra/big.png: has no mask of the same name" in joined
    assert "mixed sizes: 16x16 (6), 32x32 (1)" in joined


def test_mask_without_image(tmp_path, capsys):
    _, masks = _good(tmp_path)
    (masks / "0000000000" / "stray.png").write_bytes(encode_png(np.zeros((16, 16, 1), np.uint8)))
    _expect_error(tmp_path, capsys, "0000000000/stray.png: is a mask without an image")


def test_missing_labels_file_and_bad_json(tmp_path, capsys):
    images, _ = _good(tmp_path)
    (images / "dataset.json").write_text("{not json")
    _expect_error(tmp_path, capsys, "dataset.json: is not valid JSON")
    (images / "dataset.json").unlink()
    _expect_error(tmp_path, capsys, "dataset.json: is missing")


@pytest.mark.parametrize("bad", [["a.png"], "text", ["a.png", [1.0] * 31, "extra"]])
def test_malformed_entries(tmp_path, capsys, bad):
    images, _ = _good(tmp_path)
    _edit_labels(images, lambda labels: labels.append(bad))
    _expect_error(tmp_path, capsys, "is not [\"name.png\", [31 numbers]]")


def test_nonexistent_path(tmp_path, capsys):
    _expect_error(tmp_path / "nothing", capsys, "does not exist")


@pytest.mark.parametrize("option, value, reason", [("--feature-scale", "3", "outside 0.5..2.0"),
                                                   ("--pose-scale", "-1", "outside 0..1")])
def test_synth_refuses_out_of_range_scales(tmp_path, capsys, option, value, reason):
    with pytest.raises(SystemExit):
        main(["synth", "--out", str(tmp_path / "new"), "--count", "1", option, value])
    assert reason in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
