"""Benchmarks: `python -m core.bench [--quick] [--device cpu|cuda] [--only SECTION ...]`.

Each section is a module `core.bench.<name>` with `run(ctx: BenchContext) -> dict[str, float]`.
Figures are named `<area>.<figure>[.<preset>][.<device>]`; all sections of one call run in one process,
so ratios between figures are measured side by side.
"""
from core.bench.harness import BenchContext, time_call

__all__ = ["BenchContext", "time_call"]
