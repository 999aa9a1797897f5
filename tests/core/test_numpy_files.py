"""core.numpy_files: numpy header parses never overlap between threads (CPython 3.11's ast state is shared)."""
import ast
import io
import threading
import time

import numpy as np
import pytest

from core.numpy_files import read_npy, read_npz


def _archive() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, ws=np.arange(12, dtype=np.float32).reshape(3, 4), name=np.array("tiny"))
    return buffer.getvalue()


def _most_parses_at_once(monkeypatch, read) -> int:
    """Two threads read the same archive; ast.parse is slowed (sleeping frees the GIL) to expose any overlap."""
    original, inside, most, guard = ast.parse, [0], [0], threading.Lock()

    def slow_parse(*args, **kwargs):
        with guard:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.002)
        try:
            return original(*args, **kwargs)
        finally:
            with guard:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", slow_parse)
    raw = _archive()
    threads = [threading.Thread(target=lambda: [read(io.BytesIO(raw)) for _ in range(15)]) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return most[0]


def test_two_threads_never_parse_headers_at_once(monkeypatch):
    def plain(source):
        with np.load(source) as archive:
            return {name: archive[name] for name in archive.files}

    assert _most_parses_at_once(monkeypatch, plain) == 2  # the control: plain np.load overlaps
    assert _most_parses_at_once(monkeypatch, read_npz) == 1


def test_arrays_come_back_whole_and_pickles_are_refused(tmp_path):
    arrays = read_npz(io.BytesIO(_archive()))
    assert arrays["ws"].tolist() == np.arange(12, dtype=np.float32).reshape(3, 4).tolist()
    assert str(arrays["name"]) == "tiny"
    np.save(tmp_path / "grid.npy", np.ones((2, 3, 4), dtype=np.float32))
    assert read_npy(tmp_path / "grid.npy").shape == (2, 3, 4)
    np.save(tmp_path / "objects.npy", np.array([{"code": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle"):
        read_npy(tmp_path / "objects.npy")
