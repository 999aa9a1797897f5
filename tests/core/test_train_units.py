"""Schedules, optimiser corrections, blur, statistics, sampler, run folders and snapshot lookup of core.train."""
from __future__ import annotations

import json
import math

import pytest
import torch

from core.checkpoint import CheckpointError, generator_payload, save_checkpoint
from core.train.config import TrainingConfig
from core.train.distributed import DistributedContext, InfiniteSampler, average_gradients
from core.train.losses import blur
from core.train.schedules import (blur_kernel, blur_sigma, density_noise, ema_beta, neural_resolution,
                                  pose_prior_weight, swap_probability)
from core.train.snapshots import latest_snapshot, load_training_snapshot, snapshot_name
from core.train.stats import StatsCollector, append_stats_line, create_run_dir

SINGLE = DistributedContext(rank=0, world_size=1, device=torch.device("cpu"))


def test_lazy_regularisation_correction_of_d_optimiser():
    config = TrainingConfig()
    assert config.d_lr_effective == pytest.approx(0.0018824, abs=1e-7)
    assert config.d_betas_effective[0] == 0.0
    assert config.d_betas_effective[1] == pytest.approx(0.990585, abs=1e-6)


def test_reference_schedules_at_known_points():
    config = TrainingConfig()
    assert swap_probability(0, config) == 1.0
    assert swap_probability(500_000, config) == pytest.approx(0.85)
    assert swap_probability(5_000_000, config) == pytest.approx(0.7)
    assert pose_prior_weight(199_999, config) == 0.5
    assert pose_prior_weight(300_000, config) == pytest.approx(0.25)
    assert pose_prior_weight(400_000, config) == 0.0
    # Without the warp the prior is the branch's only teacher: it keeps its weight.
    assert pose_prior_weight(400_000, TrainingConfig(warp_mode="none")) == 0.5
    assert blur_sigma(0, config) == 10.0 and blur_sigma(100_000, config) == pytest.approx(5.0)
    assert blur_sigma(300_000, config) == 0.0
    assert density_noise(50_000, config) == pytest.approx(0.75)
    stage3 = TrainingConfig(neural_resolution_final=128)
    # The R fade counts from the start of the resumed run, not from image 0.
    assert neural_resolution(10_500_000, 10_000_000, 64, stage3) == 96
    assert neural_resolution(10_000_000, 10_000_000, 64, stage3) == 64
    assert neural_resolution(99_000_000, 10_000_000, 64, stage3) == 128


def test_ema_half_life_and_rampup():
    config = TrainingConfig(batch=32)
    # Half-life 10 kimg: after 10k images (312.5 steps of 32) the weight of the old average is one half.
    assert ema_beta(10**7, 32, config) ** (10_000 / 32) == pytest.approx(0.5)
    # Early on the half-life is 5 % of the images seen so far.
    assert ema_beta(1000, 32, config) == pytest.approx(0.5 ** (32 / 50))


def test_short_runs_scale_their_fades():
    config = TrainingConfig.for_run(60.0, batch=8)
    assert config.blur_fade_kimg == pytest.approx(2.0)
    assert config.pose_prior_kimg == pytest.approx(2.0)
    assert config.gpc_reg_fade_kimg == pytest.approx(10.0)
    assert TrainingConfig.for_run(6000.0).blur_fade_kimg == 200.0
    # Toy runs: fades last at least 50 iterations (0.2 kimg at batch 4), so the pose prior has time to act.
    assert TrainingConfig.for_run(0.4, batch=4).pose_prior_kimg == pytest.approx(0.2)
    assert TrainingConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_resume_keeps_the_saved_schedules_but_takes_new_stage_options():
    saved = TrainingConfig.for_run(10.0, batch=4)
    resumed = TrainingConfig.for_run(40.0, batch=4, train_g_pose_branch=False).continued_from(saved)
    assert resumed.blur_fade_kimg == saved.blur_fade_kimg and resumed.total_kimg == 40.0
    assert resumed.train_g_pose_branch is False


def test_blur_taps_and_blur_of_an_impulse():
    taps = blur_kernel(2.0)
    assert len(taps) == 13 and sum(taps) == pytest.approx(1.0)
    assert taps[6 + 2] / taps[6] == pytest.approx(0.5)  # 2^(-(x/sigma)^2) at x = sigma
    image = torch.zeros(1, 1, 31, 31)
    image[0, 0, 15, 15] = 1.0
    blurred = blur(image, 2.0)
    assert blurred.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert blurred[0, 0, 15, 17].item() / blurred[0, 0, 15, 15].item() == pytest.approx(0.5, rel=1e-4)
    assert torch.equal(blur(image, 0.0), image)


def test_gradient_average_cleans_nan_and_inf():
    parameter = torch.nn.Parameter(torch.zeros(3))
    parameter.grad = torch.tensor([float("nan"), float("inf"), -2.0])
    unused = torch.nn.Parameter(torch.zeros(2))
    average_gradients([parameter, unused], SINGLE)
    assert parameter.grad.tolist() == [0.0, 1e5, -2.0]
    assert unused.grad.tolist() == [0.0, 0.0]


def test_sampler_ranks_partition_each_epoch_and_resume_continues():
    ranks = [InfiniteSampler(10, rank, 2, seed=3) for rank in range(2)]
    first_epoch = ranks[0].take(5) + ranks[1].take(5)
    assert sorted(first_epoch) == list(range(10))
    whole = InfiniteSampler(10, 0, 1, seed=3)
    expected = whole.take(7)
    resumed = InfiniteSampler(10, 0, 1, seed=3, position=4)
    assert resumed.take(3) == expected[4:]


def test_stats_collector_mean_and_std(tmp_path):
    collector = StatsCollector()
    for value in (1.0, 3.0):
        collector.add({"Loss/x": torch.tensor(value), "skipped": float("nan")})
    stats = collector.reduce(SINGLE)
    assert stats == {"Loss/x": {"num": 2, "mean": 2.0, "std": 1.0}}
    append_stats_line(tmp_path / "stats.jsonl", stats)
    line = json.loads((tmp_path / "stats.jsonl").read_text().splitlines()[0])
    assert line["Loss/x"]["mean"] == 2.0 and "timestamp" in line


def test_run_folders_are_numbered(tmp_path):
    first = create_run_dir(tmp_path, "tiny", "my data")
    second = create_run_dir(tmp_path, "tiny", "my data")
    assert first.name == "00000-tiny-my_data" and second.name == "00001-tiny-my_data"


def test_snapshot_lookup_and_refusal_of_generator_checkpoints(tmp_path):
    assert snapshot_name(12_345) == "snapshot-000012.pt"
    with pytest.raises(CheckpointError, match="no snapshot"):
        latest_snapshot(tmp_path)
    for kimg in (2, 10):
        (tmp_path / f"snapshot-{kimg:06d}.pt").write_bytes(b"")
    assert latest_snapshot(tmp_path).name == "snapshot-000010.pt"
    from core.config import preset
    from core.generator import TriGridGenerator

    generator_file = save_checkpoint(tmp_path / "g.pt", generator_payload(TriGridGenerator(preset("tiny"))))
    with pytest.raises(CheckpointError, match="generator-only"):
        load_training_snapshot(generator_file)


def test_chamfer_between_concentric_spheres_is_the_radius_gap():
    import numpy as np
    import trimesh

    from core.train.geometry import chamfer, crop_faces, sample_surface

    sphere = trimesh.creation.icosphere(subdivisions=4)
    rng = np.random.default_rng(0)
    inner = sample_surface(sphere.vertices * 0.20, sphere.faces, 4000, rng)
    outer = sample_surface(sphere.vertices * 0.25, sphere.faces, 4000, rng)
    assert np.linalg.norm(inner, axis=1) == pytest.approx(0.20, abs=2e-3)
    figures = chamfer(inner, outer)
    assert figures["chamfer"] == pytest.approx(0.05, abs=3e-3)
    assert figures["accuracy"] == pytest.approx(0.05, abs=3e-3)
    upper = crop_faces(sphere.vertices, sphere.faces, ((-1, 0, -1), (1, 1, 1)))
    assert 0 < len(upper) < len(sphere.faces) and (sphere.vertices[upper][..., 1] >= 0).all()


def test_ema_half_life_follows_the_batch_and_is_capped_for_short_runs():
    assert TrainingConfig.for_run(6000.0, batch=32).ema_kimg == 10.0
    assert TrainingConfig.for_run(60.0, batch=8).ema_kimg == 2.5
    assert TrainingConfig.for_run(10.0, batch=32).ema_kimg == pytest.approx(0.5)


def test_r1_penalty_of_a_linear_critic_is_its_weight_norm():
    from core.train.losses import DiscriminatorInput, r1_loss

    class LinearCritic:
        """logit = <a, image> + <b, raw> + <c, mask>: the input gradients are a, b and c."""

        def __call__(self, image, raw, mask, camera):
            from core.networks.discriminator import DiscriminatorOutput

            logits = (image * 0.5).sum(dim=[1, 2, 3]) + (raw * 2.0).sum(dim=[1, 2, 3]) + (mask * 3.0).sum(dim=[1, 2, 3])
            return DiscriminatorOutput(logits=logits[:, None], pose=torch.zeros(len(image), 6))

    real = DiscriminatorInput(torch.rand(2, 3, 8, 8), torch.rand(2, 3, 4, 4), torch.rand(2, 1, 4, 4),
                              torch.zeros(2, 25))
    loss, stats = r1_loss(LinearCritic(), real, gamma=2.0, gamma_seg=4.0, interval=16, blur_sigma=0.0)
    image_and_raw = 0.25 * 3 * 64 + 4.0 * 3 * 16  # |a|^2 + |b|^2
    mask = 9.0 * 16  # |c|^2
    assert stats["Loss/r1_penalty"].item() == pytest.approx(image_and_raw)
    assert loss.item() == pytest.approx(16 * (2.0 / 2 * image_and_raw + 4.0 / 2 * mask))


def test_gan_and_pose_losses_of_a_known_critic():
    import torch.nn.functional as F

    from core.networks.discriminator import DiscriminatorOutput
    from core.train.losses import DiscriminatorInput, discriminator_loss, generator_loss

    class MeanCritic:
        """logit = mean of the image; pose = 0.1 everywhere."""

        def __call__(self, image, raw, mask, camera):
            return DiscriminatorOutput(logits=image.mean(dim=[1, 2, 3])[:, None], pose=torch.full((len(image), 6), 0.1))

    def inputs(value):
        return DiscriminatorInput(torch.full((2, 3, 8, 8), value), torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 4),
                                  torch.zeros(2, 25))

    generated_pose = torch.zeros(2, 6)
    data_pose = torch.full((2, 6), 0.5)
    loss, _ = generator_loss(MeanCritic(), inputs(-1.0), generated_pose, data_pose, prior_weight=0.5, blur_sigma=0.0)
    assert loss.item() == pytest.approx(F.softplus(torch.tensor(1.0)).item() + 0.5 * 6 * 0.25)
    loss, stats = discriminator_loss(MeanCritic(), inputs(-1.0), inputs(2.0), generated_pose, data_pose,
                                     pose_loss_weight=2.0, blur_sigma=0.0)
    expected = F.softplus(torch.tensor(-1.0)) + 2.0 * 6 * 0.01 + F.softplus(torch.tensor(-2.0))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    # D's pose on reals is only logged: 0.1 against 0.5 is 0.4 rad on every axis.
    assert stats["Pose/D_real/neck_deg"].item() == pytest.approx(math.degrees(0.4), rel=1e-5)
    # Pose weights pick the fakes whose pose trains the head; the term is their mean (sample 1 is 0.4 off).
    shuffled_targets = torch.tensor([[0.1] * 6, [0.5] * 6])
    loss, stats = discriminator_loss(MeanCritic(), inputs(-1.0), inputs(2.0), shuffled_targets, data_pose,
                                     pose_loss_weight=2.0, blur_sigma=0.0, pose_weights=torch.tensor([0.0, 1.0]))
    expected = F.softplus(torch.tensor(-1.0)) + 2.0 * 6 * 0.16 + F.softplus(torch.tensor(-2.0))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert stats["Pose/D_fake/neck_deg"].item() == pytest.approx(math.degrees(0.4), rel=1e-5)


def test_command_line_loss_weights_reach_the_training_config():
    from core.train.__main__ import _train_parser, _training_config

    args = _train_parser().parse_args(["--data", "d", "--kimg", "10", "--outdir", "o", "--warp", "none",
                                       "--gamma", "0.2", "--pose-loss-weight", "0"])
    config = _training_config(args, batch=4)
    assert (config.r1_gamma, config.r1_gamma_seg, config.pose_loss_weight) == (0.2, 1.0, 0.0)
    default = _training_config(_train_parser().parse_args(["--data", "d", "--kimg", "10", "--outdir", "o"]), 4)
    assert default.pose_loss_weight == 1.0 and default.warp_mode == "fast"
    for option in ("--gamma", "--gamma-seg", "--pose-loss-weight"):
        with pytest.raises(SystemExit):
            _train_parser().parse_args(["--data", "d", "--kimg", "10", "--outdir", "o", option, "-1"])


@pytest.mark.parametrize("option, value", [("--kimg", "nan"), ("--kimg", "0"), ("--kimg", "inf"), ("--snap-ticks", "0"),
                                           ("--image-snap-ticks", "-1"), ("--tick-kimg", "0"), ("--batch", "0"),
                                           ("--eval-images", "0")])
def test_out_of_range_training_options_stop_the_parser_naming_the_option(option, value, capsys):
    from core.train.__main__ import _train_parser

    arguments = [item for pair in {"--kimg": "10", option: value}.items() for item in pair]
    with pytest.raises(SystemExit) as stop:
        _train_parser().parse_args(["--data", "d", "--outdir", "o", *arguments])
    assert stop.value.code == 2 and option in capsys.readouterr().err


def test_cuda_without_a_cuda_device_is_one_line(capsys, monkeypatch):
    import torch

    from core.train.__main__ import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--data", "d", "--kimg", "1", "--outdir", "o", "--device", "cuda"]) == 1
    assert capsys.readouterr().err.strip() == ("error: --device cuda: no CUDA device is available here; "
                                               "use --device cpu (or auto)")
