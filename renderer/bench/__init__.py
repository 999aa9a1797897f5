"""Benchmark sections that drive the renderer and its worker (the viewer's figures); `python -m core.bench`
runs them beside the core sections. They use core.bench.harness like every section."""
