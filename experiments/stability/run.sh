#!/usr/bin/env bash
# Issue 24 §4: the two stability decisions of the memory, each measured in the README's main job
# as it was then (configs/main.toml with byte tokens and 400 steps: the cpu-preset MAC, 4,096 bytes a
# step of the Wikipedia articles, seed 0, memory depth 2; the main job now reads 8,192 BPE pieces, 1,000 steps of 8 rows
# with a linear memory) by a run
# that differs from it in that one setting. The two go side by side on one thread each (their wall
# times are not comparable with the main job's); the default is the main job itself. Then the gate
# curves of each. titans train refuses a run folder that exists: move earlier runs/stability-* away first.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/stability
mkdir -p runs
main_job=(--preset cpu --tokenizer bytes --steps 400 --eval-every 200 --save-every 200 --set memory_depth=2 --batch-tokens 4096 --lr 2e-3 --min-lr-ratio 0.1 --warmup 20)  # the main job these decisions were measured in
train() { OMP_NUM_THREADS=1 titans train "${main_job[@]}" --no-progress --sample-tokens 0 "$@"; }
# values as the paper has them: only q and k l2-normalised
train --set memory_normalize_values=false --out runs/stability-raw-values > runs/stability-raw-values.log 2>&1 &
raw=$!
# theta's ceiling 0.004 per token (0.128 / b at the cpu preset's b = 32) instead of 0.016 / b: 8x
train --set memory_theta_max=0.004 --out runs/stability-theta-8x > runs/stability-theta-8x.log 2>&1 &
theta=$!
wait $raw  # a run that fails (or diverges: titans train exits non-zero) stops the script here
wait $theta
# a second seed of the main job and of the paper's values, the spread the differences are read against
train --seed 1 --out runs/stability-default-seed1 > runs/stability-default-seed1.log 2>&1 &
raw=$!
train --seed 1 --set memory_normalize_values=false --out runs/stability-raw-values-seed1 \
    > runs/stability-raw-values-seed1.log 2>&1 &
theta=$!
wait $raw
wait $theta
titans train "${main_job[@]}" --no-progress --out runs/stability-default > runs/stability-default.log 2>&1  # the main job itself
for run in default raw-values theta-8x; do
    python "$out/gates.py" "runs/stability-$run" --out "$out/gates-$run.png"
done
