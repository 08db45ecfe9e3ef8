#!/usr/bin/env bash
# Evaluate the committed recall checkpoints (no training needed): the S-NIAH-PK heatmap (1K-64K x five
# depths), N and W at a middle depth, BABILong-style qa1-qa5, 100 PK samples at 16K and 64K for the best
# model (BEST, default lmm), 200 at 16K for the staged MAG and MAL models, the further sets of 100 the table
# pools (SETS), 50 at 256K for lmm-long, and the million-byte passkey run.
# Results go to experiments/long_context/results/. Full attention (transformer) stops at 32K, where it
# stays affordable on a CPU. SAMPLES=10 gives the issue's protocol (10 per cell, 50 per length);
# the default of 2 is what fits a CPU session for six models. VARIANTS picks the grid's models
# (VARIANTS="" skips the grid, as HEADLINE="" and STAGED="" skip theirs).
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=experiments/long_context
samples=${SAMPLES:-2}
grid="mac mac-n lmm lmm-long lmm-mix lmm-w mag mag-8k mag-32k mal mal-8k mal-16k swa transformer"
for variant in ${VARIANTS-$grid}; do
    [ -d "$dir/checkpoints/$variant" ] || { echo "no checkpoint for $variant: skipped"; continue; }
    cap=()
    [ "$variant" = transformer ] && cap=(--max-length 32K)
    out="$dir/results/$variant"
    titans eval niah "$dir/checkpoints/$variant" --tasks pk --lengths 1K,2K,4K,8K,16K,32K,64K \
        --samples "$samples" "${cap[@]}" --out "$out/niah-pk"
    titans eval niah "$dir/checkpoints/$variant" --tasks n,w --lengths 1K,4K,16K --depths 50 \
        --samples "$((samples * 2))" "${cap[@]}" --out "$out/niah-nw"
    titans eval babilong "$dir/checkpoints/$variant" --lengths 1K,4K,16K --samples "$((samples * 2))" \
        "${cap[@]}" --out "$out/babilong"
done
# hundred VARIANT LENGTH SEED...: 100 PK samples (20 per depth) per seed, to results/VARIANT/niah-pk-LENGTH-n100
# (seed 1) or ...-n100-seedK; the sets of one model and length pool in the table
hundred() {
    local variant=$1 length=$2 seed suffix
    shift 2
    for seed in "$@"; do
        suffix=""
        [ "$seed" = 1 ] || suffix="-seed$seed"
        titans eval niah "$dir/checkpoints/$variant" --tasks pk --lengths "$length" --samples 20 --seed "$seed" \
            --out "$dir/results/$variant/niah-pk-$length-n100$suffix"
    done
}
# the headline numbers for the best model, seed 1 (other samples than the grid's, so the two pool); 16K and 64K
# by default (HEADLINE="" skips them)
for length in ${HEADLINE-16K 64K}; do
    hundred "${BEST:-lmm}" "$length" 1
done
# MAG and MAL after LMM's 8K stage (MAL after its 16K stage too, MAG after the 16K and a 32K stage): 200 at 16K,
# seed 1 (the samples of MAG's and MAL's headline) and seed 3 (README, "MAG and MAL on LMM's 8K stage");
# STAGED="" skips them
for variant in ${STAGED-mag-8k mag-32k mal-8k mal-16k}; do
    hundred "$variant" 16K 1 3
done
# the further sets the table pools: lmm's second set at 16K and 64K, lmm-long's five, and the two that mag-32k was
# read on after its keep rule (README, "Longer samples", "A 32K stage for MAG"); SETS=0 skips them
if [ "${SETS:-1}" = 1 ]; then
    hundred lmm 16K 3
    hundred lmm 64K 3
    hundred lmm-long 16K 1 3 4 5 6
    hundred lmm-long 64K 1 3 4 5 6
    hundred mag-32k 16K 4 5
fi
# lmm-long at 256K: 50 PK samples (10 per depth), seed 1, as two one-thread processes over the depths
# (README, "Longer samples"; LONGEST=0 skips it)
if [ "${LONGEST:-1}" = 1 ]; then
    pids=()
    for depths in 0,25,50:depths0-50 75,100:depths75-100; do
        titans eval niah "$dir/checkpoints/lmm-long" --tasks pk --lengths 256K --depths "${depths%%:*}" \
            --samples 10 --seed 1 --threads 1 --out "$dir/results/lmm-long/niah-pk-256K-n50-${depths##*:}" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do wait "$pid"; done  # each one's failure stops the script (set -e)
fi
# one million bytes of haystack, read in 16K blocks, the answer decoded token by token (MILLION=0 skips it)
if [ "${MILLION:-1}" = 1 ]; then
    titans eval niah "$dir/checkpoints/${BEST:-lmm}" --tasks pk --lengths 1000000 --depths 50 --samples 1 \
        --batch 1 --block 16384 --threads 2 --out "$dir/results/1m-pk"
fi
python "$dir/table.py" > "$dir/results/table.md"
