"""RenderRequest and RenderResult: value semantics the GUI relies on, and a torch-free GUI side."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from renderer.requests import RenderRequest, RenderResult

ROOT = Path(__file__).resolve().parents[2]


def test_equal_requests_hash_equally_whatever_sequence_type_built_them():
    from_lists = RenderRequest(seeds=[[3, 0.25], [4, 0.75]], pose_deg=[0, 10, 0, 0, 0, 5], lookat=[0, 0.1, 0])
    from_tuples = RenderRequest(seeds=((3, 0.25), (4, 0.75)), pose_deg=(0.0, 10.0, 0.0, 0.0, 0.0, 5.0),
                                lookat=(0.0, 0.1, 0.0))
    assert from_lists == from_tuples
    assert hash(from_lists) == hash(from_tuples)
    assert len({from_lists, from_tuples}) == 1


def test_a_changed_field_makes_a_different_request():
    request = RenderRequest()
    moved = request.replace(yaw_deg=15.0)
    assert moved != request
    assert moved.yaw_deg == 15.0 and request.yaw_deg == 0.0
    assert moved.replace(yaw_deg=0.0) == request


def test_requests_are_frozen():
    with pytest.raises(AttributeError):
        RenderRequest().yaw_deg = 3.0


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"output": "image_normals"}, "image_depth"),
        ({"warp_mode": "quick"}, "exact"),
        ({"noise_mode": "loud"}, "const"),
        ({"pose_deg": (0.0, 1.0)}, "pose_deg"),
        ({"seeds": ()}, "seeds"),
        ({"neural_resolution": 0}, "neural_resolution"),
    ],
)
def test_bad_fields_are_refused_with_a_message_naming_the_fix(changes, named):
    with pytest.raises(ValueError, match=named):
        RenderRequest(**changes)


def test_results_are_hashable_and_say_whether_they_hold_an_image():
    request = RenderRequest()
    good = RenderResult(1, request, image=np.zeros((4, 4, 3), np.uint8))
    bad = RenderResult(2, request, error="broken.pt: the file is truncated or corrupt")
    assert good.ok and not bad.ok
    assert len({good, bad}) == 2


def test_importing_the_client_side_loads_no_torch():
    code = (
        "import sys\n"
        "import renderer.requests, renderer.worker\n"
        "client = renderer.worker.RenderClient(mode='inline')\n"
        "client.close()\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
