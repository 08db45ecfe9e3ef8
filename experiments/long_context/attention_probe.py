"""Where MAC's answer tokens attend (issue 25, "What caps MAC"): the persistent tokens, the memory's
reads h (their own, the segment's first token's) or the segment's tokens (the one after an earlier
occurrence of the same digit, which an induction head over the answer itself would pick).

S-NIAH-PK samples with a repeated digit in the key, the answer teacher-forced; each attention's weights
are recomputed from the query, keys and mask it was called with. Per block and head, the mean weight
at answer positions whose digit is new to the answer ("first") and at those repeating an earlier one.

    python experiments/long_context/attention_probe.py experiments/long_context/checkpoints/mac --length 512
"""

from __future__ import annotations

import argparse
import json
import math
import types
from collections import defaultdict

import torch
import torch.nn.functional as F

import titans.layers.segment_attention as segment_attention
from titans.cli.loading import load_trained
from titans.eval.needles import PassKey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model, _ = load_trained(args.checkpoint)
    if model.config.variant != "mac":
        parser.error(f"{args.checkpoint} is a {model.config.variant} model: the probe reads MAC's segment attention")
    calls = []  # (q, k, mask) of every call: the first MAC block over all segments, then the next, ...
    sdpa = F.scaled_dot_product_attention

    def recording(q, k, v, attn_mask=None, enable_gqa=False, **options):
        calls.append((q, k, attn_mask))
        return sdpa(q, k, v, attn_mask=attn_mask, enable_gqa=enable_gqa, **options)

    segment_attention.F = types.SimpleNamespace(scaled_dot_product_attention=recording)
    segment, sinks = model.config.segment, model.config.persistent
    # the MAC blocks, in order (with memory_layers set the others are SWA blocks, whose attention is not recorded)
    blocks = [i for i in range(len(model.blocks)) if model.config.block_variant(i) == "mac"]
    weights = defaultdict(list)
    task = PassKey(part="eval", keys="repeated")
    for i in range(args.samples):
        sample = task.sample(args.length, 0.5, args.seed + i)
        key = sample.answer
        text = sample.prompt + f" {key}.".encode()
        calls.clear()
        with torch.no_grad():
            model(torch.tensor([list(text)]))
        segments = math.ceil(len(text) / segment)
        first = len(sample.prompt) + 1
        for a in range(1, len(key)):  # the digit at answer index a - 1, predicting the one at a
            t = first + a - 1
            earlier = [b for b in range(a - 1) if key[b] == key[a - 1]]
            kind = "repeat" if earlier else "first"
            at = t - (t // segment) * segment  # the query's place in its segment
            for rank, block in enumerate(blocks):
                q, k, mask = calls[rank * segments + t // segment]
                k = k.repeat_interleave(q.shape[1] // k.shape[1], dim=1)
                scores = torch.einsum("hd,hkd->hk", q[0, :, at], k[0]) / math.sqrt(q.shape[-1])
                w = scores.masked_fill(~mask[0, 0, at], float("-inf")).softmax(-1)
                n = (k.shape[2] - sinks) // 2  # keys: sinks, then h, then the segment's tokens
                h, s = w[:, sinks:sinks + n], w[:, sinks + n:]
                for head in range(w.shape[0]):
                    name = f"block {block} head {head} {kind}"
                    weights[f"{name}: sinks"].append(float(w[head, :sinks].sum()))
                    weights[f"{name}: all h"].append(float(h[head].sum()))
                    weights[f"{name}: own h"].append(float(h[head, at]))
                    weights[f"{name}: h of the segment's first token"].append(float(h[head, 0]))
                    if earlier:
                        after = first + earlier[-1] + 1 - (t // segment) * segment
                        if 0 <= after < n:
                            weights[f"{name}: token after the earlier same digit"].append(float(s[head, after]))
    means = {name: sum(v) / len(v) for name, v in sorted(weights.items())}
    for name, mean in means.items():
        print(f"{name}: {mean:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoint": args.checkpoint, "length": args.length, "samples": args.samples, "mean": means},
                      f, indent=1)


if __name__ == "__main__":
    main()
