#!/usr/bin/env bash
# The copy stage with keys drawn from three digits each (induction_probe.py --task copy-repeats), so that the
# copy has to find the next digit from more than the last one (README, "What caps MAC"); then passkey
# stages, the repeated-digit probe, and 100 passkey samples at 16K (seeds 1 and 3, the committed MAC's sets).
#   bash experiments/long_context/copy_repeats.sh VARIANT            # from scratch: train.sh's MAC recipe (the
#       copy, 600 passkey steps at 512 bytes, 900 at 2K at lr 3e-4, where MAL diverged at train.sh's 1e-3) with
#       the copy on repeated digits; runs/rep-*-VARIANT
#   FROM=experiments/long_context/checkpoints/mac bash experiments/long_context/copy_repeats.sh mac
#       # from a trained model: 600 copy steps on repeated digits at lr 5e-4, then 300 passkey steps at 2K
#       # with answers on the segment boundary (README, "The answer's own writes"); runs/rep2-*-VARIANT
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=experiments/long_context
variant=${1:?usage: [FROM=CHECKPOINT] bash experiments/long_context/copy_repeats.sh VARIANT}
span=()
[ "$variant" = mac ] && span=(--set segment=32 --set window=32)
export OMP_NUM_THREADS=1
if [ -z "${FROM:-}" ]; then
    final=runs/rep-recall2k-$variant
    python "$dir/induction_probe.py" --config "$dir/recall.toml" --variant "$variant" --task copy-repeats \
        --length 128 --steps 600 "${span[@]}" --save "runs/rep-copy-$variant"
    titans train --config "$dir/recall.toml" --variant "$variant" --init "runs/rep-copy-$variant" --no-progress \
        --task-min-length 128 --steps 600 --warmup 30 --out "runs/rep-recall-$variant"
    titans train --config "$dir/recall.toml" --variant "$variant" --init "runs/rep-recall-$variant" --no-progress \
        --context 2048 --task-min-length 512 --task-questions 4 --steps 900 --lr 3e-4 --out "$final"
else
    final=runs/rep2-align-$variant
    python "$dir/induction_probe.py" --init "$FROM" --task copy-repeats --length 128 --steps 600 --lr 5e-4 \
        "${span[@]}" --save "runs/rep2-copy-$variant"
    titans train --config "$dir/recall.toml" --variant "$variant" --init "runs/rep2-copy-$variant" --no-progress \
        --context 2048 --task-min-length 512 --task-questions 4 --task-align 128 --steps 300 --lr 3e-4 \
        --warmup 20 --out "$final"
fi
python "$dir/repeat_probe.py" "$final" --lengths 512,4K --samples 40 --json "$final/repeat_probe.json"
for seed in 1 3; do
    titans eval niah "$final" --tasks pk --lengths 16K --samples 10 --seed "$seed" --out "$final/niah-pk-16K-seed$seed"
done
