"""The phases of one training step on the tiny preset: which networks each phase moves, swaps, the body warp."""
from __future__ import annotations

import copy

import torch

from core.camera import orbit_camera
from core.config import preset
from core.generator import TriGridGenerator
from core.networks.discriminator import DiscriminatorConfig, PoseAwareDiscriminator
from core.train.config import TrainingConfig
from core.train.distributed import DistributedContext
from core.train.phases import FakeConditions, RealBatch, TrainingStep, roll_where
from core.train.schedules import ScheduleValues

CONTEXT = DistributedContext(rank=0, world_size=1, device=torch.device("cpu"))
SCHEDULE = ScheduleValues(swap_prob=0.5, pose_prior_weight=0.5, blur_sigma=1.0, density_noise=0.5,
                          neural_resolution=8, ema_beta=0.9)


def _step(train_pose_branch: bool = True, warp_factory=None) -> TrainingStep:
    G = TriGridGenerator(preset("tiny"))
    D = PoseAwareDiscriminator(DiscriminatorConfig.for_generator(G.config, mbstd_group=2))
    config = TrainingConfig(batch=2, train_g_pose_branch=train_pose_branch)
    G_opt = torch.optim.Adam([p for n, p in G.named_parameters()
                              if train_pose_branch or not n.startswith("pose_branch.")], lr=0.01, betas=(0.0, 0.99))
    D_opt = torch.optim.Adam(D.parameters(), lr=0.01, betas=(0.0, 0.99))
    cameras = orbit_camera(torch.tensor([-30.0, 40.0, 170.0]), torch.zeros(3))
    poses = torch.tensor([[0.1, 0.2, 0.0, 0.0, 0.3, 0.1]]).repeat(3, 1)
    return TrainingStep(G, D, copy.deepcopy(G), copy.deepcopy(D), G_opt, D_opt, config, CONTEXT, (cameras, poses),
                        warp_factory)


def _real() -> RealBatch:
    return RealBatch(image=torch.rand(2, 3, 64, 64) * 2 - 1, mask=torch.rand(2, 1, 64, 64),
                     camera=orbit_camera(torch.tensor([-30.0, 40.0]), torch.zeros(2)), pose=torch.zeros(2, 6))


def _snapshot(module):
    return {name: tensor.clone() for name, tensor in module.state_dict().items()}


def _changed(before, module, prefix=""):
    return {name for name, tensor in module.state_dict().items()
            if name.startswith(prefix) and not torch.equal(before[name], tensor)}


def test_roll_where_takes_the_previous_sample():
    values = torch.tensor([[0.0], [1.0], [2.0]])
    rolled = roll_where(torch.tensor([True, False, True]), values)
    assert rolled.flatten().tolist() == [2.0, 1.0, 1.0]


def test_generator_phase_moves_only_g_and_discriminator_phase_only_d():
    step = _step()
    g_before, d_before = _snapshot(step.G), _snapshot(step.D)
    stats = step.generator_phase(SCHEDULE)
    assert _changed(g_before, step.G, "pose_branch.") and _changed(g_before, step.G, "backbone.")
    assert not _changed(d_before, step.D)
    assert stats["Loss/G/pose_prior"] > 0
    g_before = _snapshot(step.G)
    stats = step.discriminator_phase(_real(), SCHEDULE)
    assert _changed(d_before, step.D, "pose_branch.") and _changed(d_before, step.D, "b64.")
    # Only the tracked average of w moves in G (update_emas in the D phase's fake pass).
    assert _changed(g_before, step.G) == {"backbone.mapping.w_avg"}


def test_frozen_pose_branch_stays_put():
    step = _step(train_pose_branch=False)
    before = _snapshot(step.G)
    step.generator_phase(SCHEDULE)
    assert not _changed(before, step.G, "pose_branch.")
    assert _changed(before, step.G, "backbone.synthesis.")


def test_a_d_warmup_iteration_trains_d_and_leaves_g_alone():
    step = _step()
    g_before, d_before = _snapshot(step.G), _snapshot(step.D)
    stats = step.run(_real(), SCHEDULE, batch_index=1, train_generator=False)
    assert _changed(d_before, step.D, "b64.")
    assert _changed(g_before, step.G) <= {"backbone.mapping.w_avg"}  # only the tracked average of w moves
    assert "Loss/G/loss" not in stats and "Loss/D/loss" in stats


def test_moving_averages_lerp_towards_the_trained_networks():
    step = _step()
    with torch.no_grad():
        for parameter in step.G.parameters():
            parameter.add_(1.0)
    before = next(step.G_ema.parameters()).clone()
    step.update_moving_averages(beta=0.75)
    torch.testing.assert_close(next(step.G_ema.parameters()), before + 0.25)


def test_body_warp_changes_the_posed_render_and_receives_the_generated_pose():
    from core.body import load_body_model
    from core.body.warp import make_warp

    body = load_body_model(None)
    seen_poses = []

    def factory(pose):
        seen_poses.append(pose.detach().clone())
        return make_warp(body, pose, mode="exact")

    conditions = FakeConditions(z=torch.randn(2, 64), camera=orbit_camera(torch.tensor([20.0, -20.0]), torch.zeros(2)),
                                data_pose=torch.zeros(2, 6))
    pose = torch.tensor([[0.0, 0.0, 0.0, 0.4, 0.6, 0.0]]).repeat(2, 1)
    results = []
    for warp_factory in (None, factory):
        step = _step(warp_factory=warp_factory)
        torch.manual_seed(1)
        with torch.no_grad():
            results.append(step.render_fakes(conditions, pose, SCHEDULE, update_emas=False))
    assert torch.equal(seen_poses[0], pose)
    assert results[0].image_raw.shape == (2, 3, 8, 8)
    assert (results[0].image_raw - results[1].image_raw).abs().max() > 1e-4


def test_shuffled_poses_take_another_samples_pose_and_only_those_train_the_pose_head():
    step = _step()
    pose = torch.arange(24.0).reshape(4, 6)
    step.config = TrainingConfig(batch=4, d_pose_shuffle=0.5)
    torch.manual_seed(0)
    render_pose, weights = step.shuffled_poses(pose)
    chosen = weights.bool()
    assert int(chosen.sum()) == 2  # exactly the share, so no batch trains the head on nothing
    assert torch.equal(render_pose[chosen], pose.roll(1, dims=0)[chosen])
    assert torch.equal(render_pose[~chosen], pose[~chosen])
    step.config = TrainingConfig(batch=4, d_pose_shuffle=0.0)  # the reference: own poses, every fake trains it
    render_pose, weights = step.shuffled_poses(pose)
    assert render_pose is pose and weights is None


def test_discriminator_phase_renders_and_supervises_with_the_shuffled_pose():
    seen_poses = []

    def factory(pose):
        seen_poses.append(pose.detach().clone())
        return None

    step = _step(warp_factory=factory)
    step.config = TrainingConfig(batch=2, d_pose_shuffle=1.0)
    own_poses = []
    generated_pose = step.generated_pose
    step.generated_pose = lambda *args, **kwargs: own_poses.append(generated_pose(*args, **kwargs)) or own_poses[-1]
    stats = step.discriminator_phase(_real(), SCHEDULE)
    assert torch.equal(seen_poses[-1], own_poses[-1].roll(1, dims=0))  # each fake wears the other fake's pose
    assert torch.isfinite(stats["Pose/D_fake/neck_deg"])
