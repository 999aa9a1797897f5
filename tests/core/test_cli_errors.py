"""#20 item 6: every command line answers a file system mistake (a folder that is a file, a full disk) with one
`error: <path>: ... (<what to do>)` line and a non-zero exit, never a traceback."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from core.checkpoint import generator_payload, save_checkpoint
from core.cli import command_line, describe_os_error
from core.config import preset
from core.generator import TriGridGenerator


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt",
                               generator_payload(TriGridGenerator(preset("tiny")))))


def _commands(checkpoint: str, blocked: str, dataset: Path):
    from core.loading import main as checkpoint_main
    from core.data.__main__ import main as data_main
    from core.generate.__main__ import main as generate_main
    from core.mesh.__main__ import main as mesh_main
    from core.train.__main__ import main as train_main
    from tests.core.test_train_support import training_command

    return {
        "generate images": lambda: generate_main(["images", "--checkpoint", checkpoint, "--seeds", "0",
                                                  "--neural-resolution", "8", "--out", f"{blocked}/sheet"]),
        "generate video": lambda: generate_main(["video", "--checkpoint", checkpoint, "--path", "turntable",
                                                 "--seconds", "0.4", "--fps", "5", "--neural-resolution", "8",
                                                 "--out", f"{blocked}/v.mp4"]),
        "checkpoint export": lambda: checkpoint_main(["export", checkpoint, "--out", f"{blocked}/x.pt"]),
        "mesh": lambda: mesh_main([checkpoint, "--seed", "0", "--resolution", "16", "--level", "0",
                                   "--out", f"{blocked}/m.ply"]),
        "data synth": lambda: data_main(["synth", "--out", f"{blocked}/ds", "--count", "2", "--resolution", "32"]),
        "data preview": lambda: data_main(["preview", str(dataset), "--out", f"{blocked}/sheet.png"]),
        "train": lambda: train_main(training_command(dataset, Path(blocked) / "runs", 0.002, "--warp", "none")),
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from tests.core.test_train_support import write_dataset

    return write_dataset(tmp_path_factory.mktemp("data") / "portraits")


@pytest.mark.parametrize("name", ["generate images", "generate video", "checkpoint export", "mesh", "data synth",
                                  "data preview", "train"])
def test_an_output_under_a_file_is_one_line(name, checkpoint, dataset, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("in the way")
    code = _commands(checkpoint, str(blocker), dataset)[name]()
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and err, name
    assert err[-1].startswith("error:") and str(blocker) in err[-1] and "choose another path" in err[-1], err[-1]
    assert not any("Traceback" in line for line in err)


def test_a_full_disk_says_so_and_names_the_file(monkeypatch, capsys):
    @command_line
    def main() -> int:
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.mp4")

    assert main() == 1
    assert capsys.readouterr().err.strip() == ("error: /data/out.mp4: No space left on device (the disk is full; "
                                                "free some space or write somewhere else)")
    assert "read-only" in describe_os_error(OSError(errno.EROFS, "Read-only file system", "/mnt/x"))


@pytest.mark.parametrize("side", [5000, 20000])  # ours refuses past 16.7 M pixels, PIL's own past 179 M
def test_a_png_decompression_bomb_is_refused_from_its_header(tmp_path, side):
    import struct
    import zlib

    from core.data.storage import MAX_IMAGE_PIXELS, DatasetError, FileStore

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16 * (side + 1)))
           + chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(png)
    store = FileStore(tmp_path)
    for read in (lambda: store.read_image("bomb.png", 3), lambda: store.image_size("bomb.png")):
        with pytest.raises(DatasetError, match=f"bomb.png: .*more than the {MAX_IMAGE_PIXELS:,} pixels"):
            read()


def test_a_rejected_label_is_reported_once_not_also_as_missing(tmp_path):
    import json

    import numpy as np
    from PIL import Image

    from core.data.check import check_dataset

    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": [["a.png", [0.0] * 31]]}))  # not a rotation
    errors = check_dataset(tmp_path).errors
    assert len(errors) == 1 and "cam2world is not a rotation" in errors[0], errors


def test_nan_weights_and_a_project_file_given_to_import_are_refused_with_the_fix(tmp_path, capsys):
    from core.checkpoint import CheckpointError
    from core.loading import load_generator
    from core.loading import main as checkpoint_main

    generator = TriGridGenerator(preset("tiny"))
    payload = generator_payload(generator)
    name = next(key for key, tensor in payload["G_ema"].items() if tensor.is_floating_point())
    payload["G_ema"][name][...] = float("nan")
    broken = save_checkpoint(tmp_path / "diverged.pt", payload)
    with pytest.raises(CheckpointError, match=f"NaN or infinite values in {name}.*earlier snapshot"):
        load_generator(broken, "cpu")
    assert checkpoint_main(["import", str(broken), "--out", str(tmp_path / "x.pt")]) == 1
    assert "not a released .pkl; it needs no import" in capsys.readouterr().err


def test_a_snapshot_that_cannot_be_written_is_recorded_in_the_log(tmp_path, monkeypatch, capsys):
    import core.train.loop as loop
    from core.train.__main__ import main as train_main
    from tests.core.test_train_support import training_command, write_dataset

    def full_disk(run_dir, payload):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "snapshot-000000.pt"))

    monkeypatch.setattr(loop, "save_snapshot", full_disk)
    dataset = write_dataset(tmp_path / "portraits")
    code = train_main(training_command(dataset, tmp_path / "runs", 0.002, "--warp", "none"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and err[-1].startswith("error:") and "the disk is full" in err[-1]
    log = next((tmp_path / "runs").iterdir()) / "log.txt"
    assert "FAILED to write the snapshot" in log.read_text() and "No space left on device" in log.read_text()


def test_partial_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    import os
    import time

    from core.atomic import STALE_PARTIAL_S, write_atomic

    stale, fresh = tmp_path / ".model.abc123.partial.pt", tmp_path / ".model.def456.partial.pt"
    other = tmp_path / ".other.xyz.partial.pt"
    for path in (stale, fresh, other):
        path.write_bytes(b"half")
    old = time.time() - STALE_PARTIAL_S - 60
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    write_atomic(tmp_path / "model.pt", b"complete")
    assert not stale.exists(), "a SIGKILLed writer's partial file goes with the next write of its target"
    assert fresh.exists() and other.exists(), "a live writer's file and other targets' files stay"
    assert (tmp_path / "model.pt").read_bytes() == b"complete"


def test_a_half_written_synthetic_dataset_is_named_as_such(tmp_path):
    from core.data.storage import DatasetError
    from core.data.synth import SynthSettings, output_paths, synthesize

    images, _ = output_paths(tmp_path / "ds", False)
    images.mkdir(parents=True)
    (images / "img00000000.png").write_bytes(b"...")  # what an interrupted folder-mode synth leaves
    with pytest.raises(DatasetError, match="half-written dataset .*delete"):
        synthesize(tmp_path / "ds", 2, SynthSettings(resolution=32), as_zip=False, progress=False)
