"""core.legacy's restricted unpickler: storages and tensors rebuilt exactly, embedded source never run,
forbidden globals refused by name, damaged files reported with their name."""
from __future__ import annotations

import builtins
import io
import pickle
import sys
import types
from collections import OrderedDict

import numpy as np
import pytest
import torch

from core.checkpoint import CheckpointError
from core.legacy.records import InertRecord, LegacyFormatProblem
from core.legacy.storage import load_storage_blob
from core.legacy.unpickler import read_released_pickle, unpickle_released
from tests.core.legacy_fixtures import (
    EASY_DICT, Call, GlobalRef, NewObject, ReferencePickler, generator_pickle, legacy_storage_blob, module_state,
    persistent_module, planted_source, reference_module, write_pickle,
)


def _dumps(obj, **options) -> bytes:
    stream = io.BytesIO()
    ReferencePickler(stream, **options).dump(obj)
    return stream.getvalue()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.float64, torch.int64, torch.bool, torch.uint8])
@pytest.mark.parametrize("storage_module,location", [("torch", "cpu"), ("torch.cuda", "cuda:0")])
def test_storage_blobs_load_on_the_cpu_with_their_values(dtype, storage_module, location):
    values = (torch.randn(11) * 50).to(dtype)
    blob = legacy_storage_blob(values, storage_module, location)
    loaded = load_storage_blob(blob)
    assert loaded.device.type == "cpu" and loaded.dtype == dtype and torch.equal(loaded, values)
    # The fixture is the format torch itself reads: torch's own (unrestricted) legacy loader agrees.
    reference = torch.load(io.BytesIO(blob), weights_only=False, map_location="cpu")
    assert torch.equal(torch.empty(0, dtype=dtype).set_(reference), values)


def test_tensors_pickled_by_torch_itself_come_back_equal():
    base = torch.randn(4, 6)
    original = {"matrix": base, "column": base[:, 2], "transposed": base.t(),
                "param": torch.nn.Parameter(torch.ones(3)),
                "half": torch.arange(5, dtype=torch.float16), "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3)}
    loaded = unpickle_released(io.BytesIO(pickle.dumps(original, protocol=4)))
    for name, tensor in original.items():
        assert loaded[name].shape == tensor.shape and torch.equal(loaded[name], tensor.detach()), name


def test_numpy_arrays_dtypes_and_easydicts_round_trip():
    faces = np.arange(12, dtype=np.uint32).reshape(4, 3)
    obj = {"faces": faces, "dtype": GlobalRef("torch", "float32"), "value": np.float64(0.25),
           "kwargs": NewObject(EASY_DICT, items=(("path", "/data/360PHQ-512.zip"), ("resolution", 512)))}
    loaded = unpickle_released(io.BytesIO(_dumps(obj)))
    assert loaded["faces"].dtype == np.uint32 and np.array_equal(loaded["faces"], faces)
    assert loaded["dtype"] is torch.float32 and loaded["value"] == 0.25
    assert loaded["kwargs"].resolution == 512 and loaded["kwargs"]["path"] == "/data/360PHQ-512.zip"


def test_persistent_and_reference_records_keep_the_module_tree(tmp_path):
    marker = tmp_path / "executed.txt"
    weight, noise = torch.randn(8, 4), torch.randn(4, 4)
    leaf = persistent_module("SynthesisLayer", planted_source(marker),
                             module_state({"weight": torch.nn.Parameter(weight)}, {"noise_const": noise}, {}),
                             {"in_channels": 4})
    linear = reference_module("torch.nn.modules.linear.Linear",
                              module_state({"weight": torch.nn.Parameter(torch.eye(2)), "bias": None}, {}, {}))
    root = persistent_module("TriPlaneGenerator", planted_source(marker),
                             module_state({}, {}, {"conv1": leaf, "head": linear}, neural_rendering_resolution=64))
    record = unpickle_released(io.BytesIO(_dumps(root)))
    assert isinstance(record, InertRecord) and record.persistent and record.class_name == "TriPlaneGenerator"
    assert record.attribute("neural_rendering_resolution") == 64
    assert record.submodule("conv1").init_kwargs == {"in_channels": 4}
    head = record.submodule("head")
    assert head.class_name == "torch.nn.modules.linear.Linear" and not head.persistent
    flat = record.flat_state()
    assert list(flat) == ["conv1.weight", "conv1.noise_const", "head.weight"]
    assert torch.equal(flat["conv1.weight"], weight) and torch.equal(flat["conv1.noise_const"], noise)
    assert record.parameter_names() == {"conv1.weight", "head.weight"}
    assert not marker.exists()


def _planted_network(tmp_path, marker, **pickler_options):
    source = planted_source(marker)
    generator = generator_pickle({"backbone.mapping.fc0.weight": torch.randn(3, 3)}, {"backbone.mapping.fc0.weight"},
                                 source, {"img_resolution": 64}, avg_c=torch.zeros(1, 25))
    path = tmp_path / "network-snapshot-000400.pkl"
    write_pickle(path, {"training_set_kwargs": NewObject(EASY_DICT, items=(("resolution", 64),)), "G": generator,
                        "D": persistent_module("PoseShapeAwareDualDiscriminator", source, module_state({}, {}, {})),
                        "G_ema": generator, "D_ema": None, "augment_pipe": None}, **pickler_options)
    return path


def test_protocol_2_streams_with_latin1_bytes_load_too(tmp_path):
    marker = tmp_path / "executed.txt"
    weight = torch.randn(5, 3)
    root = persistent_module("TriPlaneGenerator", planted_source(marker),
                             module_state({"weight": torch.nn.Parameter(weight)}, {}, {}))
    stream = _dumps({"G_ema": root}, protocol=2)
    assert b"_codecs" in stream  # bytes are written as _codecs.encode(text, "latin1") under protocol 2
    assert torch.equal(unpickle_released(io.BytesIO(stream))["G_ema"].flat_state()["weight"], weight)
    assert not marker.exists()


def test_embedded_module_source_is_never_executed(tmp_path, monkeypatch):
    marker = tmp_path / "executed.txt"
    monkeypatch.delattr(builtins, "LEGACY_SOURCE_EXECUTED", raising=False)
    data = read_released_pickle(_planted_network(tmp_path, marker))
    assert data["G_ema"].class_name == "TriPlaneGenerator" and data["G_ema"].source_chars > 0
    assert data["G_ema"].attribute("avg_c").shape == (1, 25)
    assert not marker.exists() and not hasattr(builtins, "LEGACY_SOURCE_EXECUTED")


def test_the_planted_source_would_run_under_the_reference_loader(tmp_path, monkeypatch):
    """Control for the test above: a loader that execs module_src as the reference does leaves the marker."""
    marker = tmp_path / "executed.txt"
    # CPU-tagged storages: torch's own storage loader (used by plain pickle) refuses CUDA ones without a GPU.
    path = _planted_network(tmp_path, marker, storage_module="torch", location="cpu")
    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = lambda meta: exec(meta["module_src"], {}) or meta
    for name in ("torch_utils", "training", "dnnlib"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", persistence)
    dnnlib_util = types.ModuleType("dnnlib.util")
    dnnlib_util.EasyDict = type("EasyDict", (dict,), {})
    monkeypatch.setitem(sys.modules, "dnnlib.util", dnnlib_util)
    monkeypatch.delattr(builtins, "LEGACY_SOURCE_EXECUTED", raising=False)
    with open(path, "rb") as stream:
        pickle.load(stream)
    assert marker.exists() and builtins.LEGACY_SOURCE_EXECUTED
    monkeypatch.delattr(builtins, "LEGACY_SOURCE_EXECUTED")


@pytest.mark.parametrize("module,name", [("os", "system"), ("builtins", "eval"), ("subprocess", "check_output"),
                                         ("torch", "load"), ("numpy", "load"), ("training.loss", "run_command")])
def test_forbidden_globals_are_refused_by_name(tmp_path, module, name):
    marker = tmp_path / "touched"
    path = tmp_path / "evil.pkl"
    write_pickle(path, {"G_ema": Call(GlobalRef(module, name), (f"touch {marker}",))})
    with pytest.raises(CheckpointError) as caught:
        read_released_pickle(path)
    assert f"refused global {module}.{name}" in str(caught.value) and str(path) in str(caught.value)
    assert not marker.exists()


def test_a_forbidden_global_inside_a_storage_record_is_refused(tmp_path):
    blob = legacy_storage_blob(torch.ones(3), storage_module="os", storage_class="system")
    with pytest.raises(LegacyFormatProblem, match="refused global os.system"):
        load_storage_blob(blob)


def test_a_tensor_reaching_past_its_storage_is_refused():
    blob = legacy_storage_blob(torch.ones(4), "torch.cuda", "cuda:0")
    storage = Call(GlobalRef("torch.storage", "_load_from_bytes"), (blob,))
    tensor = Call(GlobalRef("torch._utils", "_rebuild_tensor_v2"), (storage, 2, (3,), (1,), False, OrderedDict()))
    with pytest.raises(LegacyFormatProblem, match="reaches past its storage"):
        unpickle_released(io.BytesIO(_dumps({"t": tensor})))


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.97])
def test_truncated_files_give_a_clear_error_naming_the_file(tmp_path, keep):
    marker = tmp_path / "executed.txt"
    complete = _planted_network(tmp_path, marker).read_bytes()
    path = tmp_path / "3DPortraitGAN512-128.pkl"
    path.write_bytes(complete[: int(len(complete) * keep)])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as caught:
        read_released_pickle(path)
    assert str(path) in str(caught.value)
    assert not marker.exists()


def test_other_pickles_and_missing_files_are_named(tmp_path):
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(CheckpointError, match="not a 3DPortraitGAN/EG3D network pickle"):
        read_released_pickle(plain)
    with pytest.raises(CheckpointError, match="no such file"):
        read_released_pickle(tmp_path / "absent.pkl")
