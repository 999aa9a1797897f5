"""Real-SMPL-style pickles: chumpy objects load without chumpy; any other global is refused."""
from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from core.body import BodyModelFileError, load_body_model
from core.body.smpl_pickle import read_smpl_file
from core.body.standin import build_standin_arrays


def fake_chumpy_module(monkeypatch) -> type:
    """Register a fake `chumpy.ch.Ch` so that pickle writes the same global names a real SMPL file holds."""
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy: the array lives in the instance state
        def __init__(self, state):
            self.__dict__.update(state)

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch, package.ch = Ch, module
    monkeypatch.setitem(sys.modules, "chumpy", package)
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    return Ch


def smpl_style_pickle(monkeypatch, protocol: int) -> tuple[bytes, dict]:
    Ch = fake_chumpy_module(monkeypatch)
    arrays = build_standin_arrays()
    arrays.pop("standin_version")
    content = dict(arrays)
    # As in SMPL files: chumpy arrays (state under 'x', or only a cached 'r'), a sparse J_regressor.
    content["v_template"] = Ch({"x": arrays["v_template"].astype(np.float64), "_dirty_vars": {"x"}, "_itr": None})
    content["shapedirs"] = Ch({"x": Ch({"x": arrays["shapedirs"]}), "_dirty_vars": set()})
    content["posedirs"] = Ch({"r": arrays["posedirs"], "a": None})
    content["J_regressor"] = scipy.sparse.csc_matrix(arrays["J_regressor"].astype(np.float64))
    content["bs_style"] = "lbs"
    stream = pickle.dumps(content, protocol=protocol)
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")
    return stream, arrays


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_pickle_loads_without_chumpy(tmp_path, monkeypatch, protocol):
    stream, arrays = smpl_style_pickle(monkeypatch, protocol)
    assert b"chumpy.ch" in stream
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(stream)
    assert "chumpy" not in sys.modules
    data = read_smpl_file(path)
    assert isinstance(data["v_template"], np.ndarray)
    assert np.allclose(data["v_template"], arrays["v_template"])
    assert np.array_equal(data["shapedirs"], arrays["shapedirs"])
    assert np.array_equal(data["posedirs"], arrays["posedirs"])
    assert scipy.sparse.issparse(data["J_regressor"])
    assert np.allclose(data["J_regressor"].toarray(), arrays["J_regressor"])
    model = load_body_model(path)
    assert not model.is_standin
    assert torch.allclose(model.canonical_vertices, load_body_model().canonical_vertices, atol=1e-5)


class RunsAShellCommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_pickle_asking_for_os_system_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": RunsAShellCommand(marker)}, protocol=2))
    with pytest.raises(BodyModelFileError) as error:
        load_body_model(path)
    assert "system" in str(error.value) and "refusing" in str(error.value)
    assert str(path) in str(error.value)
    assert not marker.exists()


def test_pickle_asking_for_builtins_eval_is_refused(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(b"cbuiltins\neval\n(S'1+1'\ntR.")
    with pytest.raises(BodyModelFileError, match="builtins.eval"):
        read_smpl_file(path)


def test_pickle_without_smpl_keys_says_what_is_missing(tmp_path):
    path = tmp_path / "other.pkl"
    path.write_bytes(pickle.dumps({"weights": np.zeros((3, 24))}))
    with pytest.raises(BodyModelFileError, match="missing"):
        read_smpl_file(path)
