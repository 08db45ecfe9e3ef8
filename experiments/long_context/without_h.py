"""Any ``titans`` command with MAC's reads h zero in every block (issue 25).

``induction_probe.py --cut h0`` found that MAC learns the copy of repeated digits far better with h cut
(84.9 % of the answer bytes on two seeds against 50.5 %; README, "Which path carries the key"). This runs
a training stage, or an evaluation of a model so trained, the same way: the memory still writes and is
read through the gate; only the attention's context loses h (its slots stay, holding zeros, as
``path_ablation.py``'s ``h0``). A model saved this way is an ordinary MAC (the cut is not a field of it).
The arguments are ``titans``'s:

    python experiments/long_context/without_h.py train --config experiments/long_context/recall.toml \\
        --variant mac --init runs/copy-mac-h0 --task-min-length 128 --steps 600 --warmup 30 --out runs/recall-mac-h0
    python experiments/long_context/without_h.py eval niah runs/recall-mac-h0 --tasks pk --lengths 16K
"""

import sys

from titans.cli import main
from titans.layers.neural_memory import NeuralMemory

from path_ablation import cut_read

if __name__ == "__main__":
    read_any = [False]
    cut = cut_read(NeuralMemory.read, "h0")

    def read(*args, **kwargs):
        read_any[0] = True
        return cut(*args, **kwargs)

    NeuralMemory.read = read  # MAC's h is the memory's only read without a write
    try:
        main(sys.argv[1:])
    finally:
        if not read_any[0]:
            print("without_h.py: no MAC read an h, so nothing was cut (is the model a MAC?)", file=sys.stderr)
