#!/usr/bin/env bash
# Issue 24 §2: does the memory keep improving deeper into a long document? Models of the cpu preset
# (MAC and MAG 1.25M, LMM 0.98M, SWA 0.84M parameters) trained on Shakespeare's plays with the state
# carried from step to step (each row a lane through a play, truncated backpropagation at every 512
# bytes), then read over four of Jane Austen's novels (never trained on), 64K bytes each, with the state
# carried and with it reset every 1K.
# One thread per run, so two can go side by side; each training run is ~15-17 minutes, each reading ~4.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=experiments/carried_state
common=(--preset cpu --set memory_depth=2 --data shakespeare --tokenizer bytes --context 512 --batch-tokens 4096 --carry-state
        --steps 400 --lr 2e-3 --min-lr-ratio 0.1 --warmup 20 --eval-every 100 --save-every 100 --sample-tokens 0 --no-progress)
# the memory of the recall models: writes up to 0.004 per token (8x the default ceiling at chunk 32) and
# forgets from 1e-5 per token (the default 0.01 keeps a write for a few hundred tokens)
keeps=(--set memory_theta_max=0.004 --set memory_alpha_init=1e-5)
train() { OMP_NUM_THREADS=1 titans train "${common[@]}" "$@"; }
train --variant mac --out runs/carry-mac
train --variant mac "${keeps[@]}" --out runs/carry-mac-w
train --variant mac "${keeps[@]}" --seed 1 --out runs/carry-mac-w-s1
train --variant swa --out runs/carry-swa
train --variant lmm "${keeps[@]}" --out runs/carry-lmm-w
train --variant mag "${keeps[@]}" --out runs/carry-mag-w
for run in carry-mac carry-mac-w carry-mac-w-s1 carry-swa carry-lmm-w carry-mag-w; do
    OMP_NUM_THREADS=1 titans eval ppl "runs/$run" --by-position --data austen --split all --length 65536 \
        --documents 4 --context 1024 --limit 1024 --first-bin 256 --no-progress --out "runs/bypos/$run"
done
python "$out/plot.py" "mac-keeps=runs/bypos/carry-mac-w" "mac-keeps-seed1=runs/bypos/carry-mac-w-s1" \
    "lmm-keeps=runs/bypos/carry-lmm-w" "mag-keeps=runs/bypos/carry-mag-w" "mac-default=runs/bypos/carry-mac" \
    "swa=runs/bypos/carry-swa" --out "$out"
