"""Video files appear only when they hold every frame: a writer that fails or truncates publishes nothing and
leaves no partial file behind (issue 20, item 1)."""
from __future__ import annotations

import numpy as np
import pytest

from core.media import VideoWriter


def _frames(count: int = 6) -> list[np.ndarray]:
    return [np.full((16, 16, 3), 20 * index, dtype=np.uint8) for index in range(count)]


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_complete_video_is_published_with_every_frame(tmp_path, suffix):
    with VideoWriter(tmp_path / f"clip{suffix}", fps=10) as writer:
        for frame in _frames():
            writer.append(frame)
    assert (tmp_path / f"clip{suffix}").is_file()
    assert not list(tmp_path.glob(".*partial*"))


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_truncated_video_is_not_published_and_its_partial_file_goes(tmp_path, suffix, monkeypatch):
    """As on a full disk: the encoder ends without error, but the file lacks its end."""
    import core.media as media

    real_frames_in = media._frames_in

    def truncated(file):
        file.write_bytes(file.read_bytes()[: file.stat().st_size // 3])
        return real_frames_in(file) if suffix == ".gif" else 2  # what a decoder finds in the first third

    monkeypatch.setattr(media, "_frames_in", truncated)
    writer = VideoWriter(tmp_path / f"clip{suffix}", fps=10)
    for frame in _frames():
        writer.append(frame)
    with pytest.raises(OSError, match="nothing was published") as caught:
        writer.close()
    assert str(tmp_path / f"clip{suffix}") in str(caught.value)
    assert not (tmp_path / f"clip{suffix}").exists() and not list(tmp_path.glob(".*partial*"))


def test_an_encoder_failure_publishes_nothing(tmp_path, monkeypatch):
    writer = VideoWriter(tmp_path / "clip.mp4", fps=10)
    for frame in _frames():
        writer.append(frame)

    def fail():
        raise OSError("[Errno 28] No space left on device")

    monkeypatch.setattr(writer._writer, "close", fail)
    with pytest.raises(OSError, match="No space left on device.*nothing was published"):
        writer.close()
    assert not list(tmp_path.iterdir())
