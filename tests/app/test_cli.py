"""visualizer.py's command line: AppConfig building, the no-display message, --frames/--screenshot."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visualizer
from viz.shell.app_config import FALLBACK_CHECKPOINT, AppConfig

ROOT = Path(visualizer.__file__).resolve().parent


def test_command_line_builds_the_app_config(tmp_path):
    state = tmp_path / "state.json"
    state.write_text("{}")
    config = visualizer.parse_args(["model.pt", "--device", "cuda", "--state", str(state), "--frames", "5",
                                    "--screenshot", str(tmp_path / "shot.png"), "--size", "1280x800"])
    assert config.checkpoint == "model.pt" and config.device == "cuda" and config.state_file == state
    assert config.frames == 5 and config.screenshot == tmp_path / "shot.png" and config.window_size == (1280, 800)
    assert config.render_mode == "process"
    assert visualizer.parse_args(["--screenshot", "a.png"]).frames == 10, "a screenshot alone implies a few frames"


@pytest.mark.parametrize("arguments, message", [
    (["--size", "big"], "WIDTHxHEIGHT"),
    (["--frames", "0"], "at least 1"),
    (["--state", "/nonexistent/state.json"], "no such file"),
])
def test_bad_arguments_are_explained(capsys, arguments, message):
    with pytest.raises(SystemExit) as exit_info:
        visualizer.parse_args(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_default_model_falls_back_to_an_untrained_preset(monkeypatch, tmp_path):
    monkeypatch.setattr("viz.shell.app_config.DEFAULT_CHECKPOINT", tmp_path / "default.pt")
    assert AppConfig().resolve_checkpoint() == (FALLBACK_CHECKPOINT, True)
    (tmp_path / "default.pt").write_bytes(b"x")
    assert AppConfig().resolve_checkpoint() == (str(tmp_path / "default.pt"), False)
    assert AppConfig(checkpoint="preset:tiny").resolve_checkpoint() == ("preset:tiny", False)


def _environment(tmp_path: Path, display: bool) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    if display:
        env["DISPLAY"] = os.environ["DISPLAY"]
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"), OMP_NUM_THREADS="1")
    return env


def test_without_a_display_it_says_what_to_do(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "visualizer.py")], cwd=tmp_path, capture_output=True,
                            text=True, env=_environment(tmp_path, display=False), timeout=120)
    assert result.returncode == 2
    assert "xvfb-run" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.gui
def test_frames_and_screenshot_save_the_window_and_exit(tmp_path):
    shot = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, str(ROOT / "visualizer.py"), "preset:tiny", "--inline", "--size", "960x640",
         "--frames", "3", "--screenshot", str(shot)],
        cwd=tmp_path, capture_output=True, text=True, env=_environment(tmp_path, display=True), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape == (640, 960, 3)
    # The render is in the middle of the window: it is not the flat dark background around it.
    centre = image[260:380, 420:540].astype(np.float32)
    assert centre.std() > 5.0 and centre.mean() > 30.0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["config", "shot.png"], "nothing else in the cwd"
    assert (tmp_path / "config" / "portrait-viz" / "state.json").exists(), "the session state is remembered"
    assert not (tmp_path / "imgui.ini").exists()


@pytest.mark.gui
def test_a_screenshot_of_a_model_that_failed_exits_non_zero_with_its_error(tmp_path):
    from core.checkpoint import generator_payload, save_checkpoint
    from core.config import preset
    from core.generator import TriGridGenerator

    payload = generator_payload(TriGridGenerator(preset("tiny")))
    payload["config"]["rendering"]["depth_resolution"] = 10_000_000
    broken = save_checkpoint(tmp_path / "absurd.pt", payload)
    result = subprocess.run(
        [sys.executable, str(ROOT / "visualizer.py"), str(broken), "--inline", "--size", "960x640", "--fresh",
         "--frames", "3", "--screenshot", str(tmp_path / "shot.png")],
        cwd=tmp_path, capture_output=True, text=True, env=_environment(tmp_path, display=True), timeout=300,
    )
    assert result.returncode == 1
    assert "nothing rendered" in result.stderr and "absurd.pt" in result.stderr and "Traceback" not in result.stderr


def _children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc; zombies count as gone)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


@pytest.mark.gui
@pytest.mark.parametrize("signal_name", ["SIGTERM", "SIGKILL"])
def test_the_real_window_takes_its_render_worker_with_it(tmp_path, signal_name):
    import signal
    import time

    gui = subprocess.Popen([sys.executable, str(ROOT / "visualizer.py"), "preset:tiny", "--fresh", "--size", "640x480"],
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=_environment(tmp_path, display=True))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _children(gui.pid):
            time.sleep(0.2)
        workers = _children(gui.pid)
        assert workers, "the visualizer started no render worker"
        time.sleep(2.0)  # let the worker import torch and render, as a user's session would
        workers = _children(gui.pid)
        gui.send_signal(getattr(signal, signal_name))
        gui.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() and _running(pid) for pid in workers):
            time.sleep(0.1)
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists() and _running(pid)], \
            f"processes of the visualizer outlived its {signal_name} by 5 s"
    finally:
        gui.kill()


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
