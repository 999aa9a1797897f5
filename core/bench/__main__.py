"""Run the benchmark sections and print one JSON object of named figures (a table goes to stderr)."""
from __future__ import annotations

import argparse
import json
import sys
import traceback

from core.bench import body, data, generate, generator, invert, mesh, render, train
from core.bench.harness import BenchContext
from core.device import resolve_device
# The viewer's sections drive the renderer and its worker, so they live in renderer/bench; this entry point is
# the top floor that runs every section (tests/test_layering.py: only entry points may import upwards).
from renderer.bench import inspect_extras, viz

# Section name -> module with run(ctx) -> dict[str, float], in the order they run.
SECTIONS = {"generator": generator, "body": body, "data": data, "train": train, "viz": viz, "render": render,
            "mesh": mesh, "generate": generate, "inspect_extras": inspect_extras, "invert": invert}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="keep the run under a minute on 2 CPU cores")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto (default: cuda when available, else cpu), cpu or cuda")
    parser.add_argument("--only", nargs="*", default=None, choices=list(SECTIONS), metavar="SECTION",
                        help=f"sections to run, from {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    ctx = BenchContext(quick=args.quick, device=device)
    figures: dict[str, float] = {}
    failed = []
    for name in args.only or SECTIONS:
        try:
            figures.update(SECTIONS[name].run(ctx))
        except Exception:  # one broken section must not hide the others' figures
            failed.append(name)
            traceback.print_exc()
    width = max((len(key) for key in figures), default=10)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value:>14.4f}", file=sys.stderr)
    print(json.dumps(figures, indent=1))
    if failed:
        print(f"sections that failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
