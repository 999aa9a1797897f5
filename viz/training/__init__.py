"""Training from the visualizer without torch: launch `python -m core.train` as its own OS process, read its run
folder incrementally (stats.jsonl, log.txt, image grids, snapshots), stop it with SIGINT, remember active runs.

The GUI talks to training only through files and signals, so it can equally attach to a run started from a shell.
"""
