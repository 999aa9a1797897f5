"""End-to-end CPU training runs of the tiny preset: outputs, loadable snapshots, exact resume, bad datasets."""
from __future__ import annotations

import json

import pytest
import torch

from core.camera import orbit_camera
from core.checkpoint import load_checkpoint
from core.loading import load_generator
from core.train.__main__ import main
from tests.core.test_train_support import training_command, write_dataset

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("train-data") / "portraits")


def _only_run(outdir):
    runs = sorted(path for path in outdir.iterdir() if path.is_dir())
    assert len(runs) == 1, runs
    return runs[0]


def _stats_lines(run_dir):
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def test_two_tick_run_writes_every_output_and_resume_is_exact(dataset, tmp_path, capsys):
    # A two-tick run, and the same run stopped after one tick and resumed for the second.
    assert main(training_command(dataset, tmp_path / "full", 0.004, "--warp", "none")) == 0
    first = _only_run(tmp_path / "full")

    names = {path.name for path in first.iterdir()}
    assert {"training_options.json", "log.txt", "stats.jsonl", "reals.png", "reals_mask.png",
            "snapshot-000000.pt"} <= names
    for product in ("posed", "canonical", "raw", "depth", "mask"):
        assert f"fakes000000_{product}.png" in names
    assert not [name for name in names if name.endswith(".partial")]
    lines = _stats_lines(first)
    assert [line["Progress/kimg"] for line in lines] == [0.002, 0.004]
    for key in ("Loss/G/loss", "Loss/D/loss", "Loss/D/pose_loss", "Loss/r1_penalty", "Pose/D_real/head_deg",
                "Timing/img_per_s"):
        assert key in lines[0]
    assert lines[1]["Progress/blur_sigma"] < lines[0]["Progress/blur_sigma"]  # the blur fades over the run
    assert "Eval/D_pose_real/neck_deg" in lines[-1] and "Eval/G_pose_data/head_deg" in lines[-1]
    options = json.loads((first / "training_options.json").read_text())
    assert options["training"]["batch"] == 2 and options["preset"] == "tiny"

    generator, metadata = load_generator(first / "snapshot-000000.pt", "cpu")
    assert metadata["kimg"] == pytest.approx(0.004) and metadata["preset"] == "tiny"
    with torch.no_grad():
        image = generator(torch.randn(1, generator.config.z_dim), orbit_camera(0.0, 0.0)).image
    assert image.shape == (1, 3, 64, 64) and torch.isfinite(image).all()

    assert main(training_command(dataset, tmp_path / "half", 0.002, "--warp", "none")) == 0
    half = _only_run(tmp_path / "half")
    # Resuming at or past the snapshot's kimg is one line and leaves no empty run folder behind.
    assert main(training_command(dataset, tmp_path / "short", 0.002, "--warp", "none", "--resume", str(half))) == 1
    assert "already past --kimg 0.002; give a larger --kimg" in capsys.readouterr().err
    assert not (tmp_path / "short").exists() or not list((tmp_path / "short").iterdir())
    assert main(training_command(dataset, tmp_path / "resumed", 0.004, "--warp", "none", "--resume", str(half))) == 0
    resumed = _only_run(tmp_path / "resumed")
    assert [line["Progress/kimg"] for line in _stats_lines(resumed)] == [0.004]
    assert "resuming" in (resumed / "log.txt").read_text()
    # Evaluation of an exported file that keeps D, as the shipped default: figures beside their baselines.
    from core.loading import main as checkpoint_main

    exported = tmp_path / "exported.pt"
    assert checkpoint_main(["export", str(first / "snapshot-000000.pt"), "--out", str(exported),
                            "--with-discriminator"]) == 0
    capsys.readouterr()
    assert main(["eval", str(exported), "--data", str(dataset), "--images", "4"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for name in ("Eval/D_pose_real/head_turn_corr", "Eval/baseline/zero_pose/head_deg", "Eval/D_pose_fake/neck_deg",
                 "Eval/D_pose_fake_shuffled/head_deg", "Eval/baseline/fake_mean_pose/head_deg",
                 "Eval/G_pose_dist/neck_turn_spread_ratio", "Eval/baseline/mean_pose/head_turn_w1_deg",
                 "Eval/canonical/head_yaw_spread_deg", "Eval/baseline/data_head_yaw_spread_deg"):
        assert name in figures and figures[name] == figures[name], name  # present and not NaN
    # A warm start from that file whose whole run is D's warm-up: G comes back exactly as it went in.
    assert main(training_command(dataset, tmp_path / "warm", 0.002, "--warp", "none", "--init", str(exported),
                                 "--d-warmup-kimg", "0.002")) == 0
    warm = load_checkpoint(_only_run(tmp_path / "warm") / "snapshot-000000.pt")
    source = load_checkpoint(exported)
    assert all(torch.equal(tensor, warm["G"][name]) for name, tensor in source["G_ema"].items()
               if not name.endswith("w_avg"))
    assert "initialised from" in (_only_run(tmp_path / "warm") / "log.txt").read_text()
    assert main(training_command(dataset, tmp_path / "both", 0.002, "--init", str(exported),
                                 "--resume", str(half))) == 1
    assert "give one of them" in capsys.readouterr().err

    full = load_checkpoint(first / "snapshot-000000.pt")
    continued = load_checkpoint(resumed / "snapshot-000000.pt")
    assert continued["metadata"]["progress"]["cur_nimg"] == full["metadata"]["progress"]["cur_nimg"] == 4
    # Same kimg, schedules, optimiser moments, data order and random draws: the same networks, bit for bit.
    for key in ("G", "D", "G_ema", "D_ema"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, continued[key][name]), f"{key}.{name} differs after resume"
    for network in ("G", "D"):
        full_state, continued_state = full["optimizers"][network]["state"], continued["optimizers"][network]["state"]
        assert full_state.keys() == continued_state.keys()
        for index in full_state:
            assert torch.equal(full_state[index]["exp_avg_sq"], continued_state[index]["exp_avg_sq"])
            assert int(full_state[index]["step"]) == int(continued_state[index]["step"])
        # Two iterations: G stepped twice, D twice plus one lazy R1 step (iteration 0).
        steps = {int(state["step"]) for state in continued_state.values()}
        assert steps == {2 if network == "G" else 3}


def test_bad_labels_stop_before_the_first_step(tmp_path, capsys):
    data = write_dataset(tmp_path / "broken", count=4)
    labels_file = data / "images" / "dataset.json"
    document = json.loads(labels_file.read_text())
    document["labels"][1][1] = document["labels"][1][1][:30]  # one number short
    labels_file.write_text(json.dumps(document))
    assert main(training_command(data, tmp_path / "runs", 0.004, "--warp", "none")) == 1
    error = capsys.readouterr().err
    assert "dataset.json" in error and "0000000001.png" in error and "python -m core.data check" in error
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_resolution_mismatch_names_the_fix(tmp_path, capsys):
    data = write_dataset(tmp_path / "small-images", count=4, resolution=32)
    assert main(training_command(data, tmp_path / "runs", 0.004, "--warp", "none")) == 1
    assert "32 px" in capsys.readouterr().err
