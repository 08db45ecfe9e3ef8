"""How fast does a small model learn to copy a key from earlier in its context? (issue 5's obstacle)

The recall models of this folder never learned to copy the pass key. This probe asks the same question
on the smallest task that needs it: a row of random letters holds ``k=DDDDDD;`` once, at a random place,
and ends with ``k=``; the model must continue with the six digits (only those and the ``;`` are scored).
A model that cannot look the key up stays at chance (10 % per digit). It trains one model:

    python experiments/long_context/induction_probe.py --model titans --variant transformer
    python experiments/long_context/induction_probe.py --model reference    # a stock PyTorch encoder
    python experiments/long_context/induction_probe.py --set final_norm=false   # no norm before the head
    python experiments/long_context/induction_probe.py --min-length 32      # a length curriculum

Every 50 steps it prints the loss and, on a fixed held-out batch (32 rows at the full length), the
accuracy on the answer's bytes (the key's digits) and on its first byte.
The reference is torch's own pre-norm TransformerEncoder with learned absolute positions, N(0, 1)
embeddings, an untied head and no final norm, at the same width, depth and heads: what the field's
textbook model does on this task, in the same number of steps. The ablation flags swap one piece of
this project's model for the reference's at a time (--help) (experiments/long_context/README.md has the table).

It is also the first stage of the recall models' recipe: ``--config recall.toml --save DIR`` trains the
recall models' shape on this copy and saves it for ``titans train --init DIR`` on the passkey task.

``--task copy-letters`` draws the key from the letters a to z instead: the copy W's values need (the
mixture stages did not teach it; README "The mixture model"); ``--task copy-rare-letters`` from k to z,
letters the filler never holds, as it never holds a digit; ``--task copy-any`` from digits and letters
both (the first stage of a model that is to copy N's numbers and W's words).

``--task copy-repeats`` draws each key from three of the ten digits, so that almost every key repeats a
digit and the next digit cannot be found from the current one alone (README "What caps MAC").

``--cut h0`` / ``--cut m0`` trains MAC with one of its memory's two paths zeroed throughout (the reads h
in the attention's context, or the gate's input m; ``path_ablation.py``): which route can learn the copy.

``--task where`` asks the same of bAbI qa1's lookup: two people's moves among the random letters, then
"Where is NAME? Answer:", the place of that person's last move, the places random letters so that no
word list answers them; ``--init DIR`` starts from a trained model (a passkey model, say):

    python experiments/long_context/induction_probe.py --task where --init experiments/long_context/checkpoints/mal \
        --length 256 --min-length 192 --steps 800
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import math
import random
import string
import time

import torch
import torch.nn.functional as F
from torch import nn

from titans.cli.fields import parse_assignments
from titans.config import TitansConfig
from titans.eval.babi import MOVES, as_fact, as_question  # qa1's wording
from titans.eval.vocabulary import NAMES, part_of
from titans.layers.attention import SlidingWindowAttention
from titans.layers.feedforward import SwiGLU
from titans.layers.rope import RotaryEmbedding
from titans.models.lm import TitansLM
from titans.train.config import TrainConfig

LETTERS, DIGITS, ALPHABET = b"abcdefghij ", string.digits.encode(), string.ascii_lowercase.encode()
PLACE_LETTERS = "klmnopqrstuvwxyz"  # not the filler's letters: a place is never filler
KEY_DIGITS = 6


def copy_row(rng: random.Random, length: int, alphabet: bytes = DIGITS, symbols: int = 0) -> tuple[bytes, int]:
    """``length + 1`` bytes of random letters holding ``k=DDDDDD;`` once and ending with ``k=DDDDDD;``,
    and how many bytes at the end are scored (the key's digits and ``;``). ``alphabet`` is what the key
    is drawn from (``--task copy-letters``: a to z, the shape of W's values); ``symbols`` > 0 draws each
    key from that many of its symbols, chosen per row (``--task copy-repeats``: 3 digits, so that the
    digit after a repeated one depends on more than the last digit)."""
    if symbols:
        alphabet = bytes(rng.sample(alphabet, symbols))
    key = bytes(rng.choice(alphabet) for _ in range(KEY_DIGITS))
    needle, question = b"k=" + key + b";", b"k="
    room = length + 1 - len(needle) - len(question) - len(key) - 1
    filler = bytes(rng.choice(LETTERS) for _ in range(room))
    at = rng.randrange(room)
    return filler[:at] + needle + filler[at:] + question + key + b";", KEY_DIGITS + 1


def where_row(rng: random.Random, length: int) -> tuple[bytes, int]:
    """bAbI qa1's lookup with random-letter places: two people's moves ("Henry went to the qzvk. ") among
    random letters, then "Where is Henry? Answer: " and the place of that person's last move. The places
    are random letters, so no prior over a word list can answer: the model has to bind the name asked
    about to that person's last move and copy the place (the answer and its "." are scored). Copying the
    last fact's place instead is right in 64.6 % of rows (the asked person moved last: always when only
    one of the two moved, which 2-4 moves leave 7 times in 24; else half the time)."""
    people = rng.sample(part_of(NAMES, "train"), 2)
    where, facts = {}, []
    for _ in range(rng.randint(2, 4)):
        person = rng.choice(people)
        where[person] = "".join(rng.choice(PLACE_LETTERS) for _ in range(rng.randint(4, 7)))
        facts.append(as_fact(f"{person} {rng.choice(MOVES)} the {where[person]}"))
    person = rng.choice(sorted(where))
    question, answer = as_question(f"Where is {person}?"), f" {where[person]}.".encode()
    room = length + 1 - sum(map(len, facts)) - len(question) - len(answer)
    if room < 0:
        raise ValueError(f"--length {length} cannot hold a where-row's facts; use --length and --min-length "
                         f"of at least 192")
    cuts = sorted(rng.randrange(room + 1) for _ in facts)
    filler = bytes(rng.choice(LETTERS) for _ in range(room))
    body = b"".join(filler[a:b] + fact for a, b, fact in zip([0, *cuts], cuts, facts)) + filler[cuts[-1]:]
    return body + question + answer, len(answer) - 1  # the leading space is not scored


ROWS = {"copy": copy_row, "copy-letters": functools.partial(copy_row, alphabet=ALPHABET),
        "copy-rare-letters": functools.partial(copy_row, alphabet=PLACE_LETTERS.encode()),
        "copy-any": functools.partial(copy_row, alphabet=DIGITS + ALPHABET),
        "copy-repeats": functools.partial(copy_row, symbols=3), "where": where_row}


def batch(rng: random.Random, rows: int, length: int, task: str = "copy") -> tuple[torch.Tensor, torch.Tensor]:
    """``rows`` rows of ``length + 1`` bytes of ``task`` and the scored targets (the answer at the end)."""
    tokens = torch.empty(rows, length + 1, dtype=torch.long)
    scored = torch.zeros(rows, length, dtype=torch.bool)
    for r in range(rows):
        row, n_scored = ROWS[task](rng, length)
        tokens[r] = torch.tensor(list(row))
        scored[r, -n_scored:] = True
    return tokens, scored


class ReferenceEncoder(nn.Module):
    """A stock causal pre-norm transformer with learned absolute positions (the textbook baseline)."""

    def __init__(self, dim: int, layers: int, heads: int, length: int):
        super().__init__()
        self.embed, self.position = nn.Embedding(256, dim), nn.Embedding(length, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 256)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        x = self.embed(tokens) + self.position(torch.arange(T, device=tokens.device))
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=tokens.device)
        return self.head(self.encoder(x, mask=mask, is_causal=True))


def swap_modules(model: nn.Module, layer_norm: bool, gelu_mlp: bool, attention_bias: bool) -> None:
    """Replace the Llama-style pieces of ``model`` with the reference's, in place (ablations)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if attention_bias and isinstance(parent, SlidingWindowAttention) and isinstance(child, nn.Linear):
                biased = nn.Linear(child.in_features, child.out_features)
                biased.weight.data.copy_(child.weight.data)
                setattr(parent, name, biased)
            if layer_norm and isinstance(child, nn.RMSNorm):
                setattr(parent, name, nn.LayerNorm(child.normalized_shape))
            elif gelu_mlp and isinstance(child, SwiGLU):
                dim = child.down.out_features
                setattr(parent, name, nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("titans", "reference"), default="titans")
    parser.add_argument("--task", choices=tuple(ROWS), default="copy",
                        help="copy: the digits after k= (default); copy-letters, copy-rare-letters, copy-any: "
                             "letters (a-z; k-z, none in the filler; digits and a-z) after k=; copy-repeats: digits, "
                             "each key drawn from three of them; "
                             "where: qa1's lookup with random-letter places")
    parser.add_argument("--init", default=None, metavar="DIR",
                        help="titans: start from this save_pretrained folder (e.g. a passkey model) instead of "
                             "a fresh model; its shape replaces --config and --variant")
    parser.add_argument("--variant", default="transformer", help="titans variant (default: transformer)")
    parser.add_argument("--config", default=None, metavar="TOML",
                        help="titans: the model of `titans train --config TOML --variant VARIANT` (its preset and "
                             "[model] table; --dim, --layers and --heads are then unused) instead of the tiny "
                             "preset at --dim, --layers, --heads")
    parser.add_argument("--save", default=None, metavar="DIR",
                        help="titans: save the trained model here (save_pretrained), e.g. to start "
                             "`titans train --init DIR` from the copy it learned")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="titans model field, e.g. init_std=1.0 (repeatable)")
    parser.add_argument("--learned-positions", action="store_true",
                        help="titans: add learned absolute position embeddings to the token embeddings")
    parser.add_argument("--layer-norm", action="store_true", help="titans: LayerNorm in place of every RMSNorm")
    parser.add_argument("--gelu-mlp", action="store_true",
                        help="titans: the reference's GELU MLP (4 x dim, biases) in place of every SwiGLU")
    parser.add_argument("--attention-bias", action="store_true",
                        help="titans: biases on the attention's query, key, value and output maps")
    parser.add_argument("--no-rope", action="store_true", help="titans: attention without RoPE")
    parser.add_argument("--cut", choices=("h0", "m0"), default=None,
                        help="MAC: train and read with its h (h0) or its gate's m (m0) zero (path_ablation.py)")
    parser.add_argument("--linear-std", type=float, default=None,
                        help="titans: re-draw every linear weight (but the zero-initialised gates) from N(0, std^2)")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--length", type=int, default=256, help="bytes per row")
    parser.add_argument("--min-length", type=int, default=0,
                        help="train on lengths log-uniform in [min-length, length] (0: always length)")
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.init and args.model != "titans":
        parser.error("--init loads a titans model; it does not apply to --model reference")
    if args.save and (args.model != "titans" or args.learned_positions or args.layer_norm or args.gelu_mlp
                      or args.attention_bias or args.no_rope):
        parser.error("--save keeps an unmodified titans model (no swap flags): what TitansLM can load")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    if args.model == "reference":
        model = ReferenceEncoder(args.dim, args.layers, args.heads, args.length)
        forward = model
    else:
        changes = parse_assignments(args.set, "induction_probe.py: --set")
        if args.init:
            config = dataclasses.replace(TitansLM.from_pretrained(args.init).config, **changes)
        elif args.config:
            config = TrainConfig.from_file(args.config).replace(variant=args.variant).model_config(256)
            config = dataclasses.replace(config, **changes)
        else:
            fields = {"dim": args.dim, "layers": args.layers, "heads": args.heads, "memory_heads": args.heads,
                      "window": 128, "segment": 128, "memory_chunk": 16, "vocab_size": 256}
            config = TitansConfig.from_name("tiny", variant=args.variant, **fields | changes)
        model = TitansLM(config)
        if args.init:
            model.load_state_dict(TitansLM.from_pretrained(args.init).state_dict())
        swap_modules(model, args.layer_norm, args.gelu_mlp, args.attention_bias)
        if args.no_rope:
            for module in model.modules():
                if isinstance(module, RotaryEmbedding):
                    module.forward = lambda x, positions: x
        if args.linear_std is not None:
            for module in model.modules():
                if isinstance(module, nn.Linear) and module.weight.any():
                    nn.init.normal_(module.weight, std=args.linear_std)
        if args.learned_positions:  # the reference's position scheme, on top of RoPE
            model.position = nn.Embedding(args.length, args.dim)
            model.embed.register_forward_hook(
                lambda _, inputs, x: x + model.position(torch.arange(inputs[0].shape[1])))
        forward = lambda tokens: model(tokens)[0]
    cutting = contextlib.nullcontext()
    if args.cut:
        from path_ablation import cut  # here, not above: path_ablation imports this script

        cutting = cut(model, args.cut)
    with cutting:  # --save below keeps the weights, not the cut
        train(model, forward, rng, args)
    if args.save:
        model.save_pretrained(args.save)
        print(f"saved to {args.save}")


def train(model, forward, rng: random.Random, args) -> None:
    """AdamW on the task's rows, a held-out accuracy every 50 steps."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    held_out = batch(random.Random(args.seed + 1), 32, args.length, args.task)  # 192 digits for copy
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        # a length curriculum: each step's rows are log-uniform in [min_length, length] bytes
        length = round(math.exp(rng.uniform(math.log(args.min_length or args.length), math.log(args.length))))
        tokens, scored = batch(rng, args.rows, length, args.task)
        logits = forward(tokens[:, :-1])
        loss = F.cross_entropy(logits[scored], tokens[:, 1:][scored])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0:
            every, first = answer_accuracy(forward, *held_out)
            print(f"step {step}: loss {loss.item():.3f}, held-out accuracy at {args.length} bytes: answer bytes "
                  f"{every:.3f}, first byte {first:.3f}, {time.perf_counter() - start:.0f} s", flush=True)


@torch.no_grad()
def answer_accuracy(forward, tokens: torch.Tensor, scored: torch.Tensor) -> tuple[float, float]:
    """The fraction of answer bytes the model predicts (argmax, the end mark left out) on a fixed batch,
    and of first answer bytes (the one a lookup must find; the rest can be copied from the fact)."""
    targets = tokens[:, 1:]
    answer = scored & (targets != ord(";")) & (targets != ord("."))
    first = answer & (answer.cumsum(-1) == 1)
    hits = forward(tokens[:, :-1]).argmax(-1) == targets
    return hits[answer].float().mean().item(), hits[first].float().mean().item()


if __name__ == "__main__":
    main()
