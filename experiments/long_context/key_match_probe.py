"""Do the memory's keys tell a repeated digit's two successors apart? (issue 25, "What caps MAC")

For S-NIAH-PK samples whose key holds some digit twice, read with the answer teacher-forced: at each
answer position whose current digit also occurs elsewhere in the key, compare the memory's query there
with the key the memory wrote at the right successor of that digit in the needle (the digit to answer
next) and with the key at the wrong one (what followed the digit's other occurrence; the key's end
for the last digit). Written keys and queries are unit vectors, and a write adds ``k^T delta`` to the
first layer, so ``q . k`` is the weight a write gets in the first layer of the read. Both needle
statements of the key count; the larger match of each kind is kept. Per memory (layer) and head: the
mean of right - wrong and how often right wins.

    python experiments/long_context/key_match_probe.py experiments/long_context/checkpoints/{mac,lmm,mag,mal}
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import torch

from titans.cli.loading import load_trained
from titans.eval.needles import PassKey
from titans.layers.neural_memory import NeuralMemory


def recorded_queries_and_keys(model) -> tuple[list[NeuralMemory], dict[int, list]]:
    """Every memory's q and k ([B, H, T, D]) of each call, in order (MAC calls once per segment)."""
    memories = [m for m in model.modules() if isinstance(m, NeuralMemory)]
    records = {id(m): [] for m in memories}
    for memory in memories:
        project = memory._project

        def recording(x, state, mask, reset, _project=project, _memory=memory):
            q, k, v, tails = _project(x, state, mask, reset)
            records[id(_memory)].append((q.detach(), k.detach()))
            return q, k, v, tails

        memory._project = recording
    return memories, records


def margins(path: str, samples: int, length: int, seed: int) -> dict[str, dict]:
    model, _ = load_trained(path)
    memories, records = recorded_queries_and_keys(model)
    task = PassKey(part="eval", keys="repeated")
    found = defaultdict(list)
    for i in range(samples):
        sample = task.sample(length, 0.5, seed + i)
        key = sample.answer
        for calls in records.values():
            calls.clear()
        text = sample.prompt + f" {key}.".encode()
        with torch.no_grad():
            model(torch.tensor([list(text)]))
        starts = [j for j in range(len(sample.prompt)) if sample.prompt[j:j + len(key)] == key.encode()]
        first_answer = len(sample.prompt) + 1  # after the space
        for a in range(1, len(key)):  # the digit at answer index a - 1 predicts the one at a
            # the other occurrences whose successor differs from the right one (else both predict alike)
            others = [b for b in range(len(key)) if key[b] == key[a - 1] and b != a - 1
                      and (key[b + 1] if b + 1 < len(key) else ".") != key[a]]
            if not others:
                continue
            t = first_answer + a - 1
            for layer, memory in enumerate(memories):
                # the text's own tokens: MAG and MAL first prime their memory with the persistent tokens
                q = torch.cat([c[0] for c in records[id(memory)]], dim=2)[0, :, -len(text):]
                k = torch.cat([c[1] for c in records[id(memory)]], dim=2)[0, :, -len(text):]
                for head in range(q.shape[0]):
                    right = max(float(q[head, t] @ k[head, s + a]) for s in starts)
                    wrong = max(float(q[head, t] @ k[head, s + b + 1]) for s in starts for b in others)
                    found[f"memory {layer} head {head}"].append(right - wrong)
    return {name: {"mean": sum(v) / len(v), "right_wins": sum(x > 0 for x in v) / len(v), "n": len(v)}
            for name, v in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = {}
    for path in args.checkpoints:
        results[path] = margins(path, args.samples, args.length, args.seed)
        for name, r in results[path].items():
            print(f"{path}: {name}: right - wrong {r['mean']:+.3f}, right wins {r['right_wins']:.0%} (n = {r['n']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"samples": args.samples, "length": args.length, "seed": args.seed, "results": results}, f,
                      indent=1)


if __name__ == "__main__":
    main()
