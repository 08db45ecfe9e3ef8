#!/usr/bin/env bash
# Train the recall models in two stages and export them in bfloat16 under checkpoints/:
#   1. the copy (induction_probe.py: a 6-digit key in 128 random letters, 600 steps, a few minutes), in
#      the recall models' shape (recall.toml), saved to runs/copy-VARIANT;
#   2. the passkey task (tasks:pk, samples of 128-512 bytes packed per row, 1,200 steps) from there.
# VARIANTS picks the models (default: the five trained so: lmm mag mac transformer swa; mal works the same
# way); one thread each, so two can run side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=experiments/long_context
for variant in ${VARIANTS:-lmm mag mac transformer swa}; do
    OMP_NUM_THREADS=1 python "$dir/induction_probe.py" --config "$dir/recall.toml" --variant "$variant" \
        --length 128 --steps 600 --save "runs/copy-$variant"
    OMP_NUM_THREADS=1 titans train --config "$dir/recall.toml" --variant "$variant" --init "runs/copy-$variant" \
        --task-min-length 128 --no-progress --out "runs/recall-$variant"
    titans export "runs/recall-$variant" "$dir/checkpoints/$variant" --dtype bfloat16
done
