"""Released-style pickles into our TriGridGenerator: every tensor arrives unchanged, the model renders,
the file's SMPL arrays become its body model, and `python -m core.checkpoint import` writes our format."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.body import BodyModel, load_body_model
from core.camera import orbit_camera
from core.checkpoint import CheckpointError
from core.loading import load_generator, main as checkpoint_main
from core.config import preset
from core.generator import TriGridGenerator
from core.legacy import config_from_released, load_released_generator
from core.legacy.companion import companion_json_path, read_companion_json
from core.legacy.convert import ReleasedCheckpoint
from core.legacy.records import persistent_record
from tests.core.legacy_fixtures import (
    EASY_DICT, NewObject, generator_pickle, persistent_module, planted_source, renderer_state,
    synthetic_smpl_buffers, tiny_init_kwargs, write_pickle, module_state,
)

ROOT = Path(__file__).resolve().parents[2]
FILE_NEURAL_RESOLUTION = 16  # differs from tiny's default 32, so the file's value must win


def _trained_tiny_generator() -> TriGridGenerator:
    """A tiny generator whose every float tensor differs from a fresh initialisation."""
    torch.manual_seed(7)
    generator = TriGridGenerator(preset("tiny")).eval()
    with torch.no_grad():
        for tensor in generator.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(0.05 * torch.randn_like(tensor) + 0.01)
    return generator


def _write_released(path, generator: TriGridGenerator, marker, state=None, json_resolution=None):
    state = dict(generator.state_dict() if state is None else state)
    state["dataset_label_std"] = torch.rand(25)
    smpl = synthetic_smpl_buffers()
    g_ema = generator_pickle(
        state, {name for name, _ in generator.named_parameters()}, planted_source(marker),
        tiny_init_kwargs(generator.config), extra_modules=renderer_state(smpl),
        neural_rendering_resolution=FILE_NEURAL_RESOLUTION, avg_c=torch.zeros(1, 25),
        rendering_kwargs=tiny_init_kwargs(generator.config)["rendering_kwargs"],
    )
    discriminator = persistent_module("PoseShapeAwareDualDiscriminator", planted_source(marker),
                                      module_state({"b4.fc": torch.nn.Parameter(torch.randn(4, 4))}, {}, {}))
    dataset = NewObject(EASY_DICT, items=(("class_name", "training.dataset.MaskLabeledDataset"),
                                          ("path", "/data/360PHQ-512.zip"), ("resolution", 64)))
    write_pickle(path, {"training_set_kwargs": dataset, "G": g_ema, "D": discriminator, "G_ema": g_ema,
                        "D_ema": discriminator, "augment_pipe": None})
    path.with_suffix(".json").write_text(json.dumps({
        "blur_sigma": 0, "neural_rendering_resolution": json_resolution or FILE_NEURAL_RESOLUTION,
        "resample_filter": (np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64).tolist(), "filter_mode": "antialiased"}))
    return smpl


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    folder = tmp_path_factory.mktemp("released")
    generator = _trained_tiny_generator()
    path = folder / "3DPortraitGAN64-16.pkl"
    smpl = _write_released(path, generator, folder / "executed.txt")
    return path, generator, smpl, folder / "executed.txt"


def _render(generator: TriGridGenerator, sampler: str | None = None) -> torch.Tensor:
    torch.manual_seed(3)
    z = torch.randn(1, generator.config.z_dim)
    rendering = dataclasses.replace(generator.config.rendering, deterministic=True)
    if sampler is not None:
        rendering = dataclasses.replace(rendering, importance_sampler=sampler)
    return generator(z, orbit_camera(30.0, 10.0), rendering=rendering, neural_resolution=FILE_NEURAL_RESOLUTION)


def test_every_tensor_of_the_file_arrives_unchanged_and_the_generator_renders(released):
    path, source, _, marker = released
    generator, metadata = load_released_generator(path)
    assert metadata["preset"] == "tiny" and generator.config.neural_resolution == FILE_NEURAL_RESOLUTION
    fresh = TriGridGenerator(preset("tiny")).state_dict()
    ours = generator.state_dict()
    assert set(ours) == set(source.state_dict())
    for name, tensor in source.state_dict().items():
        assert torch.equal(ours[name], tensor), name
        if tensor.is_floating_point():
            assert not torch.equal(ours[name], fresh[name]), f"{name} was not copied"
    # A released model renders with the authors' sampler and mirror test, which it was trained with.
    assert generator.config.rendering.importance_sampler == "reference"
    assert generator.config.pose_mirror_test == "reference"
    output, expected = _render(generator), _render(source, "reference")
    assert output.image.shape == (1, 3, 64, 64) and output.image_raw.shape[-1] == FILE_NEURAL_RESOLUTION
    assert torch.isfinite(output.image).all() and output.image.std() > 0
    assert torch.allclose(output.image, expected.image, atol=1e-5)
    assert not marker.exists()


def test_the_report_names_where_each_file_tensor_went(released):
    path, _, smpl, _ = released
    _, metadata = load_released_generator(path)
    report = metadata["import_report"]
    renderer_tensors = sum(len(parameters) + len(buffers) for parameters, buffers, _ in renderer_state(smpl).values())
    assert report["unexpected"] == ["dataset_label_std"] and report["missing"] == [] and report["mis_shaped"] == []
    assert report["body"] == renderer_tensors == 18
    assert report["copied"] == len(TriGridGenerator(preset("tiny")).state_dict())
    assert metadata["dataset"] == "360PHQ-512.zip" and metadata["pose_prediction"]["neural_rendering_resolution"] == 16


def test_the_files_smpl_arrays_become_its_body_model(released):
    path, _, smpl, _ = released
    _, metadata = load_released_generator(path)
    body = metadata["body"]
    assert isinstance(body, BodyModel) and not body.is_standin
    # smplx re-derives its own layout from the SMPL-format arrays: it must give back the file's buffers.
    assert torch.equal(body.v_template, smpl["v_template"]) and torch.equal(body.posedirs, smpl["posedirs"])
    assert torch.equal(body.J_regressor, smpl["J_regressor"]) and torch.equal(body.parents, smpl["parents"])
    assert torch.equal(body.faces, smpl["faces_tensor"]) and torch.equal(body.skinning_weights, smpl["lbs_weights"])
    assert torch.equal(body.shapedirs, smpl["shapedirs"])


def test_a_mis_shaped_or_missing_tensor_is_named(tmp_path):
    generator = _trained_tiny_generator()
    state = generator.state_dict()
    state["decoder.net.2.weight"] = torch.zeros(5, 5)
    bad = tmp_path / "bad.pkl"
    _write_released(bad, generator, tmp_path / "m", state=state)
    with pytest.raises(CheckpointError, match=r"decoder.net.2.weight \(5, 5\) != \(17, 32\)") as caught:
        load_released_generator(bad)
    assert str(bad) in str(caught.value)
    state = dict(generator.state_dict())
    del state["torgb.affine.weight"]
    _write_released(bad, generator, tmp_path / "m", state=state)
    with pytest.raises(CheckpointError, match="torgb.affine.weight"):
        load_released_generator(bad)


def _released_with(init_kwargs: dict, resolution=None) -> ReleasedCheckpoint:
    state = module_state({}, {}, {}, _init_kwargs=init_kwargs)
    if resolution:
        state["neural_rendering_resolution"] = resolution
    record = persistent_record({"type": "class", "class_name": "TriPlaneGenerator", "module_src": "", "state": state})
    return ReleasedCheckpoint(path=Path("x.pkl"), generator=record, training_set_kwargs={},
                              pose_prediction=None, entries=["G_ema"])


def test_presets_follow_the_files_init_kwargs():
    kwargs = tiny_init_kwargs(preset("paper-512"))
    kwargs["rendering_kwargs"]["depth_resolution"] = 64
    config, name = config_from_released(_released_with(kwargs, resolution=128))
    assert name == "paper-512" and config.neural_resolution == 128 and config.rendering.depth_resolution == 64
    assert config.sr_channels == (256, 128) and config.sr_fp16
    config, name = config_from_released(_released_with(tiny_init_kwargs(preset("paper-256"))))
    assert name == "paper-256" and config.sr_channels == (128, 64) and config.neural_resolution == 64
    with pytest.raises(CheckpointError, match="no preset fits .*img_resolution=1024"):
        config_from_released(_released_with({"img_resolution": 1024, "z_dim": 512, "w_dim": 512}))


def test_our_paper_512_generator_has_the_released_names_and_shapes():
    """Names and shapes that reference-spec.md §8 lists for the released 512 file."""
    with torch.device("meta"):
        state = TriGridGenerator(preset("paper-512")).state_dict()
    expected = {
        "backbone.mapping.embed.weight": (512, 31), "backbone.mapping.fc0.weight": (512, 1024),
        "backbone.mapping.w_avg": (512,), "backbone.synthesis.b4.const": (512, 4, 4),
        "backbone.synthesis.b256.torgb.weight": (288, 128, 1, 1),
        "backbone.synthesis.b128.conv1.weight": (256, 256, 3, 3),
        "backbone.synthesis.b64.conv0.affine.weight": (512, 512),
        "backbone.synthesis.b256.conv1.noise_const": (256, 256),
        "superresolution.block0.conv0.weight": (256, 32, 3, 3), "superresolution.block1.torgb.weight": (3, 128, 1, 1),
        "decoder.net.0.weight": (64, 32), "decoder.net.2.weight": (33, 64), "torgb.weight": (3, 32, 1, 1),
        "torgb.affine.weight": (32, 512), "bcg_synthesis.b128.torgb.weight": (32, 128, 1, 1),
        "pose_branch.net.0.weight": (128, 537), "pose_branch.net.2.weight": (6, 32),
    }
    for name, shape in expected.items():
        assert name in state and tuple(state[name].shape) == shape, name


def test_companion_json_is_read_and_checked(released, tmp_path):
    path, *_ = released
    settings = read_companion_json(path.with_suffix(".json"))
    assert settings.neural_rendering_resolution == 16 and settings.resample_filter[1][1] == pytest.approx(9 / 64)
    broken = tmp_path / "broken.json"
    broken.write_text("{\"blur_sigma\": 0,")
    with pytest.raises(CheckpointError, match="cannot be read") as caught:
        read_companion_json(broken)
    assert str(broken) in str(caught.value)
    broken.write_text(json.dumps({"blur_sigma": -1, "neural_rendering_resolution": 64}))
    with pytest.raises(CheckpointError, match="blur_sigma must be a non-negative number"):
        read_companion_json(broken)
    snapshot = tmp_path / "network-snapshot-000400.pkl"
    assert companion_json_path(snapshot) is None
    (tmp_path / "pose_predict_kwargs-000400.json").write_text("{}")
    assert companion_json_path(snapshot) == tmp_path / "pose_predict_kwargs-000400.json"


def test_import_command_writes_our_format_and_the_body(released, tmp_path, capsys):
    path, source, smpl, marker = released
    out = tmp_path / "converted" / "portrait.pt"
    assert checkpoint_main(["import", str(path), "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    generator, metadata = load_generator(out)
    for name, tensor in source.state_dict().items():
        assert torch.equal(generator.state_dict()[name], tensor), name
    assert metadata["preset"] == "tiny" and metadata["source"] == str(path)
    body = load_body_model(metadata["body_model_path"])
    assert torch.equal(body.v_template, smpl["v_template"]) and torch.equal(body.posedirs, smpl["posedirs"])
    assert not marker.exists() and not list(out.parent.glob("*.partial"))


def test_load_generator_opens_a_released_pickle_directly(released):
    path, source, *_ = released
    generator, metadata = load_generator(path)
    assert metadata["preset"] == "tiny" and isinstance(metadata["body"], BodyModel)
    name = "backbone.mapping.fc1.weight"
    assert torch.equal(generator.state_dict()[name], source.state_dict()[name])


def test_import_command_reports_a_damaged_file_in_one_line(released, tmp_path):
    path, *_ = released
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(path.read_bytes()[:5000])
    out = tmp_path / "cut.pt"
    result = subprocess.run([sys.executable, "-m", "core.checkpoint", "import", str(cut), "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"error: {cut}: the file is truncated or corrupt" in result.stderr
    assert not out.exists()


def test_the_render_worker_opens_a_released_pickle(released):
    from renderer.engine import Renderer
    from renderer.requests import RenderRequest

    path, *_ = released
    result = Renderer("cpu").render(RenderRequest(checkpoint=str(path), yaw_deg=20.0))
    assert result.error is None and result.image.shape == (64, 64, 3) and result.image.std() > 0
    assert result.model_info["preset"] == "tiny" and result.model_info["neural_resolution"] == FILE_NEURAL_RESOLUTION
