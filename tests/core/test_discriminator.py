"""The pose-aware dual discriminator: sizes, names, mirror equivariance of the pose head, one-trunk fast path."""
from __future__ import annotations

import torch

from core.camera import mirror_camera, mirror_pose, orbit_camera
from core.config import preset
from core.networks.discriminator import (DiscriminatorConfig, PoseAwareDiscriminator, minibatch_std,
                                         parameter_count)


def _tiny_discriminator(mbstd_group: int = 4) -> PoseAwareDiscriminator:
    return PoseAwareDiscriminator(DiscriminatorConfig.for_generator(preset("tiny"), mbstd_group=mbstd_group))


def test_paper_512_size_and_reference_names():
    discriminator = PoseAwareDiscriminator(DiscriminatorConfig.for_generator(preset("paper-512")))
    assert abs(parameter_count(discriminator) / 1e6 - 49.3) < 0.1
    shapes = {name: tuple(tensor.shape) for name, tensor in discriminator.state_dict().items()}
    assert shapes["b512.fromrgb.weight"] == (64, 7, 1, 1)
    assert shapes["b4.conv.weight"] == (512, 513, 3, 3)
    assert shapes["b4.fc.weight"] == (512, 8192)
    assert shapes["b4.out.weight"] == (512, 512)
    assert shapes["mapping.embed.weight"] == (512, 31)
    assert shapes["mapping.fc7.weight"] == (512, 512)
    assert shapes["pose_branch.net.0.weight"] == (2048, 8217)
    assert shapes["pose_branch.net.4.weight"] == (6, 32)
    assert "b8.skip.weight" in shapes and "b8.skip.bias" not in shapes
    assert "resample_filter" in shapes


def test_output_shapes_and_input_checks():
    discriminator = _tiny_discriminator()
    camera = orbit_camera(torch.tensor([-30.0, 20.0]), torch.zeros(2))
    out = discriminator(torch.randn(2, 3, 64, 64), torch.randn(2, 3, 32, 32), torch.rand(2, 1, 32, 32), camera)
    assert out.logits.shape == (2, 1) and out.pose.shape == (2, 6)
    try:
        discriminator(torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32), torch.rand(2, 1, 32, 32), camera)
    except ValueError as error:
        assert "[B, 3, 64, 64]" in str(error)
    else:
        raise AssertionError("a wrongly sized image must be refused")


def test_pose_head_is_mirror_equivariant():
    """A left view and its mirror image (mirrored camera) must give mirrored poses: the branch sees the same input."""
    discriminator = _tiny_discriminator(mbstd_group=1).eval()
    image, raw, mask = torch.randn(3, 3, 64, 64), torch.randn(3, 3, 32, 32), torch.rand(3, 1, 32, 32)
    camera = orbit_camera(torch.tensor([40.0, -25.0, 130.0]), torch.tensor([5.0, -10.0, 0.0]))
    with torch.no_grad():
        pose = discriminator(image, raw, mask, camera).pose
        mirrored = discriminator(image.flip(-1), raw.flip(-1), mask.flip(-1), mirror_camera(camera)).pose
    assert pose.abs().max() > 1e-4
    torch.testing.assert_close(mirrored, mirror_pose(pose), atol=1e-5, rtol=1e-4)


def test_trunk_runs_once_without_mirrored_samples_and_twice_with():
    discriminator = _tiny_discriminator()
    calls = []
    discriminator.b4.register_forward_hook(lambda *args: calls.append(1))
    image, raw, mask = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 32, 32), torch.rand(2, 1, 32, 32)
    right_side = orbit_camera(torch.tensor([-30.0, -60.0]), torch.zeros(2))
    discriminator(image, raw, mask, right_side)
    assert len(calls) == 1
    discriminator(image, raw, mask, orbit_camera(torch.tensor([-30.0, 60.0]), torch.zeros(2)))
    assert len(calls) == 3


def test_logit_is_projection_on_condition_mapping():
    """Changing only the camera changes the logit through cmap, while the trunk output stays the same."""
    discriminator = _tiny_discriminator().eval()
    image, raw, mask = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 32, 32), torch.rand(2, 1, 32, 32)
    camera = orbit_camera(torch.tensor([-30.0, -60.0]), torch.zeros(2))
    with torch.no_grad():
        x = discriminator.assemble_input(image, raw, mask)
        out, _ = discriminator.trunk(x)
        result = discriminator(image, raw, mask, camera)
        cmap = discriminator.mapping(None, torch.cat([camera, result.pose], dim=1))
    expected = (out * cmap).sum(1, keepdim=True) / cmap.shape[1] ** 0.5
    torch.testing.assert_close(result.logits, expected)


def test_minibatch_std_of_known_groups():
    x = torch.zeros(4, 2, 4, 4)
    x[1] = 2.0  # group (0, 1): values 0 and 2 -> std 1; group (2, 3): identical -> std 0
    out = minibatch_std(x, group_size=2, channels=1)
    assert out.shape == (4, 3, 4, 4)
    torch.testing.assert_close(out[:2, 2], torch.ones(2, 4, 4), atol=1e-3, rtol=0)
    torch.testing.assert_close(out[2:, 2], torch.zeros(2, 4, 4), atol=1e-3, rtol=0)
