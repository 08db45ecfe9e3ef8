#!/usr/bin/env bash
# DNA experiments of experiments/dna/README.md, one thread per job, two jobs at a time on a 2-core CPU.
#   1. pre-train MAG and Transformer++ (same tokens, ~1.0M parameters each) on the bacteria corpus;
#   2. bits per base by context position on the held-out genome (NTUH-K2044), 4 stretches of 64K bases;
#   3. splice-junction classification, 5 seeds: CNN, Transformer++ and MAG from scratch.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
mkdir -p runs

pretrain() {  # pretrain VARIANT LAYERS
    titans dna pretrain --config experiments/dna/pretrain.toml --variant "$1" --set layers="$2" \
        --out "runs/dna-$1" --no-progress > "runs/dna-$1.log" 2>&1
    titans dna eval "runs/dna-$1" --length 65536 --segments 4 --out "runs/dna-$1/context" >> "runs/dna-$1.log" 2>&1
}
pretrain mag 3 &
pretrain transformer 5
wait

titans dna classify --data splice --models cnn,transformer --out runs/dna-splice-baselines > runs/dna-splice-baselines.log 2>&1 &
titans dna classify --data splice --models mag --out runs/dna-splice-mag > runs/dna-splice-mag.log 2>&1
wait
