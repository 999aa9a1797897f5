"""Two CPU processes over gloo: averaged gradients equal the single-process gradient of the global batch, and a
short training run keeps every rank's networks identical (checked by the loop before each snapshot)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

pytestmark = pytest.mark.slow

WORLD_SIZE = 2
GLOBAL_BATCH = 4


def _global_batch():
    """A fixed global batch of fakes and reals for the tiny discriminator (same on every rank)."""
    from core.camera import orbit_camera
    from core.train.losses import DiscriminatorInput

    generator = torch.Generator().manual_seed(7)
    cameras = orbit_camera(torch.tensor([-40.0, 30.0, 120.0, -150.0]), torch.tensor([0.0, 10.0, -5.0, 0.0]))

    def batch():
        return DiscriminatorInput(image=torch.rand(GLOBAL_BATCH, 3, 64, 64, generator=generator) * 2 - 1,
                                  image_raw=torch.rand(GLOBAL_BATCH, 3, 32, 32, generator=generator) * 2 - 1,
                                  mask=torch.rand(GLOBAL_BATCH, 1, 32, 32, generator=generator), camera=cameras)

    fake, real = batch(), batch()
    poses = torch.rand(2, GLOBAL_BATCH, 6, generator=generator) - 0.5
    return fake, real, poses[0], poses[1]


def _slice(inputs, rows):
    from core.train.losses import DiscriminatorInput

    return DiscriminatorInput(inputs.image[rows], inputs.image_raw[rows], inputs.mask[rows], inputs.camera[rows])


def _discriminator_gradients(rows, context):
    """Gradients of the D loss plus R1 on `rows` of the global batch, averaged over ranks by the loop's all-reduce."""
    from core.config import preset
    from core.networks.discriminator import DiscriminatorConfig, PoseAwareDiscriminator
    from core.train.distributed import average_gradients
    from core.train.losses import discriminator_loss, r1_loss

    torch.manual_seed(0)
    discriminator = PoseAwareDiscriminator(DiscriminatorConfig.for_generator(preset("tiny"), mbstd_group=2))
    fake, real, fake_pose, real_pose = _global_batch()
    loss, _ = discriminator_loss(discriminator, _slice(fake, rows), _slice(real, rows), fake_pose[rows],
                                 real_pose[rows], pose_loss_weight=1.0, blur_sigma=1.5)
    reg, _ = r1_loss(discriminator, _slice(real, rows), gamma=1.0, gamma_seg=1.0, interval=16, blur_sigma=1.5)
    (loss + reg).backward()
    average_gradients(discriminator.parameters(), context)
    return {name: parameter.grad.clone() for name, parameter in discriminator.named_parameters()}


def _drift_message(rank, context) -> str:
    """What the consistency check says on this rank when rank 1's copy of a layer drifted by 1e-6."""
    from core.train.distributed import check_identical

    layer = torch.nn.Linear(3, 2)
    torch.nn.init.constant_(layer.weight, 0.5)
    if rank == 1:
        with torch.no_grad():
            layer.weight[0, 0] += 1e-6
    try:
        check_identical(layer, context, "probe")
    except RuntimeError as error:
        return str(error)
    return ""


def _worker(rank: int, init_file: str, data: str, outdir: str, results: str) -> None:
    torch.set_num_threads(1)
    from core.train.config import TrainingConfig
    from core.train.distributed import setup
    from core.train.loop import RunOptions, train

    context = setup("cpu", init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    half = GLOBAL_BATCH // WORLD_SIZE
    gradients = _discriminator_gradients(slice(rank * half, (rank + 1) * half), context)
    torch.save(gradients, Path(results) / f"gradients-{rank}.pt")
    (Path(results) / f"drift-{rank}.txt").write_text(_drift_message(rank, context))
    config = TrainingConfig.for_run(0.008, batch=GLOBAL_BATCH, tick_kimg=0.004, mbstd_group=2, warp_mode="none",
                                    grid_size=2, eval_images=4)
    options = RunOptions(data=Path(data), outdir=Path(outdir), preset="tiny", device="cpu", progress_bar=False,
                         echo_log=False, init_method=f"file://{init_file}", rank=rank, world_size=WORLD_SIZE)
    assert dist.is_initialized() and context.world_size == WORLD_SIZE
    run_dir = train(options, config)  # raises on any rank whose networks drift from rank 0's
    (Path(results) / f"done-{rank}.json").write_text(json.dumps({"run_dir": str(run_dir) if run_dir else None}))


def test_two_gloo_processes_match_single_process_and_stay_identical(tmp_path):
    from core.train.distributed import DistributedContext
    from tests.core.test_train_support import write_dataset

    data = write_dataset(tmp_path / "data", count=8)
    results = tmp_path / "results"
    results.mkdir()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.start_processes(_worker, args=(str(tmp_path / "rendezvous"), str(data), str(tmp_path / "runs"), str(results)),
                       nprocs=WORLD_SIZE, join=True, start_method="spawn")

    single = _discriminator_gradients(slice(0, GLOBAL_BATCH),
                                      DistributedContext(rank=0, world_size=1, device=torch.device("cpu")))
    for rank in range(WORLD_SIZE):
        averaged = torch.load(results / f"gradients-{rank}.pt", weights_only=True)
        for name, gradient in single.items():
            torch.testing.assert_close(averaged[name], gradient, rtol=1e-4, atol=1e-6, msg=f"rank {rank} {name}")

    drift = [(results / f"drift-{rank}.txt").read_text() for rank in range(WORLD_SIZE)]
    assert all("probe: parameters differ between ranks" in message for message in drift), drift
    assert "rank 1: weight" in drift[1]

    done = [json.loads((results / f"done-{rank}.json").read_text()) for rank in range(WORLD_SIZE)]
    assert done[1]["run_dir"] is None  # only rank 0 writes
    run_dir = Path(done[0]["run_dir"])
    lines = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [line["Progress/kimg"] for line in lines] == [0.004, 0.008]
    # Statistics are reduced over both ranks: one step per tick on each of the two ranks.
    assert lines[0]["Loss/G/loss"]["num"] == WORLD_SIZE
    options = json.loads((run_dir / "training_options.json").read_text())
    assert options["world_size"] == WORLD_SIZE
    assert (run_dir / "snapshot-000000.pt").is_file()
    assert sorted(path.name for path in (tmp_path / "runs").iterdir()) == [run_dir.name]
