"""The ``titans`` command line: ``info``, ``train``, ``generate``, ``eval``, ``export``, ``forecast``, ``dna``,
``inspect``."""

from __future__ import annotations

import argparse
import sys

import torch

from ..data import FetchError
from ..train import TrainingDiverged
from ..train.checkpoint import CheckpointError
from ..train.trainer import TrainingInterrupted
from . import dna, evaluate, export, forecast, generate, info, inspect_memory, train

# errors that carry a message meant for the user: printed without a traceback (an ImportError names the
# optional extra to install)
_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, CheckpointError, FetchError, TrainingDiverged,
                ImportError)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="titans", description="Titans: learning to memorize at test time.")
    verbs = parser.add_subparsers(dest="verb", required=True)
    for verb in (info, train, generate, evaluate, export, forecast, dna, inspect_memory):
        verb.add_parser(verbs)
    args = parser.parse_args(argv)
    # subnormal floats take the CPU's slow path; the memory op already flushes its carried state, this
    # covers whatever else a command computes (no value a model needs is that small)
    torch.set_flush_denormal(True)
    try:
        args.run(args)
    except TrainingInterrupted as stop:  # the checkpoint is written; the message says how to resume
        print(f"titans {args.verb}: {stop}", file=sys.stderr)
        raise SystemExit(stop.exit_code) from None
    except KeyboardInterrupt:  # Ctrl-C anywhere else: one line, the shell's exit status, no traceback
        print(f"titans {args.verb}: interrupted (Ctrl-C); nothing more was written", file=sys.stderr)
        raise SystemExit(130) from None
    except _USER_ERRORS as error:
        print(f"titans {args.verb}: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
