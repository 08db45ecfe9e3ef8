"""``titans eval harness``: lm-evaluation-harness tasks on a trained model (optional extra ``eval``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .loading import load_trained


def add_parser(tasks) -> None:
    p = tasks.add_parser("harness",
                         help="lm-evaluation-harness tasks (needs the eval extra: pip install -e '.[eval]')")
    p.add_argument("checkpoint", help="run folder, checkpoint folder, or save_pretrained folder")
    p.add_argument("--tasks", required=True,
                   help="comma-separated lm-eval task or group names (or task YAML files), e.g. lambada_openai,wikitext")
    p.add_argument("--include-path", default=None,
                   help="a folder of task YAML files, added to lm-eval's own (when every task is found there, "
                        "lm-eval's 14,000 are not scanned; default: none)")
    p.add_argument("--limit", type=int, default=None, help="at most N examples per task (default: all)")
    p.add_argument("--num-fewshot", type=int, default=None, help="few-shot examples (default: each task's own)")
    p.add_argument("--window", type=int, default=512,
                   help="tokens per model call while scoring; the state carries the rest (default: 512)")
    p.add_argument("--batch", type=int, default=8, help="sequences scored side by side (default: 8)")
    p.add_argument("--max-gen-toks", type=int, default=256,
                   help="generation length where a task sets none (default: 256)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--out", default=None, help="results folder (default: CHECKPOINT/eval-harness)")
    p.set_defaults(run=run_harness)


def task_manager(names: list[str], include_path: str | None):
    """lm-eval's TaskManager: only the include path's tasks when it holds every one asked for (scanning
    lm-eval's own catalogue takes long), else both."""
    from lm_eval.tasks import TaskManager

    if include_path is not None:
        if not Path(include_path).is_dir():
            raise FileNotFoundError(f"--include-path {include_path}: no such folder")
        local = TaskManager(include_path=include_path, include_defaults=False)
        if all(name in local.all_tasks or Path(name).is_file() for name in names):
            return local
    return TaskManager(include_path=include_path)


def run_harness(args: argparse.Namespace) -> None:
    from ..eval.harness import TitansHarnessLM  # ImportError (the extra to install) when lm-eval is missing

    from lm_eval import simple_evaluate
    from lm_eval.utils import handle_non_serializable, make_table

    names = [n.strip() for n in args.tasks.split(",") if n.strip()]
    if not names:
        raise ValueError("--tasks: give at least one lm-eval task name")
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be a positive integer, got {args.limit}")
    model, tokenizer = load_trained(args.checkpoint, args.device)
    lm = TitansHarnessLM(model=model, tokenizer=tokenizer, batch_size=args.batch, window=args.window,
                         max_gen_toks=args.max_gen_toks)
    manager = task_manager(names, args.include_path)
    try:
        results = simple_evaluate(lm, tasks=names, task_manager=manager, limit=args.limit,
                                  num_fewshot=args.num_fewshot, log_samples=False)
    except KeyError as error:  # lm-eval's word for an unknown task
        raise ValueError(f"--tasks: {error.args[0] if error.args else error}"
                         f"{'' if args.include_path else ' (a local task: give --include-path DIR)'}") from None
    results["config"]["model_args"] = {"checkpoint": str(args.checkpoint), "window": args.window,
                                       "batch": args.batch, "device": args.device}
    out = Path(args.out) if args.out else Path(args.checkpoint) / "eval-harness"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=handle_non_serializable))
    print(make_table(results))
    if results.get("groups"):
        print(make_table(results, "groups"))
    print(f"wrote {out / 'results.json'}")
