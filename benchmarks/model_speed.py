"""Training and decoding speed and memory of the whole language model, for every variant.

    python benchmarks/model_speed.py                  # preset small, all six variants, T = 1K..32K
    python benchmarks/model_speed.py --preset tiny --lengths 64 128 --decode-lengths 32 64 --decode-tokens 4 --reps 1

Training: one forward + backward (next-token cross-entropy on random tokens, batch 1) per step. All
variants' models live in one process and run alternately, so that machine noise hits them alike; after
a warm-up step per variant, the median of --reps steps gives tokens/s. Transformer++ (full attention)
is skipped above --max-transformer-length. Decoding: the context is read in --prefill-block pieces
under no_grad, carrying the state; then --decode-tokens single-token steps, alternating between
variants, give the median ms/token. The state's size is the bytes of the tensors it holds.
Peak memory: each (variant, length) in a fresh process forked from a server that has imported torch
(a fresh interpreter per figure would spend ~3 s importing it), after a warm-up, as the rise of the
resident set's high-water mark above the live memory (CPU, Linux; freed heap is first returned with
malloc_trim) or of the CUDA allocator's peak above what was allocated. At the end: JSON rows (--json),
two markdown tables and the issue's checks, each met / missed with its numbers.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time

import torch
import torch.nn.functional as F
from peak import peak_mib

from titans.config import VARIANTS, TitansConfig
from titans.models.lm import TitansLM

TITANS = ("mac", "mag", "mal", "lmm")


def build(preset: str, variant: str, device: str, checkpointing: bool = False) -> TitansLM:
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name(preset, variant=variant)).to(device)
    model.gradient_checkpointing = checkpointing
    return model


def random_tokens(model: TitansLM, n: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, model.config.vocab_size, (1, n), generator=g).to(device)


def timed(fn, device: str):
    """(seconds, what fn returned), CUDA work included."""
    sync = torch.cuda.synchronize if device == "cuda" else lambda: None
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def train_step(model: TitansLM, tokens: torch.Tensor) -> None:
    model.zero_grad(set_to_none=True)  # every step allocates its gradients afresh, as the first one did
    logits, _ = model(tokens[:, :-1])
    F.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten()).backward()


@torch.no_grad()
def prefill(model: TitansLM, tokens: torch.Tensor, block: int):
    state = None
    for start in range(0, tokens.shape[1], block):
        logits, state = model(tokens[:, start : start + block], state)
    return logits[:, -1].argmax(-1), state


@torch.no_grad()
def decode_step(model: TitansLM, token: torch.Tensor, state):
    logits, state = model(token[:, None], state)
    return logits[:, -1].argmax(-1), state


def state_tensors(value, out: dict) -> dict:
    """Every tensor reachable from a state, by id (MAC's segment weights may be its memory's weights)."""
    if isinstance(value, torch.Tensor):
        out[id(value)] = value
    elif hasattr(value, "tensors"):  # MemoryState, AttentionState, MACState
        state_tensors(value.tensors(), out)
    elif isinstance(value, (dict, list, tuple)):
        for v in value.values() if isinstance(value, dict) else value:
            state_tensors(v, out)
    return out


def state_bytes(state) -> tuple[int, int]:
    """(bytes of the tensors, bytes of their storages): a view into a larger buffer keeps all of it alive."""
    tensors = state_tensors(state.layers, {}).values()
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return sum(t.numel() * t.element_size() for t in tensors), sum(storages.values())


def peak_memory_worker(kind: str, variant: str, n: int, args: argparse.Namespace) -> float:
    """Run in a fresh process: the peak memory (MiB) that one training step, or a prefill of n tokens
    and the decoding after it, adds above what is live after a warm-up."""
    if args.threads:
        torch.set_num_threads(args.threads)
    model = build(args.preset, variant, args.device, args.checkpointing)
    tokens = random_tokens(model, n + 1, args.device)

    def work(tokens):
        if kind == "train":
            train_step(model, tokens)
            model.zero_grad(set_to_none=True)
        else:
            token, state = prefill(model, tokens, args.prefill_block)
            for _ in range(args.decode_tokens):
                token, state = decode_step(model, token, state)

    # warm-up (thread pools, lazy init): a whole step; for decoding one block and the steps after it
    work(tokens if kind == "train" else tokens[:, : min(n, args.prefill_block)])
    return peak_mib(lambda: work(tokens if kind == "train" else tokens[:, :n]), args.device)


def peak_memory(pool, kind: str, variant: str, n: int, args) -> float:
    if args.memory_runs == 0:
        return float("nan")
    return statistics.median(pool.apply(peak_memory_worker, (kind, variant, n, args)) for _ in range(args.memory_runs))


def table(rows, key: str, variants, cell) -> None:
    print(f"| {key} | " + " | ".join(variants) + " |\n|---|" + "---|" * len(variants))
    for n in dict.fromkeys(r[key] for r in rows):
        cells = {r["variant"]: cell(r) for r in rows if r[key] == n}
        print(f"| {n} | " + " | ".join(cells.get(v, "skipped") for v in variants) + " |")


def check(what: str, met: bool, numbers: str) -> None:
    print(f"- {what}: **{'met' if met else 'missed'}** ({numbers})")


def checks(train, decode, variants, lengths, contexts, max_tf: int) -> None:
    titans = [v for v in variants if v in TITANS]
    secs = {(r["variant"], r["T"]): r["T"] / r["tok_s"] for r in train}
    lo, hi = (4096, 32768) if {4096, 32768} <= set(lengths) else (min(lengths), max(lengths))
    bound = 9 / 8 * hi / lo  # x9 from 4K to 32K: linear time with 12.5 % slack
    if hi > lo:
        for v in titans:
            r = secs[v, hi] / secs[v, lo]
            check(f"{v} step time T={hi} <= {bound:.3g} x T={lo}", r <= bound, f"x{r:.2f}")
        if "transformer" in variants:
            if ("transformer", hi) in secs:
                r = secs["transformer", hi] / secs["transformer", lo]
                check(f"transformer step time T={hi} grows faster than x{bound:.3g} of T={lo}", r > bound, f"x{r:.2f}")
            else:
                print(f"- transformer step time T={hi} grows faster: skipped (T > --max-transformer-length {max_tf})")
    measured = [n for n in lengths if ("transformer", n) in secs]
    if "transformer" in variants and titans and measured:
        at = 16384 if 16384 in measured else max(measured)
        for v in titans:
            tok = {u: at / secs[u, at] for u in (v, "transformer")}
            check(f"{v} tok/s > transformer's at T={at}", tok[v] > tok["transformer"],
                  f"{tok[v]:.0f} vs {tok['transformer']:.0f}")
    lo, hi = min(contexts), max(contexts)
    if hi > lo:
        by = {(r["variant"], r["context"]): r for r in decode}
        for v in titans:
            for field, unit, fmt in (("ms_per_token", "ms/token", ".2f"), ("state_bytes", "state bytes", "d")):
                a, b = by[v, lo][field], by[v, hi][field]
                check(f"{v} {unit} at context {hi} <= 1.2 x context {lo}", b <= 1.2 * a, f"{b:{fmt}} vs {a:{fmt}}")
        if "transformer" in variants:
            a, b = by["transformer", lo]["state_bytes"], by["transformer", hi]["state_bytes"]
            check(f"transformer state grows from context {lo} to {hi}", b > a, f"{a} -> {b} bytes")
    by = {(r["variant"], r["context"]): r for r in decode}
    for n in contexts:
        for v in titans:
            ms = by[v, n]["ms_per_token"]
            if "swa" in variants:
                swa = by["swa", n]["ms_per_token"]
                check(f"{v} decodes at <= 1.5 x swa's ms/token at context {n}", ms <= 1.5 * swa,
                      f"{ms:.2f} vs {swa:.2f}, x{ms / swa:.2f}")
            if "transformer" in variants and n >= 8192:
                tf = by["transformer", n]["ms_per_token"]
                check(f"{v} decodes faster than transformer at context {n}", ms < tf, f"{ms:.2f} vs {tf:.2f}")
            if (v, n) in secs:
                ratio = by[v, n]["prefill_tok_s"] * secs[v, n] / n
                check(f"{v} prefill (no grad) >= 3 x its training tok/s at {n}", ratio >= 3, f"x{ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", help="model preset (titans.config.PRESETS)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, help="variants to run")
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384, 32768],
                        help="training context lengths T")
    parser.add_argument("--reps", type=int, default=3, help="timed training steps per length and variant")
    parser.add_argument("--max-transformer-length", type=int, default=16384,
                        help="skip Transformer++ training above this T (full attention is quadratic)")
    parser.add_argument("--decode-lengths", type=int, nargs="+", default=[1024, 8192, 32768],
                        help="contexts read before decoding")
    parser.add_argument("--prefill-block", type=int, default=1024, help="tokens per call while reading the context")
    parser.add_argument("--decode-tokens", type=int, default=32, help="timed single-token decoding steps")
    parser.add_argument("--memory-runs", type=int, default=1,
                        help="fresh processes per peak-memory figure (median); 0 skips peak memory (a fresh process "
                             "runs each step again: the run takes about twice as long)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice); on a shared "
                        "machine, fewer threads than free cores avoids threads waiting on each other")
    parser.add_argument("--checkpointing", action="store_true",
                        help="recompute each block in the backward pass (all variants alike): activation memory of "
                             "one block, so that 32K tokens fit in 24 GB")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    # forkserver: each peak-memory figure gets a fresh process (one process cannot split its peak),
    # forked from a server that imported torch but ran nothing (no thread pools, no CUDA context)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "titans.models.lm"])
    pool = ctx.Pool(1, maxtasksperchild=1)
    variants, device = args.variants, args.device
    models = {v: build(args.preset, v, device, args.checkpointing) for v in variants}
    train, decode = [], []

    for T in args.lengths:
        run = [v for v in variants if v != "transformer" or T <= args.max_transformer_length]
        tokens = {v: random_tokens(models[v], T + 1, device) for v in run}
        for v in run:  # warm-up (first-call allocations, lazy init)
            train_step(models[v], tokens[v])
        times = {v: [] for v in run}
        for _ in range(args.reps):
            for v in run:
                times[v].append(timed(lambda: train_step(models[v], tokens[v]), device)[0])
        for v in run:
            row = {"kind": "train", "variant": v, "T": T, "tok_s": T / statistics.median(times[v]),
                   "peak_mib": peak_memory(pool, "train", v, T, args)}
            train.append(row)
            print(json.dumps(row), flush=True)

    for n in args.decode_lengths:
        tokens = {v: random_tokens(models[v], n, device) for v in variants}
        states, nbytes = {}, {}
        prefill_s = {}
        for v in variants:
            prefill_s[v], (token, state) = timed(lambda: prefill(models[v], tokens[v], args.prefill_block), device)
            nbytes[v] = state_bytes(state)
            states[v] = decode_step(models[v], token, state)  # warm-up step, untimed
        times = {v: [] for v in variants}
        for _ in range(args.decode_tokens):
            for v in variants:
                seconds, states[v] = timed(lambda: decode_step(models[v], *states[v]), device)
                times[v].append(seconds)
        del states
        for v in variants:
            row = {"kind": "decode", "variant": v, "context": n, "ms_per_token": 1e3 * statistics.median(times[v]),
                   "prefill_tok_s": n / prefill_s[v],
                   "state_bytes": nbytes[v][0], "state_storage_bytes": nbytes[v][1],
                   "peak_mib": peak_memory(pool, "decode", v, n, args)}
            decode.append(row)
            print(json.dumps(row), flush=True)
    pool.close()

    print(f"\npreset {args.preset}, device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print("\nTraining step (forward + backward, batch 1): tokens/s / peak MiB\n")
    table(train, "T", variants, lambda r: f"{r['tok_s']:.0f} / {r['peak_mib']:.0f}")
    if "transformer" in variants and max(args.lengths) > args.max_transformer_length:
        print(f"\nTransformer++ skipped above T = {args.max_transformer_length} (--max-transformer-length).")
    print("\nDecoding after a context: ms/token / state MiB\n")
    table(decode, "context", variants, lambda r: f"{r['ms_per_token']:.2f} / {r['state_bytes'] / 2**20:.2f}")
    print("\nChecks:")
    checks(train, decode, variants, args.lengths, args.decode_lengths, args.max_transformer_length)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(train + decode, f, indent=1)


if __name__ == "__main__":
    main()
