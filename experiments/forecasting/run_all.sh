#!/usr/bin/env bash
# The forecasting table of experiments/forecasting/README.md: the three series on two cores (Chicago,
# the longest, on one; weather then Taylor on the other; one thread each), then one markdown file.
# Each dataset is also one command:  titans forecast train --data NAME --out runs/forecast-NAME
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs
export OMP_NUM_THREADS=1

run() {  # run NAME [flags...]: one dataset, every model x horizon x seed; its log and wall time in runs/
    local start
    start=$(date +%s)
    titans forecast train --data "$1" --out "runs/forecast-$1" "${@:2}" > "runs/forecast-$1.log" 2>&1
    echo "$1 $(( $(date +%s) - start ))" >> runs/forecast-wall-seconds.txt
}

# Chicago has 28 channels: 512 windows per epoch give it about as many channel-sequences per epoch as
# hourly weather's 1,024 windows of 12 channels.
run chicago --epoch-windows 512 &
chicago=$!
run weather
run taylor
wait "$chicago"
cat runs/forecast-weather/results.md runs/forecast-taylor/results.md runs/forecast-chicago/results.md \
    > runs/forecast-table.md
echo "table: runs/forecast-table.md"
