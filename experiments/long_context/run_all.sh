#!/usr/bin/env bash
# Train the six recall models (one command each), export them in bfloat16 under checkpoints/, then
# evaluate them (evaluate.sh). About 20 min of training per memory variant on the 2-core CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
for variant in mac lmm mag mal swa transformer; do
    titans train --config experiments/long_context/recall.toml --variant "$variant" --out "runs/recall-$variant"
    titans export "runs/recall-$variant" "experiments/long_context/checkpoints/$variant" --dtype bfloat16
done
bash experiments/long_context/evaluate.sh
