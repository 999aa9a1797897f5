"""Background mesh jobs on the tiny preset: progress, results equal to core.mesh, files trimesh can read, cancel,
too-large grids as error results, and renders that keep coming while a job runs (inline and in a worker process)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from core.checkpoint import PRESET_INIT_SEED
from core.config import preset
from renderer.jobs import JobStatus, MeshJob
from renderer.requests import RenderRequest
from renderer.worker import RenderClient

TINY = preset("tiny")
REQUEST = RenderRequest(checkpoint="preset:tiny", device="cpu", seeds=((2, 1.0),))
# The untrained tiny model's raw density spans about -0.2..1.1: 0.5 cuts it (the reference's level 10 would not).
LEVEL = 0.5


@pytest.fixture()
def client():
    with RenderClient("inline") as inline:
        yield inline


def _statuses_until_finished(client: RenderClient, job_id: int, timeout_s: float = 60.0) -> list[JobStatus]:
    seen, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.job_progress(job_id)
        if not seen or status is not seen[-1]:
            seen.append(status)
        if status.finished:
            return seen
        time.sleep(0.005)
    raise AssertionError(f"job {job_id} did not finish in {timeout_s} s; last status {seen[-1]}")


def test_mesh_job_reports_progress_matches_core_mesh_and_writes_files_trimesh_reads(client, tmp_path):
    import trimesh

    from core.camera import orbit_camera
    from core.generator import TriGridGenerator
    from core.latents import blended_ws
    from core.mesh import MeshOptions, generator_mesh, load_grid

    job = MeshJob(REQUEST, resolution=48, level=LEVEL, out_dir=str(tmp_path), stem="head",
                  formats=(".ply", ".obj", ".glb"), save_grid=True)
    job_id = client.start_job(job)
    seen = _statuses_until_finished(client, job_id)
    final = seen[-1]
    assert final.state == "done", final.error
    fractions = [status.fraction for status in seen if status.state == "running"]
    assert fractions == sorted(fractions) and any(0 < fraction < 1 for fraction in fractions)
    mesh = final.result
    assert mesh.vertices.dtype == np.float32 and mesh.faces.dtype == np.int32 and mesh.colors.dtype == np.uint8
    assert mesh.vertices.shape[1] == 3 and mesh.colors.shape == mesh.vertices.shape and len(mesh.faces) > 100
    assert mesh.value_range[0] < LEVEL < mesh.value_range[1]

    # The same mesh as core.mesh makes from an independently built tiny model.
    torch.manual_seed(PRESET_INIT_SEED)
    generator = TriGridGenerator(TINY).eval()
    with torch.no_grad():
        ws = blended_ws(generator, ((2, 1.0),), orbit_camera(0.0, 0.0), torch.zeros(1, 6), 0.7, None)
        expected = generator_mesh(generator, generator.synthesize_trigrid(ws), ws,
                                  MeshOptions(resolution=48, level=LEVEL))
    assert np.array_equal(mesh.faces, expected.faces)
    np.testing.assert_allclose(mesh.vertices, expected.vertices, atol=1e-5)

    assert [p.split("/")[-1] for p in mesh.paths] == ["head.ply", "head.obj", "head.glb", "head_grid.npy"]
    for path in mesh.paths[:3]:
        loaded = trimesh.load(path, force="mesh", process=False)
        assert len(loaded.faces) == len(mesh.faces), path
        assert np.abs(loaded.bounds - np.array([mesh.vertices.min(0), mesh.vertices.max(0)])).max() < 1e-4, path
    np.testing.assert_array_equal(load_grid(mesh.paths[3]), expected.grid)
    assert client.job_results() == [final] and client.job_results() == []


def test_posed_mesh_job_moves_the_head(client):
    canonical = client.wait_job(client.start_job(MeshJob(REQUEST, resolution=32, level=LEVEL, formats=(),
                                                         colors=False)))
    posed_request = REQUEST.replace(pose_deg=(0.0, 0.0, 0.0, 0.0, 40.0, 0.0), cond_pose_deg=(0.0,) * 6)
    posed = client.wait_job(client.start_job(MeshJob(posed_request, space="posed", resolution=32, level=LEVEL,
                                                     formats=(), colors=False)))
    assert canonical.state == posed.state == "done", (canonical.error, posed.error)
    assert canonical.result.colors is None and canonical.result.paths == ()
    assert not np.array_equal(canonical.result.vertices, posed.result.vertices)


def test_cancel_stops_a_running_job_and_the_next_job_runs(client, tmp_path):
    job_id = client.start_job(MeshJob(REQUEST, resolution=320, level=LEVEL, out_dir=str(tmp_path)))
    deadline = time.monotonic() + 60
    while client.job_progress(job_id).fraction <= 0.0 and time.monotonic() < deadline:
        time.sleep(0.005)
    running = client.job_progress(job_id)
    assert running.state == "running" and 0 < running.fraction < 0.5
    cancelled_at = time.monotonic()
    client.cancel_job(job_id)
    final = client.wait_job(job_id, timeout_s=30)
    assert final.state == "cancelled" and final.fraction < 0.9
    assert time.monotonic() - cancelled_at < 10  # stopped mid-grid, not at the end of a 320^3 extraction
    assert list(tmp_path.iterdir()) == []
    after = client.wait_job(client.start_job(MeshJob(REQUEST, resolution=24, level=LEVEL, formats=())))
    assert after.state == "done", after.error


def test_too_large_job_is_an_error_result_and_rendering_goes_on(client):
    job_id = client.start_job(MeshJob(REQUEST, resolution=2048, level=LEVEL, formats=()))
    final = client.wait_job(job_id, timeout_s=30)
    assert final.state == "error" and "use a resolution of at most" in final.error
    # An explicit budget is the one applied: 64^3 float32 needs 1 MiB.
    small_budget = client.wait_job(client.start_job(MeshJob(REQUEST, resolution=64, level=LEVEL, formats=(),
                                                            memory_budget=1 << 19)))
    assert small_budget.state == "error" and "use a resolution of at most 29 " in small_budget.error
    client.submit(REQUEST)
    assert client.wait(60).ok


def test_mesh_job_options_are_checked_with_clear_messages():
    with pytest.raises(ValueError, match="out_dir is None"):
        MeshJob(REQUEST, formats=(".ply",))
    with pytest.raises(ValueError, match="use some of .ply, .obj, .glb"):
        MeshJob(REQUEST, formats=(".stl",), out_dir="/tmp")
    with pytest.raises(ValueError, match="canonical, posed"):
        MeshJob(REQUEST, space="bent", formats=())
    with pytest.raises(ValueError, match="plain file name"):
        MeshJob(REQUEST, stem="../up", out_dir="/tmp")


def test_worker_process_serves_renders_while_a_job_runs_and_a_crash_ends_the_job(tmp_path):
    with RenderClient("process", torch_threads=1) as client:
        client.submit(REQUEST)
        assert client.wait(120).ok  # the worker is up and the model loaded
        started = time.monotonic()
        job_id = client.start_job(MeshJob(REQUEST, resolution=256, level=LEVEL, out_dir=str(tmp_path)))
        assert time.monotonic() - started < 0.5  # the GUI thread never waits for the job
        stamp = client.submit(REQUEST.replace(yaw_deg=30.0))
        rendered = client.wait(60)
        assert rendered.ok and rendered.stamp == stamp
        assert not client.job_progress(job_id).finished  # the render came back while the job was still running
        client.cancel_job(job_id)
        assert client.wait_job(job_id, timeout_s=30).state == "cancelled"

        small = client.wait_job(client.start_job(MeshJob(REQUEST, resolution=32, level=LEVEL, out_dir=str(tmp_path))))
        assert small.state == "done" and small.result.paths == (str(tmp_path / "mesh.ply"),)

        doomed = client.start_job(MeshJob(REQUEST, resolution=256, level=LEVEL, formats=()))
        deadline = time.monotonic() + 60
        while client.job_progress(doomed).state != "running" and time.monotonic() < deadline:
            time.sleep(0.005)
        client.kill_worker()
        final = client.wait_job(doomed, timeout_s=30)
        assert final.state == "error" and "render worker stopped" in final.error
        client.submit(REQUEST.replace(yaw_deg=-30.0))
        assert client.wait(120).ok


def test_only_the_newest_finished_jobs_keep_their_products(client):
    from renderer.worker import KEPT_JOB_RESULTS

    job_ids = [client.start_job(MeshJob(REQUEST, resolution=16, level=LEVEL, formats=()))
               for _ in range(KEPT_JOB_RESULTS + 2)]
    finals = [_statuses_until_finished(client, job_id)[-1] for job_id in job_ids]
    assert all(final.state == "done" for final in finals), [final.error for final in finals]
    # Every job still reports its final state; the two oldest gave their meshes back.
    statuses = [client.job_progress(job_id) for job_id in job_ids]
    assert [status.state for status in statuses] == ["done"] * len(job_ids)
    assert [status.result is not None for status in statuses] == [False] * 2 + [True] * KEPT_JOB_RESULTS
    handed_out = client.job_results()
    assert [status.job_id for status in handed_out] == job_ids[-KEPT_JOB_RESULTS:]
    assert client.job_results() == []
