"""Is a memory model's fading gain deep in a novel its forgetting gate? Its memory weights along one novel,
with the gate as trained or forced shut (alpha = 0), and optionally the by-position reading without it.

    python experiments/wikipedia/forgetting_probe.py runs/wikipedia-bpe-8192-mal
    python experiments/wikipedia/forgetting_probe.py runs/wikipedia-bpe-8192-mal --no-forgetting \\
        --by-position-out runs/wikipedia-bpe-8192-mal/by_position_288_noforget

Reads the novel's first --tokens tokens in calls of 4,096 with the state carried and prints, every 16K
tokens, the call's bits per token and each memory's largest per-head weight norm |W| as it leaves the call.
With --by-position-out, then runs run_all.sh's by-position reading (reset every 288 tokens, about 1K bytes
of these novels) with the same gate.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from titans import NeuralMemory
from titans.cli import main as titans_main
from titans.cli.loading import load_trained
from titans.data import load_documents

CALL = 4096


def shut_forgetting() -> None:
    """Every NeuralMemory keeps all of its weights each token: log(1 - alpha) = 0."""
    gates = NeuralMemory._gates

    def without_forgetting(self, x):
        theta, log_eta, log_keep = gates(self, x)
        return theta, log_eta, torch.zeros_like(log_keep)

    NeuralMemory._gates = without_forgetting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a titans train run folder of a memory model")
    parser.add_argument("--novel", default="EMMA", help="start of the Austen novel's text (default: EMMA)")
    parser.add_argument("--tokens", type=int, default=65536, help="tokens read (default: 65536)")
    parser.add_argument("--no-forgetting", action="store_true", help="force alpha = 0 in every memory")
    parser.add_argument("--by-position-out", help="also run the by-position reading into this folder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.no_forgetting:
        shut_forgetting()
    model, tokenizer = load_trained(args.run)[:2]
    novel = next(d for d in load_documents("austen") if d.text.startswith(args.novel))
    ids = torch.tensor(tokenizer.encode(novel.text)[:args.tokens + 1])
    memories = [m for m in model.modules() if isinstance(m, NeuralMemory)]
    norms = {}
    for index, memory in enumerate(memories):
        memory.register_forward_hook(lambda m, i, o, index=index: norms.__setitem__(
            index, max(float(w.float().norm(dim=(-2, -1)).max()) for w in o[1].weights)))
    state = None
    with torch.no_grad():
        for start in range(0, len(ids) - 1, CALL):
            x, y = ids[None, start:start + CALL], ids[None, start + 1:start + CALL + 1]
            logits, state = model(x[:, :y.shape[1]], state)
            if start % 16384 == 0:
                bits = F.cross_entropy(logits[0], y[0]).item() / math.log(2)
                print(f"tokens {start:6d}-{start + CALL}: {bits:.3f} bits per token, |W| per memory "
                      + " / ".join(f"{norms[i]:.2f}" for i in range(len(memories))), flush=True)
    if args.by_position_out:
        titans_main(["eval", "ppl", args.run, "--by-position", "--data", "austen", "--split", "all",
                     "--length", "65536", "--documents", "4", "--context", "1024", "--limit", "288",
                     "--first-bin", "256", "--no-progress", "--out", args.by_position_out])


if __name__ == "__main__":
    main()
