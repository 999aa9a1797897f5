"""Training with body-pose self-learning (`python -m core.train`; see docs/training.md).

config (TrainingConfig), schedules, losses, phases (one iteration), loop (run orchestration), data,
distributed (torch.distributed plumbing), stats (run folder, stats.jsonl), snapshots, grids, evaluate, geometry.
"""
