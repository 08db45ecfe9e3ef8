#!/usr/bin/env bash
# Evaluate the committed recall checkpoints (no training needed): S-NIAH heatmaps, BABILong-style
# qa1-qa5, and the million-token passkey run. Results go to experiments/long_context/results/.
# Full attention (transformer) stops at 32K, where it stays affordable on a CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=experiments/long_context
samples=${SAMPLES:-2}   # per (length, depth) cell; the issue's protocol is 10 per cell, 100 per length
for variant in ${VARIANTS:-mac lmm mag mal swa transformer}; do
    [ -d "$dir/checkpoints/$variant" ] || { echo "no checkpoint for $variant: skipped"; continue; }
    cap=()
    [ "$variant" = transformer ] && cap=(--max-length 32K)
    titans eval niah "$dir/checkpoints/$variant" --tasks pk,n,w --lengths 1K,2K,4K,8K,16K,32K,64K \
        --samples "$samples" "${cap[@]}" --out "$dir/results/$variant/niah"
    titans eval babilong "$dir/checkpoints/$variant" --lengths 1K,4K,16K --samples "$((samples * 5))" \
        "${cap[@]}" --out "$dir/results/$variant/babilong"
done
# one million bytes of haystack, read in 16K blocks, the answer decoded token by token
titans eval niah "$dir/checkpoints/${BEST:-mac}" --tasks pk --lengths 1000000 --depths 50 --samples 1 \
    --batch 1 --block 16384 --out "$dir/results/1m-pk"
