#!/usr/bin/env bash
# The six runs of experiments/README.md, one after another, then the table. Each run is also one command:
#   titans train --config experiments/wikipedia/VARIANT.toml
set -euo pipefail
cd "$(dirname "$0")/../.."
for variant in transformer swa lmm mac mag mal; do
    start=$(date +%s)
    titans train --config "experiments/wikipedia/$variant.toml" --no-progress > "runs/wikipedia-$variant.log" 2>&1
    echo "$variant $(( $(date +%s) - start ))" >> runs/wikipedia-wall-seconds.txt
done
python experiments/wikipedia/table.py
