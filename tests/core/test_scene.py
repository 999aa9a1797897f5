"""One scene pipeline (core.scene): the viewer's request and the video path build the same scene and film the
same pixels for a posed keyframe; the builder caches what it built."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.checkpoint import generator_payload, save_checkpoint
from core.loading import load_generator
from core.config import preset
from core.generate import render_path_frames
from core.generator import TriGridGenerator
from core.paths import CameraKey, CameraPath, Keyframe, LatentKey
from core.scene import SceneBuilder, SceneSpec
from renderer.engine import Renderer, scene_spec
from renderer.path_jobs import PathRenderJob, job_settings
from renderer.requests import RenderRequest

POSE = (15.0, 25.0, 0.0, 0.0, 20.0, 5.0)  # neck and head turned: the warp is on


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(7)
    return str(save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt",
                               generator_payload(TriGridGenerator(preset("tiny")))))


@pytest.mark.parametrize("convention, cond_pose", [("project", (0.0,) * 6), ("reference", (0.0,) * 6),
                                                  ("project", None)])
def test_a_posed_keyframe_films_what_the_viewer_showed(checkpoint, tmp_path, convention, cond_pose):
    # The viewer conditions on the rest pose by default (cond_pose (0,)*6); None = linked to the rendered pose.
    viewer_request = RenderRequest(checkpoint=checkpoint, seeds=((4, 1.0),), truncation_psi=0.6, yaw_deg=35.0,
                                   pitch_deg=8.0, pose_deg=POSE, camera_convention=convention,
                                   cond_pose_deg=cond_pose)
    shown = Renderer("cpu").render(viewer_request)
    assert shown.error is None, shown.error
    # A path whose first keyframe is the viewer's state, filmed the way the GUI's "Render path to MP4" does.
    latent = LatentKey(((4, 1.0),), 0.6)
    keyframe = Keyframe(0.0, CameraKey(35.0, 8.0), pose_deg=POSE, latent=latent)
    path = CameraPath((keyframe, Keyframe(1.0, CameraKey(90.0), pose_deg=POSE, latent=latent)), name="posed")
    job = PathRenderJob(request=viewer_request, path=path, out_file=str(tmp_path / "v.mp4"), fps=2.0)
    generator, _ = load_generator(checkpoint, "cpu")
    frames = render_path_frames(generator, path, job.fps, job.seconds, settings=job_settings(job))
    np.testing.assert_array_equal(frames[0], shown.image)
    assert not np.array_equal(frames[0], frames[1])  # the second keyframe turns the camera


def test_the_builder_caches_each_stage_on_what_determines_it():
    torch.manual_seed(0)
    generator = TriGridGenerator(preset("tiny")).eval()
    from core.body import load_body_model

    bodies = []
    builder = SceneBuilder(generator, lambda: bodies.append(1) or load_body_model(None))
    spec = SceneSpec(seeds=((1, 1.0),), pose_deg=POSE, cond_pose_deg=POSE)
    with torch.no_grad():
        ws, planes, warp = builder.ws(spec), builder.planes(spec), builder.warp(spec)
        assert builder.ws(spec) is ws and builder.planes(spec) is planes and builder.warp(spec) is warp
        # A new body pose is a new warp, not a new latent; a new conditioning is a new latent.
        turned = spec.replace(pose_deg=(0.0, 40.0, 0.0, 0.0, 0.0, 0.0))
        assert builder.ws(turned) is ws and builder.warp(turned) is not warp
        assert not torch.equal(builder.ws(spec.replace(cond_pose_deg=(0.0,) * 6)), ws)
        assert builder.warp(spec.replace(pose_deg=(0.0,) * 6)) is None  # the rest pose needs no warp
    assert builder.stats["ws_hits"] >= 2 and builder.stats["warp_misses"] == 2
    # Grid resolution only keys grid warps.
    assert spec.replace(warp_resolution=16).warp_key == spec.warp_key
    assert spec.replace(warp_mode="grid").warp_key != spec.replace(warp_mode="grid", warp_resolution=16).warp_key
    # The viewer's request maps onto the same description: conditioning follows the shown pose unless named.
    request = RenderRequest(seeds=((1, 1.0),), truncation_psi=0.7, pose_deg=POSE)
    assert scene_spec(request, spec.warp_resolution) == spec
