"""RenderClient: inline and spawn-process modes, newest request wins, restart after a worker crash."""
from __future__ import annotations

import queue
import threading
import time

import numpy as np
import pytest

from renderer.messages import RenderMessage, StopWorker
from renderer.requests import RenderRequest
from renderer.worker import RenderClient, serve_requests

BASE = RenderRequest(checkpoint="preset:tiny", device="cpu", deterministic=True, output="image_raw")
# The first result of a fresh worker includes spawning it, importing torch and building the model.
STARTUP_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def client():
    with RenderClient("process", torch_threads=1) as process_client:
        process_client.submit(BASE)
        first = process_client.wait(STARTUP_TIMEOUT_S)
        assert first is not None and first.ok, first and first.error
        yield process_client


def _drain(client: RenderClient, seconds: float) -> list:
    """Every result poll() hands out during `seconds`."""
    results, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = client.poll()
        if result is not None:
            results.append(result)
        time.sleep(0.005)
    return results


def test_inline_client_answers_each_submit_once():
    with RenderClient("inline") as client:
        stamp = client.submit(BASE)
        assert client.busy, "busy until the result is handed out"
        result = client.poll()
        assert result.stamp == stamp and result.request == BASE and result.ok
        assert not client.busy
        assert client.poll() is None
        client.kill_worker()
        assert client.restarts == 1 and client.messages()
        assert client.poll() is None
        assert client.wait(1.0) is None
        client.submit(BASE.replace(yaw_deg=10.0))
        assert client.poll().ok


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="inline"):
        RenderClient("thread")


def test_only_the_newest_of_quick_requests_comes_back(client):
    requests = [BASE.replace(yaw_deg=float(yaw)) for yaw in range(5, 30, 5)]
    stamps = [client.submit(request) for request in requests]
    assert client.busy
    newest = client.wait(60.0)
    assert newest is not None and newest.ok, newest and newest.error
    assert newest.stamp == stamps[-1] and newest.request == requests[-1]
    assert not client.busy
    # Results for the superseded stamps may still be in flight: poll must drop them all.
    assert _drain(client, 0.5) == []
    with RenderClient("inline") as inline:
        inline.submit(requests[-1])
        assert np.array_equal(newest.image, inline.poll().image)


def test_poll_never_blocks(client):
    client.submit(BASE.replace(yaw_deg=-45.0, output="image"))
    start = time.perf_counter()
    for _ in range(20):
        client.poll()
    assert time.perf_counter() - start < 0.5
    assert client.wait(60.0).ok


def test_killed_worker_is_restarted_and_renders_again(client):
    restarts = client.restarts
    client.messages()
    pending = BASE.replace(yaw_deg=60.0, neural_resolution=96)  # slow enough to be killed mid-render
    stamp = client.submit(pending)
    client.kill_worker()
    result = client.wait(STARTUP_TIMEOUT_S)
    assert result is not None and result.ok, result and result.error
    assert result.stamp == stamp and result.request == pending
    assert client.restarts == restarts + 1
    assert any("restarted" in message for message in client.messages())
    # An idle worker that dies is replaced when the next request is submitted.
    client.kill_worker()
    client.submit(BASE.replace(yaw_deg=70.0))
    assert client.wait(STARTUP_TIMEOUT_S).ok
    assert client.restarts == restarts + 2


def test_errors_come_back_through_the_process(client, tmp_path):
    broken = tmp_path / "half_written.pt"
    broken.write_bytes(b"")
    client.submit(BASE.replace(checkpoint=str(broken)))
    result = client.wait(60.0)
    assert result is not None and not result.ok and "half_written.pt" in result.error
    client.submit(BASE.replace(yaw_deg=1.0))
    assert client.wait(60.0).ok


def test_a_worker_that_keeps_dying_is_not_restarted_in_a_loop(client):
    client.messages()
    stamp = client.submit(BASE.replace(yaw_deg=80.0, neural_resolution=96))
    client.kill_worker()
    assert client.poll() is None  # first death: restarted, the request resubmitted
    client.kill_worker()
    result = client.poll()  # second death in a row: an error instead of another restart
    assert result is not None and result.stamp == stamp
    assert "2 times in a row" in result.error
    assert client.poll() is None and not client.busy
    assert any("started again with the next request" in message for message in client.messages())
    client.submit(BASE.replace(yaw_deg=85.0))
    assert client.wait(STARTUP_TIMEOUT_S).ok


def test_worker_loop_renders_only_the_newest_waiting_request():
    requests, results = queue.Queue(), queue.Queue()
    for stamp in (1, 2, 3):
        requests.put(RenderMessage(stamp, BASE.replace(yaw_deg=10.0 * stamp)))
    loop = threading.Thread(target=serve_requests, args=(requests, results, "cpu", None), daemon=True)
    loop.start()
    result = results.get(timeout=STARTUP_TIMEOUT_S)
    requests.put(StopWorker())
    loop.join(STARTUP_TIMEOUT_S)
    assert not loop.is_alive()
    assert result.stamp == 3 and result.ok, result.error
    assert results.empty(), "stamps 1 and 2 were superseded before the worker looked: they must not be rendered"


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_the_worker_exits_when_its_gui_process_is_killed(tmp_path, signal_name):
    """SIGKILL or SIGTERM of the process that owns the client (no clean-up of its own): the worker is gone
    within 10 s."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from renderer.requests import RenderRequest\n"
        "from renderer.worker import RenderClient\n"
        "if __name__ == '__main__':  # spawn imports this file again in the worker\n"
        "    client = RenderClient('process', device='cpu')\n"
        "    client.submit(RenderRequest(checkpoint='preset:tiny', device='cpu', neural_resolution=8))\n"
        "    assert client.wait(300) is not None\n"
        "    print(client._process.pid, flush=True)\n"
        "    time.sleep(600)\n")
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        worker = int(owner.stdout.readline())
        os.kill(owner.pid, getattr(signal, signal_name))
        owner.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.1)
        assert not _alive(worker), "the render worker outlived its owner"
    finally:
        owner.kill()


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    import os

    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return not os.path.exists(f"/proc/{pid}")


def test_the_spawned_worker_got_the_memory_tunables(client):
    """renderer/worker_memory.py: the worker process's environment holds the tunables, this process's does not."""
    import os
    from pathlib import Path

    from renderer.worker_memory import KEEP_FREED_MEMORY, worker_tunables

    environ = Path(f"/proc/{client._process.pid}/environ")
    if not environ.exists() or worker_tunables() is None:
        pytest.skip("no /proc, or the tunables are the user's choice here")
    items = environ.read_text().split("\0")
    start = next(index for index, item in enumerate(items) if item.startswith("GLIBC_TUNABLES="))
    # glibc's loader cuts the value at its colons in place; the pieces follow it in the process's environment block.
    pieces = [items[start].split("=", 1)[1]]
    pieces += [item for item in items[start + 1:start + 4] if item.startswith("glibc.")]
    assert ":".join(pieces) == KEEP_FREED_MEMORY
    assert "GLIBC_TUNABLES" not in os.environ
