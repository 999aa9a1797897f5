"""The incremental readers of stats.jsonl and log files: partial last lines, appended lines, replaced files."""
from __future__ import annotations

import json

import pytest

from viz.training.files import LogTail, StatsReader, flatten_stats, smooth


def _line(kimg: float, loss: float) -> str:
    return json.dumps({"Loss/G/loss": {"num": 4, "mean": loss, "std": 0.1}, "Progress/kimg": kimg,
                       "timestamp": 1.0}) + "\n"


def test_stats_reader_waits_for_the_end_of_a_partial_line_and_reads_only_appended_lines(tmp_path):
    path = tmp_path / "stats.jsonl"
    reader = StatsReader(path)
    assert reader.poll() == 0  # no file yet
    first, second = _line(0.004, 1.5), _line(0.008, 1.25)
    path.write_text(first + second[:17])  # the writer was caught in the middle of its second line
    assert reader.poll() == 1
    assert reader.series("Loss/G/loss") == ([0.004], [1.5])
    assert reader.poll() == 0
    with open(path, "a") as stream:
        stream.write(second[17:])
    assert reader.poll() == 1
    with open(path, "a") as stream:
        stream.write(_line(0.012, 1.0) + _line(0.016, 0.75))
    assert reader.poll() == 2
    assert reader.series("Loss/G/loss") == ([0.004, 0.008, 0.012, 0.016], [1.5, 1.25, 1.0, 0.75])
    assert reader.latest("Progress/kimg") == 0.016
    assert reader.bad_lines == 0


def test_stats_reader_skips_broken_lines_and_restarts_on_a_replaced_file(tmp_path):
    path = tmp_path / "stats.jsonl"
    path.write_text(_line(0.004, 2.0) + "{not json\n" + "[1, 2]\n" + _line(0.008, 1.0))
    reader = StatsReader(path)
    assert reader.poll() == 2
    assert reader.bad_lines == 2
    assert reader.series("Loss/G/loss") == ([0.004, 0.008], [2.0, 1.0])
    path.write_text(_line(0.004, 9.0))  # a shorter file: rewritten from the start
    assert reader.poll() == 1
    assert reader.series("Loss/G/loss") == ([0.004], [9.0])
    assert len(reader.rows) == 1 and reader.generation == 1


def test_flatten_keeps_means_and_plain_numbers_and_drops_the_rest():
    flat = flatten_stats({"Loss/D/loss": {"mean": 3.0, "std": 1.0}, "Progress/tick": 2, "note": "text",
                          "flag": True, "bad": float("nan")})
    assert flat == {"Loss/D/loss": 3.0, "Progress/tick": 2.0}


def test_log_tail_keeps_the_last_lines_and_the_final_state_of_carriage_return_updates(tmp_path):
    path = tmp_path / "log.txt"
    tail = LogTail(path, max_lines=3)
    path.write_text("one\ntwo\nthree\nfo")
    assert tail.poll() == 3
    with open(path, "a") as stream:
        stream.write("ur\nbar 10%\rbar 50%\rbar 100%\n")
    assert tail.poll() == 2
    assert list(tail.lines) == ["three", "four", "bar 100%"]
    assert tail.text(last=1) == "bar 100%"


def test_smoothing_is_a_debiased_moving_average():
    assert smooth([1.0, 2.0, 3.0], 0.0) == [1.0, 2.0, 3.0]
    # weight 0.5: averages (1), (0.5*1*0.5 + 0.5*3)/(0.75) = 2.333...
    assert smooth([1.0, 3.0], 0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])
    assert smooth([4.0] * 5, 0.9) == pytest.approx([4.0] * 5)  # a constant stays itself: no start-up bias
    with pytest.raises(ValueError, match="smoothing weight"):
        smooth([1.0], 1.0)


def test_a_large_file_is_read_in_bounded_pieces_without_losing_lines(tmp_path):
    path = tmp_path / "stats.jsonl"
    path.write_text("".join(_line(0.004 * tick, float(tick)) for tick in range(1, 51)))
    reader = StatsReader(path)
    reader._lines.max_bytes = 1000  # about 10 lines per poll
    polls = 0
    while reader.poll():
        polls += 1
    assert polls >= 5
    assert reader.series("Loss/G/loss")[1] == [float(tick) for tick in range(1, 51)]
