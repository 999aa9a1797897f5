"""Which body poses the fakes (`--body`, the dataset's recorded body, the stand-in), the mismatch error, and
the refusal of a warp that carries no pose gradient while G's pose branch trains."""
from __future__ import annotations

import json

import pytest
import torch

from core.body.model import STANDIN_PATH
from core.config import preset
from core.train.body_choice import make_warp_factory, training_body_path
from core.train.config import TrainingError


def _synth_dataset(root, body_path):
    root.mkdir(parents=True)
    record = {"format": "portrait-synth/1", "settings": {"resolution": 64, "body_path": body_path},
              "identities": {}, "samples": {}}
    (root / "synth.json").write_text(json.dumps(record))
    return root


def test_default_is_the_dataset_body_or_the_standin(tmp_path):
    smpl = tmp_path / "SMPL_NEUTRAL.npz"
    smpl.write_bytes(b"stand-in bytes: only the path is compared here")
    assert training_body_path(None, tmp_path / "plain-folder") is None  # not synthetic: the stand-in
    assert training_body_path(None, _synth_dataset(tmp_path / "a", None)) is None
    assert training_body_path(None, _synth_dataset(tmp_path / "b", str(smpl))) == str(smpl.resolve())
    assert training_body_path(str(smpl), tmp_path / "b") == str(smpl.resolve())
    assert training_body_path(str(tmp_path), tmp_path / "b") == str(smpl.resolve())  # the folder holding it
    assert training_body_path("standin", tmp_path / "a") is None
    assert training_body_path(str(STANDIN_PATH), tmp_path / "a") is None


def test_a_body_other_than_the_datasets_is_an_error_naming_both(tmp_path):
    smpl = tmp_path / "SMPL_NEUTRAL.npz"
    smpl.write_bytes(b"x")
    with pytest.raises(TrainingError) as caught:
        training_body_path(str(smpl), _synth_dataset(tmp_path / "made-with-standin", None))
    message = str(caught.value)
    assert str(smpl.resolve()) in message and "stand-in" in message and "made-with-standin" in message
    with pytest.raises(TrainingError, match="--body standin"):
        training_body_path("standin", _synth_dataset(tmp_path / "made-with-smpl", str(smpl)))
    with pytest.raises(TrainingError, match="no such file"):
        training_body_path(str(tmp_path / "missing.pkl"), tmp_path / "plain-folder")


def test_a_warp_without_pose_gradient_is_refused_while_the_pose_branch_trains():
    config = preset("tiny")
    with pytest.raises(TrainingError, match="--warp grid carries no gradient") as caught:
        make_warp_factory("grid", torch.device("cpu"), config, None, pose_gradient=True)
    assert "--freeze-g-pose-branch" in str(caught.value)
    assert callable(make_warp_factory("grid", torch.device("cpu"), config, None, pose_gradient=False))
    assert callable(make_warp_factory("fast", torch.device("cpu"), config, None, pose_gradient=True))
    assert make_warp_factory("none", torch.device("cpu"), config) is None
