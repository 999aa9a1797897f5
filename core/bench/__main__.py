"""Run the benchmark sections and print one JSON object of named figures (a table goes to stderr)."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback

from core.bench.harness import BenchContext
from core.device import resolve_device

# Each name is a module core.bench.<name> with run(ctx) -> dict[str, float]; missing ones are skipped.
SECTIONS = ["generator", "body", "data", "train", "viz", "render", "mesh", "generate", "inspect_extras", "invert"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="keep the run under a minute on 2 CPU cores")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto (default: cuda when available, else cpu), cpu or cuda")
    parser.add_argument("--only", nargs="*", default=None, help=f"sections to run, from {SECTIONS}")
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
            module = importlib.import_module(f"core.bench.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"core.bench.{name}":
                continue
            raise
        try:
            figures.update(module.run(ctx))
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
