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

from torch.nn.modules.module import register_module_forward_pre_hook

from titans.cli import main
from titans.layers.segment_attention import SegmentAttention

from path_ablation import second_argument_cut

if __name__ == "__main__":
    read_any = [False]
    cut = second_argument_cut("h0")

    def hook(module, args):
        if isinstance(module, SegmentAttention):  # MAC's attention is the only one given h
            read_any[0] = True
            return cut(module, args)
        return None

    register_module_forward_pre_hook(hook)
    try:
        main(sys.argv[1:])
    finally:
        if not read_any[0]:
            print("without_h.py: no MAC read an h, so nothing was cut (is the model a MAC?)", file=sys.stderr)
