#!/usr/bin/env bash
# Train the recall models in stages and export them in bfloat16 under checkpoints/:
#   1. the copy (induction_probe.py: a 6-digit key in 128 random letters, 600 steps, a few minutes), in
#      the recall models' shape (recall.toml; MAC with 32-byte segments), saved to runs/copy-VARIANT;
#   2. the passkey task (tasks:pk, samples of 128-512 bytes packed per row, 1,200 steps) from there;
#   3. for the variants in LONG (default: lmm mac), 1,200 more passkey steps (MAC: 900) on samples of 512-2,048 bytes,
#      one row of 2,048 per step, each sample asking the question four times (README, "The recall models").
#   4. for the variants in MIX (default: lmm), two more stages on the S-NIAH mixture at 2K from stage 3,
#      PK + N, then PK + N + W, 1,200 steps each at lr 3e-4 (1e-3 diverged on prose), exported as VARIANT-mix.
#   5. for the variants in LONGER (default: lmm), two more passkey stages from stage 3 on longer samples, lr 3e-4:
#      300 steps on one row of 8K packed with samples of 2-8K bytes, then 200 on one row of 16K packed with
#      samples of 4-16K (24.8 and 36.1 minutes on one thread, beside evaluations), exported as VARIANT-long (README, "Longer samples").
#   6. for the variants in WORDS (default: lmm), a model that copies letters as well as digits, from a fresh
#      start: the copy stage on keys of digits and letters (600 + 400 steps), then PK + N + W at 512 bytes
#      (1,200 steps), with W half of the mixture (900), then at 2K (1,200), 8K (300) and 16K (200, twice, on
#      other samples the second time), exported as VARIANT-w
#      (README, "W: a model that copies letters").
#   7. for the variants in NUMBERS (default: mac), one PK + N stage at 2K from stage 3 (900 steps, lr 3e-4, half the
#      samples ending their prompt on a segment boundary), exported as VARIANT-n (README, "MAC on PK + N").
#   8. for the variants in EIGHT (default: mag mal), LMM's 8K passkey stage (the first of LONGER: 300 steps on one
#      row of 8K packed with samples of 2-8K bytes, lr 3e-4) from their last stage, exported as VARIANT-8k
#      (README, "MAG and MAL on LMM's 8K stage"; the committed ones ran from the committed bf16 mag and mal).
#   9. for the variants in SIXTEEN (default: mal mag; among EIGHT's), LMM's 16K passkey stage (the second of LONGER:
#      200 steps on one row of 16K packed with samples of 4-16K bytes, lr 3e-4) from stage 8's run, exported as
#      VARIANT-16k (README, "MAL and MAG on LMM's 16K stage") unless the variant goes on to stage 10.
#  10. for the variants in THIRTYTWO (default: mag; among SIXTEEN's), a 32K passkey stage (100 steps on one row of
#      32K packed with samples of 8-32K bytes, lr 3e-4) from stage 9's run, exported as VARIANT-32k
#      (README, "A 32K stage for MAG").
# VARIANTS picks the models (default: every variant); one thread each, so two can run side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=experiments/long_context

# stage FROM OUT [titans train options]: one training stage of $variant from the run FROM, on one thread
stage() {
    local from=$1 out=$2
    shift 2
    OMP_NUM_THREADS=1 titans train --config "$dir/recall.toml" --variant "$variant" --init "$from" --no-progress \
        --out "$out" "${shape[@]}" "$@"
}

# longer FROM OUT CONTEXT SHORTEST STEPS: a passkey stage on one row of CONTEXT bytes packed with samples of
# SHORTEST to CONTEXT bytes, four questions each, lr 3e-4, a tenth of the steps warming up (LMM's 8K and 16K stages)
longer() {
    stage "$1" "$2" --context "$3" --batch-tokens "$3" --task-min-length "$4" --task-questions 4 --steps "$5" \
        --warmup "$(($5 / 10))" --lr 3e-4 --eval-every 100 --eval-tokens 16384
}

for variant in ${VARIANTS:-lmm mag mac mal transformer swa}; do
    # the committed models but MAC's were trained before the cpu preset (recall.toml's base) took its memory
    # MLP from expansion 4 to 2; MAC was trained after
    shape=()
    [ "$variant" != mac ] && shape=(--set memory_expansion=4)
    # MAC's copy stage runs segments of 32 bytes, so that a key earlier in the row reaches the question
    # through the memory (h), not through attention (README, "Why MAC did not retrieve")
    span=()
    [ "$variant" = mac ] && span=(--set segment=32 --set window=32)
    OMP_NUM_THREADS=1 python "$dir/induction_probe.py" --config "$dir/recall.toml" --variant "$variant" \
        --length 128 --steps 600 "${shape[@]}" "${span[@]}" --save "runs/copy-$variant"
    # MAC's committed model ran shorter passkey stages (600 and 900 steps; README, "Why MAC did not retrieve")
    passkey=() long_steps=1200
    [ "$variant" = mac ] && passkey=(--steps 600 --warmup 30) && long_steps=900
    stage "runs/copy-$variant" "runs/recall-$variant" --task-min-length 128 "${passkey[@]}"
    final="runs/recall-$variant"
    if [[ " ${LONG-lmm mac} " == *" $variant "* ]]; then
        stage "$final" "runs/recall2k-$variant" --context 2048 --task-min-length 512 --task-questions 4 \
            --steps "$long_steps" --lr 1e-3
        final="runs/recall2k-$variant"
    fi
    titans export "$final" "$dir/checkpoints/$variant" --dtype bfloat16
    if [[ " ${MIX-lmm} " == *" $variant "* ]]; then
        previous="$final"
        for mixture in pk,n pk,n,w; do
            stage "$previous" "runs/mix-${mixture//,/}-$variant" --data "tasks:$mixture" --context 2048 \
                --task-min-length 512 --task-questions 4 --steps 1200 --lr 3e-4
            previous="runs/mix-${mixture//,/}-$variant"
        done
        titans export "$previous" "$dir/checkpoints/$variant-mix" --dtype bfloat16
    fi
    if [[ " ${NUMBERS-mac} " == *" $variant "* ]]; then
        stage "$final" "runs/numbers-$variant" --data tasks:pk,n --context 2048 --task-min-length 512 \
            --task-questions 4 --task-align 128 --steps 900 --lr 3e-4
        titans export "runs/numbers-$variant" "$dir/checkpoints/$variant-n" --dtype bfloat16
    fi
    if [[ " ${LONGER-lmm} " == *" $variant "* ]]; then
        previous="$final"
        for spec in 8192:2048:300 16384:4096:200; do
            IFS=: read -r context shortest steps <<< "$spec"
            out="runs/recall$((context / 1024))k-$variant"
            longer "$previous" "$out" "$context" "$shortest" "$steps"
            previous="$out"
        done
        titans export "$previous" "$dir/checkpoints/$variant-long" --dtype bfloat16
    fi
    if [[ " ${EIGHT-mag mal} " == *" $variant "* ]]; then
        longer "$final" "runs/recall8k-$variant" 8192 2048 300
        titans export "runs/recall8k-$variant" "$dir/checkpoints/$variant-8k" --dtype bfloat16
        if [[ " ${SIXTEEN-mal mag} " == *" $variant "* ]]; then
            longer "runs/recall8k-$variant" "runs/recall16k-$variant" 16384 4096 200
            if [[ " ${THIRTYTWO-mag} " == *" $variant "* ]]; then
                longer "runs/recall16k-$variant" "runs/recall32k-$variant" 32768 8192 100
                titans export "runs/recall32k-$variant" "$dir/checkpoints/$variant-32k" --dtype bfloat16
            else
                titans export "runs/recall16k-$variant" "$dir/checkpoints/$variant-16k" --dtype bfloat16
            fi
        fi
    fi
    if [[ " ${WORDS-lmm} " == *" $variant "* ]]; then
        OMP_NUM_THREADS=1 python "$dir/induction_probe.py" --config "$dir/recall.toml" --variant "$variant" \
            --task copy-any --length 128 --steps 600 "${shape[@]}" --save "runs/copyany-$variant"
        OMP_NUM_THREADS=1 python "$dir/induction_probe.py" --init "runs/copyany-$variant" --task copy-any \
            --length 128 --steps 400 --seed 1 --save "runs/copyany2-$variant"
        previous="runs/copyany2-$variant"
        # mixture:context:batch tokens:steps:shortest sample:questions:lr:warm-up:seed (the 16K stage
        # twice, the second on other samples)
        for spec in pk,n,w:512:2048:1200:128:1:1e-3:50:0 pk,n,w,w:512:2048:900:128:1:1e-3:50:0 \
                pk,n,w,w:2048:2048:1200:512:4:3e-4:50:0 pk,n,w,w:8192:8192:300:2048:4:3e-4:30:0 \
                pk,n,w,w:16384:16384:200:4096:4:3e-4:20:0 pk,n,w,w:16384:16384:200:4096:4:3e-4:20:1; do
            IFS=: read -r mixture context batch steps shortest questions lr warmup seed <<< "$spec"
            out="runs/words-${mixture//,/}-$context-s$seed-$variant"
            stage "$previous" "$out" --data "tasks:$mixture" --context "$context" --batch-tokens "$batch" \
                --task-min-length "$shortest" --task-questions "$questions" --steps "$steps" --lr "$lr" \
                --warmup "$warmup" --seed "$seed"
            previous="$out"
        done
        titans export "$previous" "$dir/checkpoints/$variant-w" --dtype bfloat16
    fi
done
