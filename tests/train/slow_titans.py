"""``titans train`` with test-only slowness, for test_interrupts.py: TEST_STEP_DELAY seconds after every step,
and the write of checkpoint TEST_HOLD_SAVE held open (after its optimizer file, before the rename) with
TEST_MARK touched; TEST_LOOP_MARK is touched when the steps begin (a resume has then trimmed metrics.jsonl).

``run`` is the body of a process forked from a multiprocessing forkserver that imported titans, torch and
matplotlib once: each run is a process of its own, which the tests signal and kill, without the seconds a
fresh interpreter takes to import them. It calls the same ``titans.cli.main`` as ``python -m titans``.
"""

import os
import sys
import time
from pathlib import Path

import torch

import titans.train.checkpoint as checkpoint
import titans.train.trainer as trainer
from titans.cli import main

real_step, real_save_file, real_loop = trainer.Trainer._step, checkpoint.save_file, trainer.Trainer._loop


def marked_loop(self, *args):
    if os.environ.get("TEST_LOOP_MARK"):
        Path(os.environ["TEST_LOOP_MARK"]).write_text("steps begin")
    return real_loop(self, *args)


def slow_step(self, step, carried):
    out = real_step(self, step, carried)
    time.sleep(float(os.environ.get("TEST_STEP_DELAY", "0")))
    return out


def held_save_file(tensors, path, metadata=None):
    real_save_file(tensors, path, metadata=metadata)
    hold = os.environ.get("TEST_HOLD_SAVE")
    if hold and path.endswith(f"step_{int(hold):07d}.tmp/optimizer.safetensors"):
        Path(os.environ["TEST_MARK"]).write_text(path)
        time.sleep(600)


def run(argv: list[str], env: dict[str, str], out: str, err: str) -> None:
    """titans ARGV with ENV's settings added to the environment, stdout and stderr written to the files OUT
    and ERR; one thread, as OMP_NUM_THREADS=1 gives a fresh process."""
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        with open(path, "w") as f:
            os.dup2(f.fileno(), fd)
    torch.set_num_threads(1)
    trainer.Trainer._step, trainer.Trainer._loop, checkpoint.save_file = slow_step, marked_loop, held_save_file
    try:
        main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
