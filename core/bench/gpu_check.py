"""The one prepared GPU check (#21 item 5): on a CUDA machine, in well under ten minutes,

    python -m core.bench.gpu_check --out gpu_check.json

runs the CUDA tests (`pytest -m cuda`), the bench sections `generator`, `render` and `viz` on CUDA, and a matrix
for `paper-512` at neural resolution 128 and 512x512 output: 48+48 and 96+96 samples, a camera move (cached
tri-grid) and a new latent, with and without empty-space skipping, in float32 and under bfloat16/float16
autocast (each with its PSNR against float32; a precision is usable where it keeps >= 40 dB). Everything goes
into one JSON object with the GPU's name. `--device cpu --quick` runs the same code on `tiny` at a small size
(the test suite does, so the script is known to run before a GPU session spends its minutes on it).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

from core.atomic import write_atomic
from core.bench import generator as generator_section, render as render_section
from core.bench.harness import BenchContext, time_call
from core.bench.render import psnr_db
from core.camera import orbit_camera
from core.config import preset
from core.device import resolve_device
from core.generator import TriGridGenerator
from core.scene import SceneBuilder, SceneSpec
from core.shipped import REPO_ROOT as ROOT
from renderer.bench import viz as viz_section  # an entry point: may drive the renderer (tests/test_layering.py)

PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@torch.inference_mode()
def matrix(name: str, device: torch.device, neural_resolution: int, sample_counts: tuple[int, ...],
           repeats: int = 3) -> dict[str, float]:
    """`gpu.<name>.<R>.<S>+<S>.{camera,latent}_ms.{full,skip}.<precision>` and `..psnr_db.<precision>`."""
    torch.manual_seed(0)
    generator = TriGridGenerator(preset(name)).to(device).eval()
    scenes = SceneBuilder(generator, lambda: None)
    camera = orbit_camera(30.0, 10.0, device=device)
    figures: dict[str, float] = {}
    for samples in sample_counts:
        rendering = dataclasses.replace(generator.config.rendering, deterministic=True, depth_resolution=samples,
                                        depth_resolution_importance=samples)
        tag = f"gpu.{name}.{neural_resolution}.{samples}+{samples}"
        reference = None
        for precision, dtype in PRECISIONS.items():
            if dtype is not None and device.type == "cpu" and dtype is torch.float16:
                continue  # no float16 autocast worth measuring on a CPU
            for skip in (False, True):
                seed = [100]

                def frame(new_latent: bool):
                    if new_latent:
                        seed[0] += 1
                    spec = SceneSpec(seeds=((seed[0], 1.0),))
                    with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                        ws = scenes.ws(spec)
                        planes = scenes.planes(spec, ws)
                        occupancy = scenes.occupancy(spec, planes) if skip else None
                        return generator.render(ws, planes, camera, neural_resolution=neural_resolution,
                                                rendering=rendering, occupancy=occupancy, outputs=("image",)).image

                mode = "skip" if skip else "full"
                try:
                    figures[f"{tag}.latent_ms.{mode}.{precision}"] = time_call(lambda: frame(True), device, repeats)
                    frame(False)  # the grid of this latent exists now: camera moves reuse it
                    figures[f"{tag}.camera_ms.{mode}.{precision}"] = time_call(lambda: frame(False), device, repeats)
                    seed[0] = 100
                    image = frame(False).float()
                except RuntimeError as error:  # a precision the renderer does not run in: say so, measure the rest
                    figures[f"{tag}.error.{mode}.{precision}"] = str(error).splitlines()[0][:200]
                    continue
                if reference is None:
                    reference = image
                figures[f"{tag}.psnr_db.{mode}.{precision}"] = psnr_db(reference, image)
    return figures


def cuda_tests() -> dict[str, float]:
    """Counts of the CUDA-marked tests (`pytest -m cuda`) run in a subprocess."""
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider"],
                               cwd=ROOT, capture_output=True, text=True)
    summary = completed.stdout.strip().splitlines()[-1] if completed.stdout.strip() else completed.stderr[-200:]
    parts = [part.strip() for part in summary.split(" in ")[0].split(",")]
    counts = {word: float(number) for number, word in (part.split(" ")[:2] for part in parts if part[:1].isdigit())}
    return {"tests.cuda.passed": counts.get("passed", 0.0), "tests.cuda.failed": counts.get("failed", 0.0),
            "tests.cuda.skipped": counts.get("skipped", 0.0), "tests.cuda.seconds": time.perf_counter() - started,
            "tests.cuda.summary": summary}


def run(device: torch.device, quick: bool, with_tests: bool) -> dict:
    report: dict = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "torch": torch.__version__}
    if with_tests:
        report.update(cuda_tests())
    ctx = BenchContext(quick=quick, device=device)
    for section in (generator_section, render_section, viz_section) if not quick else (render_section,):
        report.update(section.run(ctx))
    if quick:
        report.update(matrix("tiny", device, 16, (8,), repeats=1))
    else:
        report.update(matrix("tiny", device, 64, (48,)))
        report.update(matrix("small", device, 128, (48,)))
        report.update(matrix("paper-512", device, 128, (48, 96)))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench.gpu_check", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu (with --quick: a dry run)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes only: checks that the script runs")
    parser.add_argument("--no-tests", action="store_true", help="skip the CUDA tests")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    report = run(device, args.quick, with_tests=not args.no_tests and device.type == "cuda")
    write_atomic(args.out, json.dumps(report, indent=1, sort_keys=True))  # a complete report or none
    print(f"wrote {len(report)} figures to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
