"""The prepared GPU check runs end to end on the CPU at tiny sizes, so a GPU session can trust it."""
from __future__ import annotations

import json

from core.bench.gpu_check import main


def test_the_dry_run_writes_one_json_with_the_matrix_and_the_bench_figures(tmp_path):
    out = tmp_path / "gpu.json"
    assert main(["--device", "cpu", "--quick", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and not list(tmp_path.glob("*.partial"))
    for name in ("render.skip_speedup.tiny.cpu", "render.skip_psnr_db.tiny",
                 "gpu.tiny.16.8+8.camera_ms.full.float32", "gpu.tiny.16.8+8.latent_ms.skip.float32",
                 "gpu.tiny.16.8+8.psnr_db.skip.float32"):
        assert name in report, name
    assert report["gpu.tiny.16.8+8.psnr_db.skip.float32"] >= 40.0
    # bfloat16 either measures or says why it cannot run (here: the CPU's antialiased resize has no bf16 kernel).
    assert any(key.endswith("bfloat16") for key in report)
