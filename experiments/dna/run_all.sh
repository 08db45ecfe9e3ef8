#!/usr/bin/env bash
# The DNA experiments of experiments/dna/README.md, one thread per job, two jobs at a time (2-core CPU).
#   1. pre-train MAG, Transformer++ and SWA on the bacteria corpus (the same 2.46M tokens, ~1.0M parameters);
#   2. bits per base by position on the held-out genome NTUH-K2044 (4 stretches of 64K bases; Transformer++
#      16K: its full attention over 64K took over 50 min on one shared core), each read twice: with all
#      its context, and with the state reset every 1,024 bases (the same bases, context <= 1K);
#   3. splice-junction classification, 5 seeds each: the CNN, Transformer++ and MAG, from scratch;
#   4. E. coli promoters, the same three from scratch and MAG fine-tuned from the pre-trained MAG.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1
mkdir -p runs

pretrain() {  # pretrain VARIANT LAYERS LENGTH: train, then bits per base by position on the held-out genome
    titans dna pretrain --config experiments/dna/pretrain.toml --variant "$1" --set layers="$2" \
        --out "runs/dna-$1" --no-progress > "runs/dna-$1.log" 2>&1
    titans dna eval "runs/dna-$1" --length "$3" --segments 4 --limit 1024 --out "runs/dna-$1/context" \
        >> "runs/dna-$1.log" 2>&1
}
pretrain mag 3 65536 &
{ pretrain transformer 5 16384; pretrain swa 5 65536; }
wait

titans dna classify --data splice --models cnn,transformer --pooling flatten --out runs/dna-splice-baselines \
    > runs/dna-splice-baselines.log 2>&1 &
titans dna classify --data splice --models mag --pooling flatten --out runs/dna-splice-mag > runs/dna-splice-mag.log 2>&1
wait
titans dna classify --data promoters --models cnn,transformer,mag --out runs/dna-promoters-scratch \
    > runs/dna-promoters-scratch.log 2>&1
titans dna classify --data promoters --models mag --init runs/dna-mag --lr 5e-4 --out runs/dna-promoters-pretrained \
    > runs/dna-promoters-pretrained.log 2>&1
python experiments/dna/table.py > runs/dna-table.md
echo "table: runs/dna-table.md"
