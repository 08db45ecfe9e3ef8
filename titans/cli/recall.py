"""``titans eval niah`` and ``titans eval babilong``: long-context recall of a trained model, by length."""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

from ..eval.catalog import BABI_TASKS, NIAH_TASKS, make_tasks
from ..eval.grid import grid_cells, parse_length, run_grid
from ..eval.needles import MagicWord
from ..eval.report import markdown_table, write_results
from .loading import load_trained
from .progress import add_progress_option, progress_bar, say

_LENGTHS = "1K,2K,4K,8K,16K,32K,64K,128K"


def add_parsers(tasks) -> None:
    niah = tasks.add_parser("niah", help="S-NIAH (RULER's single needle: pk, n, w) by length and depth")
    _common(niah, NIAH_TASKS, samples=10)
    niah.add_argument("--depths", default="0,25,50,75,100",
                      help="needle depths in percent of the haystack (default: 0,25,50,75,100)")
    niah.add_argument("--value", choices=("word", "uuid"), default="word",
                      help="what the W needle hides: a word or a UUID (default: word)")
    babilong = tasks.add_parser("babilong", help="bAbI-style qa1-qa5, facts scattered through prose, by length")
    _common(babilong, BABI_TASKS, samples=50)


def _common(p: argparse.ArgumentParser, task_names: tuple[str, ...], samples: int) -> None:
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    p.add_argument("--tasks", default=",".join(task_names), help=f"comma-separated (default: {','.join(task_names)})")
    p.add_argument("--lengths", default=_LENGTHS, help=f"prompt lengths in bytes, K = 1024 (default: {_LENGTHS})")
    p.add_argument("--max-length", default=None,
                   help="skip longer lengths (e.g. 32K for full attention on a CPU; default: none)")
    p.add_argument("--samples", type=int, default=samples, help=f"samples per cell (default: {samples})")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples (default: 0)")
    p.add_argument("--haystack", default=None,
                   help="prose to hide the facts in: a corpus recipe or a text file/folder (default: austen, "
                        "which no training mixture reads)")
    p.add_argument("--batch", type=int, default=8, help="prompts read side by side (default: 8)")
    p.add_argument("--block", type=int, default=4096, help="tokens per call while reading (default: 4096)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--out", default=None, help="results folder (default: CHECKPOINT/eval-TASKS)")
    add_progress_option(p)
    p.set_defaults(run=run_recall, task_names=task_names)


def _tasks(args) -> list[str]:
    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    wrong = [n for n in names if n not in args.task_names]
    if wrong or not names:
        raise ValueError(f"--tasks {args.tasks!r}: choose among {', '.join(args.task_names)}")
    return names


def run_recall(args: argparse.Namespace) -> None:
    if args.samples < 1 or args.batch < 1 or args.block < 1:
        raise ValueError("--samples, --batch and --block must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = _tasks(args)
    lengths = [parse_length(n) for n in args.lengths.split(",")]
    cap = parse_length(args.max_length) if args.max_length else None
    depths = [None]
    if args.task == "niah":
        depths = [float(d) / 100 for d in args.depths.split(",")]
        if any(not 0 <= d <= 1 for d in depths):
            raise ValueError(f"--depths are percentages between 0 and 100, got {args.depths!r}")
    model, tokenizer = load_trained(args.checkpoint, args.device)
    if tokenizer.vocab_size != 256:
        raise ValueError("the long-context tasks are measured in bytes: evaluate a byte-level model "
                         "(trained with --tokenizer bytes)")
    tasks = make_tasks(names, "eval", args.haystack)
    if "w" in tasks:
        tasks["w"] = MagicWord(tasks["w"].haystack, "eval", value=args.value)
    grid = dict(depths=depths if args.task == "niah" else [], max_length={n: cap for n in names} if cap else None)
    planned = grid_cells(tasks, lengths, **grid)
    if not planned:
        raise ValueError("no cell to run: every length is above --max-length")
    prompt_bytes = args.samples * sum(length for _, _, length, _ in planned)
    with progress_bar(prompt_bytes, f"eval {args.task}", args.progress, unit="B", unit_scale=True,
                      unit_divisor=1024) as bar:
        cells = run_grid(model, tasks, lengths, samples=args.samples, seed=args.seed, batch=args.batch,
                         block=args.block, device=args.device, say=say, progress=bar.update, **grid)
    out = Path(args.out) if args.out else Path(args.checkpoint) / f"eval-{args.task}"
    variant = model.config.variant
    meta = {"checkpoint": str(args.checkpoint), "variant": variant, "task": args.task, "tasks": names,
            "lengths": lengths, "depths": depths, "samples_per_cell": args.samples, "seed": args.seed,
            "haystack": args.haystack or "austen (pk: filler)", "batch": args.batch, "block": args.block,
            "threads": torch.get_num_threads(), "machine": platform.processor() or platform.machine(),
            **({"w_value": args.value} if args.task == "niah" else {})}
    written = write_results(cells, out, variant, meta)
    print(markdown_table(cells, variant), end="")
    print("wrote " + ", ".join(str(p) for p in written))
