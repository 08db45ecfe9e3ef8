#!/usr/bin/env bash
# Issue 24 §2, what limits the gain of the carried state: a bpe-8192 round run trained 600 steps more, in two
# stages from its weights (200 steps, then 400, each at lr 5e-4 with its own warm-up and cosine; STAGES="200 400
# 600" adds a third of 600, and so on), either as in
# the round (document resets) or reading the training articles as one stream (--no-document-resets); then its
# loss by position on the four Austen novels, state carried and reset every 288 tokens.
#
#   bash experiments/wikipedia/train_longer.sh RUN MODE [TITANS TRAIN FLAGS...]
#   bash experiments/wikipedia/train_longer.sh mal stream
#   bash experiments/wikipedia/train_longer.sh mal-seed1 stream --seed 1
#   STAGES="200 400 600" bash experiments/wikipedia/train_longer.sh mal stream   # 1,200 steps more
#
# RUN names runs/wikipedia-bpe-8192-RUN (from run_all.sh) and its config experiments/wikipedia/VARIANT.toml
# (VARIANT: RUN without a -seedN suffix); MODE is stream or resets. Writes runs/longer-RUN-MODE-{1,2,...}, one per stage.
set -euo pipefail
cd "$(dirname "$0")/../.."
run=$1 mode=$2
shift 2
variant=${run%-seed*}
case $mode in stream) resets=--no-document-resets ;; resets) resets=--document-resets ;;
    *) echo "MODE: stream or resets, got $mode" >&2; exit 2 ;; esac
from=runs/wikipedia-bpe-8192-$run
stage=0
for steps in ${STAGES:-200 400}; do
    stage=$((stage + 1))
    out=runs/longer-$run-$mode-$stage
    OMP_NUM_THREADS=1 titans train --config "experiments/wikipedia/$variant.toml" --tokenizer bpe-8192 \
        --set memory_theta_max=0.0005 --init "$from" --steps "$steps" --lr 5e-4 --eval-every 200 \
        --save-every 200 "$resets" --out "$out" --no-progress "$@"
    from=$out
done
OMP_NUM_THREADS=1 titans eval ppl "$from" --by-position --data austen --split all --length 65536 --documents 4 \
    --context 1024 --limit 288 --first-bin 256 --no-progress --out "$from/by_position_288"
