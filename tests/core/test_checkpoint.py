"""The checkpoint file format: round trip, atomic writes, and clear errors on bad files."""
from __future__ import annotations

import os
import struct
import zipfile

import pytest
import torch

from core.checkpoint import FORMAT, CheckpointError, load_checkpoint, load_state_into, save_checkpoint
from core.config import preset


def _payload() -> dict:
    return {
        "format": FORMAT,
        "kind": "generator",
        "config": preset("tiny").to_dict(),
        "G_ema": {"decoder.net.0.weight": torch.randn(4, 3), "backbone.mapping.w_avg": torch.zeros(8)},
        "metadata": {"preset": "tiny", "kimg": 12.5, "dataset": "synthetic"},
    }


def test_round_trip_keeps_every_tensor_and_field(tmp_path):
    payload = _payload()
    path = save_checkpoint(tmp_path / "run" / "snapshot.pt", payload)
    loaded = load_checkpoint(path)
    assert loaded["metadata"] == payload["metadata"]
    assert loaded["config"] == payload["config"]
    for name, tensor in payload["G_ema"].items():
        assert torch.equal(loaded["G_ema"][name], tensor)
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.pt"], "no temporary file is left behind"


def test_failed_save_keeps_the_previous_file_and_leaves_no_partial(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "snapshot.pt", _payload())
    before = path.read_bytes()

    def broken_save(obj, stream):
        stream.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _payload())
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot.pt"]


def test_truncated_file_gives_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "snapshot.pt", _payload())
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"\x00garbage" * 10, "truncated or corrupt")],
)
def test_corrupt_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_missing_file_and_foreign_payloads(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "absent.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(CheckpointError, match="not a checkpoint of this project"):
        load_checkpoint(foreign)
    pickle_file = tmp_path / "released.pkl"
    pickle_file.write_bytes(b"\x80\x04")
    with pytest.raises(CheckpointError, match="core.checkpoint import"):
        load_checkpoint(pickle_file)


def test_a_file_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({**_payload(), "metadata": Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)


def test_state_mismatch_lists_missing_unexpected_and_shapes(tmp_path):
    module = torch.nn.Linear(3, 2)
    state = {"weight": torch.zeros(5, 3), "extra": torch.zeros(1)}
    with pytest.raises(CheckpointError) as caught:
        load_state_into(tmp_path / "x.pt", module, state, "G_ema")
    text = str(caught.value)
    assert "missing: bias" in text and "unexpected: extra" in text and "weight (5, 3) != (2, 3)" in text


def test_saved_files_are_readable_like_any_user_file(tmp_path):
    mask = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "snapshot.pt", _payload())
    finally:
        os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_preset_spec_opens_the_same_untrained_model_every_time():
    from core.loading import open_generator

    first, metadata, trained = open_generator("preset:tiny")
    second, _, _ = open_generator("preset:tiny")
    assert not trained and "untrained" in metadata["note"]
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items()):
        assert torch.equal(a, b), name


def test_export_keeps_g_ema_and_the_description_and_drops_the_run_state(tmp_path, capsys):
    from core.checkpoint import generator_payload
    from core.loading import load_generator, main
    from core.generator import TriGridGenerator

    torch.manual_seed(3)
    g_ema = TriGridGenerator(preset("tiny"))
    snapshot = generator_payload(g_ema, {"preset": "tiny", "kimg": 4.0, "command": "python -m core.train ...",
                                         "progress": {"cur_nimg": 4000}})
    snapshot.update(kind="training", G={"w": torch.ones(2)}, D={"w": torch.ones(3)}, D_ema={"w": torch.ones(3)},
                    optimizers={"G": {}, "D": {}}, rng={"torch": torch.zeros(4, dtype=torch.uint8)})
    source = save_checkpoint(tmp_path / "snapshot-000004.pt", snapshot)

    assert main(["export", str(source), "--out", str(tmp_path / "default.pt"), "--note", "CPU run"]) == 0
    assert "default.pt" in capsys.readouterr().out
    exported = load_checkpoint(tmp_path / "default.pt")
    assert exported["kind"] == "generator"
    assert not {"G", "D", "D_ema", "optimizers", "rng"} & set(exported)
    assert exported["metadata"]["kimg"] == 4.0 and exported["metadata"]["command"] == "python -m core.train ..."
    assert exported["metadata"]["note"] == "CPU run" and exported["metadata"]["exported_from"] == source.name
    assert "progress" not in exported["metadata"]
    loaded, _ = load_generator(tmp_path / "default.pt")
    for name, tensor in g_ema.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_export_of_a_bad_file_names_it_and_writes_nothing(tmp_path, capsys):
    from core.loading import main

    bad = tmp_path / "snapshot-000001.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main(["export", str(bad), "--out", str(tmp_path / "out.pt")]) == 1
    assert str(bad) in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()


def test_export_with_discriminator_keeps_d_ema_and_refuses_a_file_without_one(tmp_path, capsys):
    from core.checkpoint import generator_payload
    from core.loading import main
    from core.generator import TriGridGenerator

    d_ema = {"w": torch.arange(3.0)}
    snapshot = generator_payload(TriGridGenerator(preset("tiny")), {"preset": "tiny",
                                                                     "discriminator_config": {"channels": 8}})
    snapshot.update(kind="training", G={"w": torch.ones(2)}, D={"w": torch.ones(3)}, D_ema=d_ema,
                    optimizers={"G": {}, "D": {}}, rng={"torch": torch.zeros(4, dtype=torch.uint8)})
    source = save_checkpoint(tmp_path / "snapshot-000004.pt", snapshot)
    assert main(["export", str(source), "--out", str(tmp_path / "with-d.pt"), "--with-discriminator"]) == 0
    exported = load_checkpoint(tmp_path / "with-d.pt")
    assert torch.equal(exported["D_ema"]["w"], d_ema["w"]) and "D" not in exported and "optimizers" not in exported
    assert exported["metadata"]["discriminator_config"] == {"channels": 8}
    generator_only = tmp_path / "generator-only.pt"
    assert main(["export", str(source), "--out", str(generator_only)]) == 0
    assert main(["export", str(generator_only), "--out", str(tmp_path / "x.pt"), "--with-discriminator"]) == 1
    assert "holds no D_ema" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_a_flipped_byte_inside_the_weights_is_refused_naming_the_record(tmp_path):
    from core.checkpoint import generator_payload
    from core.generator import TriGridGenerator

    path = save_checkpoint(tmp_path / "model.pt", generator_payload(TriGridGenerator(preset("tiny")), {}))
    load_checkpoint(path)  # intact: loads
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)  # the largest tensor's bytes
    data = bytearray(path.read_bytes())
    # The local header: 30 bytes, then the name and an extra field whose lengths it stores at bytes 26 and 28.
    name_length, extra_length = struct.unpack_from("<HH", data, record.header_offset + 26)
    offset = record.header_offset + 30 + name_length + extra_length + record.file_size // 2
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="damaged") as caught:
        load_checkpoint(path)
    assert record.filename in str(caught.value) and str(path) in str(caught.value)
