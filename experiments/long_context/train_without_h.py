"""``titans train`` for a MAC whose reads h are zero in every block, for the whole run (issue 25).

``induction_probe.py --cut h0`` found that MAC learns the copy of repeated digits far better with h cut
(84.9 % of the answer bytes on two seeds against 50.5 %; README, "Which path carries the key"). This runs
a passkey stage the same way: the memory still writes and is read through the gate; only the
attention's context loses h (its slots stay, holding zeros, as ``path_ablation.py``'s ``h0``). The saved
model is an ordinary MAC (the cut is not a field of it); ``path_ablation.py`` reads it either way. Every
argument goes to ``titans train``:

    python experiments/long_context/train_without_h.py --config experiments/long_context/recall.toml \\
        --variant mac --init runs/copy-mac-h0 --task-min-length 128 --steps 600 --warmup 30 --out runs/recall-mac-h0
"""

import sys

from titans.cli import main
from titans.layers.neural_memory import NeuralMemory

from path_ablation import cut_read

if __name__ == "__main__":
    given = sys.argv[1:]
    if not any(a == "--variant=mac" or (a == "--variant" and given[i + 1:i + 2] == ["mac"]) for i, a in enumerate(given)):
        raise SystemExit("train_without_h.py cuts MAC's h: pass --variant mac")
    NeuralMemory.read = cut_read(NeuralMemory.read, "h0")  # MAC's h is the memory's only read without a write
    main(["train", *sys.argv[1:]])
