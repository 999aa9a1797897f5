#!/usr/bin/env bash
# One prepared run of pose self-learning on a CUDA machine (issue 17): synthesize 128-px data there, train the
# `small` preset with the fast body warp for seven minutes, export the last snapshot with D, evaluate it.
#
#   OUT=/some/folder bash docs/gpu_pose_run.sh     # everything lands in $OUT (default: ./gpu-run)
#   TRAIN_S=540 OUT=... bash docs/gpu_pose_run.sh  # a longer training where one command may run longer
#
# Budget: synthesis about 1 minute with 14 workers, training TRAIN_S seconds (default 420; SIGINT then writes
# the last snapshot), export and evaluation under a minute: the whole script fits the device tool's 10 minutes
# per command. Nothing here needs the network.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu-run}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
python -m core.data synth --out "$OUT/synth128" --count 20000 --resolution 128 --workers 14 --feature-scale 1.5
# --kimg sets the fade lengths; the run is stopped by time, not by kimg.
timeout -s INT "${TRAIN_S:-420}" python -m core.train --data "$OUT/synth128" --preset small --kimg 200 --outdir "$OUT/runs" \
  --batch 32 --warp fast --gamma 0.5 --pose-prior-kimg 20 --tick-kimg 4 --snap-ticks 5 --image-snap-ticks 5 \
  --eval-images 64 --no-progress 2>&1 | tee "$OUT/train.log" || true
RUN=$(ls -d "$OUT"/runs/*-small-synth128 | tail -1)
SNAPSHOT=$(ls "$RUN"/snapshot-*.pt | tail -1)
python -m core.checkpoint export "$SNAPSHOT" --out "$OUT/small-pose.pt" --with-discriminator \
  --note "GPU run: small preset, fast warp, pose branch and D's pose head learning (docs/gpu_pose_run.sh)"
python -m core.train eval "$OUT/small-pose.pt" --data "$OUT/synth128" --device cuda --images 256 \
  | tee "$OUT/eval.json"
cp "$RUN/stats.jsonl" "$RUN/log.txt" "$OUT/" 2>/dev/null || true
