"""``titans dna pretrain | classify | eval``: genomes as long sequences, and sequence classification."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..eval.position_table import BinNames, bin_records, bin_table
from ..train.config import TrainConfig
from . import train
from .progress import add_progress_option, progress_bar, say

# titans dna pretrain = titans train with these defaults (every flag and --config still apply); the model
# shape and schedule are those the DNA figures were measured with, not the text main job's
PRETRAIN_DEFAULTS = TrainConfig(preset="cpu", data="bacteria", tokenizer="nucleotides", out="runs/dna-pretrain",
                                valid_fraction=0.02, sample_tokens=0, steps=400, batch_tokens=4096, lr=2e-3,
                                min_lr_ratio=0.1, warmup=20, eval_every=200, save_every=200)
CONTEXT_NAMES = BinNames(key="bits_per_base", counts=lambda b: {"bases": b.tokens}, gain=False, position="position",
                         measure="bits per base", carried="bits per base", limited="same bases, context <= {limit:,}",
                         count="bases", count_of=lambda b: b.tokens)


def add_parser(verbs) -> None:
    p = verbs.add_parser("dna", help="DNA: pre-train on genomes, classify sequences, bits per base by context")
    tasks = p.add_subparsers(dest="task", required=True)

    pretrain = tasks.add_parser(
        "pretrain", help="train a DNA language model (titans train with DNA defaults)",
        description="titans train with DNA defaults: --data bacteria (E. coli 536 + three Klebsiella "
                    "genomes), --tokenizer nucleotides, --out runs/dna-pretrain. Bits per byte are bits per "
                    "base with this tokenizer. Other corpora: ecoli, klebsiella, drosophila, or a FASTA "
                    "file's folder via a recipe.")
    train.add_train_options(pretrain)
    pretrain.set_defaults(run=lambda args: train.run(args, PRETRAIN_DEFAULTS))

    classify = tasks.add_parser(
        "classify", help="train and test sequence classifiers (several models x seeds)",
        description="Train each model for each seed on a labelled set and score it on its test part: splice "
                    "(primate splice junctions, StatLog split), promoters (E. coli), or a GenomicBenchmarks "
                    "folder (train|test/<class>/*). Writes OUT/results.json and results.md.")
    classify.add_argument("--data", default="splice", help="splice, promoters, or a folder (default: splice)")
    classify.add_argument("--models", default="cnn,transformer,mag",
                          help="comma list of cnn and Titans variants (default: cnn,transformer,mag)")
    classify.add_argument("--seeds", default="0,1,2,3,4", help="comma list (default: 0,1,2,3,4)")
    classify.add_argument("--init", default=None,
                          help="a pre-trained DNA run or checkpoint for the Titans backbones (default: fresh)")
    classify.add_argument("--pooling", default="flatten", help="flatten, last or mean (default: flatten)")
    classify.add_argument("--epochs", type=int, default=30, help="at most this many epochs (default: 30)")
    classify.add_argument("--patience", type=int, default=10, help="early-stopping patience (default: 10)")
    classify.add_argument("--batch", type=int, default=64, help="sequences per step (default: 64)")
    classify.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: 2e-3)")
    classify.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    classify.add_argument("--out", default="runs/dna-classify", help="results folder (default: runs/dna-classify)")
    add_progress_option(classify)
    classify.set_defaults(run=run_classify)

    evaluate = tasks.add_parser(
        "eval", help="bits per base on a held-out genome, binned by how much context preceded each base",
        description="Read SEGMENTS stretches of LENGTH bases of one held-out sequence with the state carried "
                    "and report bits per base by context position (0-1K, 1K-2K, 2K-4K, ...). Writes "
                    "OUT/context.json and context.md.")
    evaluate.add_argument("checkpoint", help="a titans dna pretrain run folder or checkpoint")
    evaluate.add_argument("--data", default="klebsiella-heldout",
                          help="a DNA recipe or FASTA file; its longest record is read (default: klebsiella-heldout)")
    evaluate.add_argument("--length", type=int, default=65536, help="bases per stretch (default: 65536)")
    evaluate.add_argument("--segments", type=int, default=4, help="stretches, read as one batch (default: 4)")
    evaluate.add_argument("--block", type=int, default=4096, help="bases per forward call (default: 4096)")
    evaluate.add_argument("--limit", type=int, default=1024,
                          help="also read the same bases with the state reset every LIMIT bases, for the gain of "
                               "longer context on the same bases (0: skip; default: 1024)")
    evaluate.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    evaluate.add_argument("--out", default=None, help="results folder (default: CHECKPOINT/context)")
    add_progress_option(evaluate)
    evaluate.set_defaults(run=run_eval)


def run_classify(args: argparse.Namespace) -> None:
    import torch

    from ..dna.classify import ClassifyConfig, summarise, train_classifier
    from ..dna.labelled import promoters, read_genomic_benchmark, splice_junctions
    from .loading import load_trained

    if args.threads:
        torch.set_num_threads(args.threads)
    loaders = {"splice": splice_junctions, "promoters": promoters}
    train_part, test_part = loaders[args.data]() if args.data in loaders else read_genomic_benchmark(args.data)
    backbone = _load_backbone(args.init, load_trained) if args.init else None
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    configs = {m: [ClassifyConfig(model=m, pooling=args.pooling, epochs=args.epochs, patience=args.patience,
                                  batch=args.batch, lr=args.lr, seed=s) for s in seeds] for m in models}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"data": args.data, "train": len(train_part), "test": len(test_part), "classes": train_part.classes,
               "init": args.init, "models": {}}
    # epochs of every run; a run that stops early skips its remaining ones, so the ETA never waits on them
    with progress_bar(len(models) * len(seeds) * args.epochs, "dna classify", args.progress, unit="epoch") as bar:
        for model, runs in configs.items():
            records = []
            for config in runs:
                say(f"{args.data} {model} seed {config.seed}")
                record = train_classifier(config, train_part, test_part, backbone=None if model == "cnn" else backbone,
                                          log=say, progress=bar.update)
                bar.update(config.epochs - record["epochs_run"])
                say(f"  test accuracy {record['test_accuracy']:.4f} (best epoch {record['best_epoch']}, "
                    f"{record['seconds']:.0f} s)")
                records.append(record)
            results["models"][model] = {"summary": summarise(records), "runs": records}
            (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")  # after every model: nothing lost
    table = classify_table(results)
    (out / "results.md").write_text(table)
    print(table)


def _load_backbone(path: str, load_trained):
    model, tokenizer = load_trained(path)
    if not tokenizer.name.startswith("nucleotides"):
        raise ValueError(f"{path} was trained with the {tokenizer.name} tokenizer; a DNA backbone needs "
                         f"nucleotides (titans dna pretrain)")
    return model.train()


def classify_table(results: dict) -> str:
    lines = [f"# {results['data']}: test accuracy ({results['train']} train / {results['test']} test)", "",
             "| model | accuracy (mean ± std) | seeds | parameters |", "|---|---|---|---|"]
    for model, entry in results["models"].items():
        s = entry["summary"]
        params = entry["runs"][0]["parameters"]
        lines.append(f"| {model} | {100 * s['mean']:.2f} ± {100 * s['std']:.2f} | {len(s['seeds'])} | {params:,} |")
    return "\n".join(lines) + "\n"


def run_eval(args: argparse.Namespace) -> None:
    import torch

    from ..data import load_documents
    from ..dna.context import bits_by_context
    from .by_position import read_twice
    from .loading import load_trained

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_trained(args.checkpoint)
    if not tokenizer.name.startswith("nucleotides"):
        raise ValueError(f"{args.checkpoint} uses the {tokenizer.name} tokenizer; bits per base need a DNA model")
    docs = load_documents(args.data)
    record = max(docs, key=lambda d: len(d.text))
    ids = torch.from_numpy(tokenizer.encode_array(record.text).astype("int64"))
    bins, limited = read_twice(
        lambda **read: bits_by_context(model, ids, length=args.length, segments=args.segments, block=args.block,
                                       **read),
        length=args.length, block=args.block, limit=args.limit, desc="dna eval", progress=args.progress)
    out = Path(args.out or Path(args.checkpoint) / "context")
    out.mkdir(parents=True, exist_ok=True)
    result = {"checkpoint": args.checkpoint, "variant": model.config.variant, "data": args.data,
              "record": record.name, "length": args.length, "segments": args.segments,
              "limit": args.limit if limited else None,
              "bins": bin_records(CONTEXT_NAMES, bins, limited)}
    (out / "context.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [f"# {model.config.variant}: bits per base on {record.name} by position in a {args.length:,}-base "
             f"stretch", "", *bin_table(CONTEXT_NAMES, bins, limited, args.limit)]
    (out / "context.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
