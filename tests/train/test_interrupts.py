"""Interrupts and crashes lose nothing: SIGINT/SIGTERM write a checkpoint and say how to resume; SIGKILL at
any moment (even while a checkpoint is written) leaves a loadable run folder whose resume repeats the
uninterrupted losses exactly.

Each test runs ``titans train`` in a subprocess on the tiny preset (a Transformer, one thread, a few steps)
through a small wrapper that can slow the steps down and hold a checkpoint write open, so that a signal
lands where the test means it to. The wrapper calls the same ``titans.cli.main`` as ``python -m titans``.
"""

import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

from titans.models import TitansLM
from titans.train.checkpoint import find_checkpoint, read_trainer

WRAPPER = '''
"""titans train, with test-only slowness: TEST_STEP_DELAY seconds after every step, and the write of
checkpoint TEST_HOLD_SAVE held open (after its optimizer file, before the rename) with TEST_MARK touched;
TEST_LOOP_MARK is touched when the steps begin (a resume has then trimmed metrics.jsonl)."""
import os, sys, time
from pathlib import Path

import titans.train.checkpoint as checkpoint
import titans.train.trainer as trainer

delay = float(os.environ.get("TEST_STEP_DELAY", "0"))
hold = os.environ.get("TEST_HOLD_SAVE")
real_step, real_save_file, real_loop = trainer.Trainer._step, checkpoint.save_file, trainer.Trainer._loop


def marked_loop(self, *args):
    if os.environ.get("TEST_LOOP_MARK"):
        Path(os.environ["TEST_LOOP_MARK"]).write_text("steps begin")
    return real_loop(self, *args)


def slow_step(self, step, carried):
    out = real_step(self, step, carried)
    time.sleep(delay)
    return out


def held_save_file(tensors, path, metadata=None):
    real_save_file(tensors, path, metadata=metadata)
    if hold and path.endswith(f"step_{int(hold):07d}.tmp/optimizer.safetensors"):
        Path(os.environ["TEST_MARK"]).write_text(path)
        time.sleep(600)


trainer.Trainer._step, trainer.Trainer._loop, checkpoint.save_file = slow_step, marked_loop, held_save_file
from titans.cli import main

main(sys.argv[1:])
'''

STEPS = 8
SETTINGS = ["--preset", "tiny", "--variant", "transformer", "--context", "32", "--batch-tokens", "64",
            "--steps", str(STEPS), "--eval-every", "4", "--eval-tokens", "128", "--save-every", "2",
            "--sample-tokens", "8", "--device", "cpu", "--no-progress"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # one thread: fast beside other jobs
TIMEOUT = 120


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    words = "the memory learns while it reads and forgets what it no longer needs so that long documents fit".split()
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("".join(" ".join(rng.choice(words) for _ in range(60)) + ".\n" for _ in range(80)))
    return path


@pytest.fixture(scope="module")
def straight(corpus, tmp_path_factory):
    """An uninterrupted run: the losses every interrupted one must repeat."""
    run = tmp_path_factory.mktemp("straight") / "run"
    result = titans(["train", "--data", str(corpus), "--out", str(run), *SETTINGS])
    assert result.returncode == 0, result.stderr
    return run


def titans(args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "titans", *args], capture_output=True, text=True,
                          env={**ENV, **env}, timeout=TIMEOUT)


def start_wrapped(tmp_path, args, **env) -> subprocess.Popen:
    wrapper = tmp_path / "slow_titans.py"
    wrapper.write_text(WRAPPER)
    return subprocess.Popen([sys.executable, str(wrapper), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**ENV, **{k: str(v) for k, v in env.items()}})


def wait_for(condition, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def logged_steps(run) -> set[int]:
    path = run / "metrics.jsonl"
    if not path.exists():
        return set()
    steps = set()
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:  # a line being written
            continue
        if record.get("kind") == "train":
            steps.add(record["step"])
    return steps


def losses(run, kind="train"):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == kind}


def assert_loadable(run) -> None:
    """The run folder's newest checkpoint loads as a model and as a training checkpoint."""
    checkpoint = find_checkpoint(run)
    assert read_trainer(checkpoint)["step"] >= 1
    TitansLM.from_pretrained(checkpoint)


@pytest.mark.parametrize("sig,code,resume", [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
                         ids=["SIGINT", "SIGTERM"])
def test_a_signal_writes_a_checkpoint_and_says_how_to_resume(tmp_path, corpus, straight, sig, code, resume):
    run = tmp_path / "run"
    proc = start_wrapped(tmp_path, ["train", "--data", str(corpus), "--out", str(run), *SETTINGS],
                         TEST_STEP_DELAY=0.5)
    wait_for(lambda: 1 in logged_steps(run), proc, "step 1 was logged")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == code, err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    match = re.fullmatch(rf"titans train: interrupted by {sig.name} after step (\d+) of {STEPS}; checkpoint "
                         r"written to (\S+); resume with: (titans train --resume --out \S+)", lines[0])
    assert match, lines[0]
    step = int(match.group(1))
    assert 1 <= step < STEPS and find_checkpoint(run).name == f"step_{step:07d}"
    assert (run / "loss.png").stat().st_size > 0  # redrawn at the interrupt, though no validation ran yet
    assert_loadable(run)
    if not resume:  # the same path as SIGINT's from here: one resume is enough
        return

    resumed = titans(shlex.split(match.group(3))[1:])  # exactly the printed command
    assert resumed.returncode == 0, resumed.stderr
    assert f"for {STEPS - step} steps (resumed at step {step}" in resumed.stdout
    assert losses(run) == losses(straight)  # exact, not approximate
    assert losses(run, "valid") == losses(straight, "valid")


def test_a_second_signal_abandons_the_step_and_keeps_the_last_checkpoint(tmp_path, corpus):
    run = tmp_path / "run"
    proc = start_wrapped(tmp_path, ["train", "--data", str(corpus), "--out", str(run), *SETTINGS],
                         TEST_STEP_DELAY=1)
    wait_for(lambda: (run / "loss.png").exists(), proc, "checkpoint 2 was written and loss.png drawn")
    time.sleep(0.3)  # now inside step 3, which sleeps 1 s: both signals land in it
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 130 and "Traceback" not in out + err, err
    assert [line for line in err.splitlines() if line.strip()] == [
        f"titans train: interrupted by SIGINT a second time: stopped at once with 2 of {STEPS} steps done; the newest "
        f"checkpoint is {run / 'checkpoints' / 'step_0000002'}; resume with: titans train --resume --out {run}"]
    assert_loadable(run)


def test_sigkill_at_random_moments_and_mid_checkpoint_then_resume_repeats_the_losses(tmp_path, corpus, straight):
    run = tmp_path / "run"
    args = ["train", "--data", str(corpus), "--out", str(run), *SETTINGS]
    rng = random.Random(29)

    # 1: killed after step 1, before the first checkpoint: --resume starts the run again from step 0
    proc = start_wrapped(tmp_path, args, TEST_STEP_DELAY=0.3)
    wait_for(lambda: 1 in logged_steps(run), proc, "step 1 was logged")
    proc.kill()
    proc.communicate()
    assert not (run / "checkpoints" / "latest").exists()

    # 2: killed while checkpoint 6 is being written (its files half there, not yet renamed into place)
    mark = tmp_path / "writing"
    proc = start_wrapped(tmp_path, [*args, "--resume"], TEST_HOLD_SAVE=6, TEST_MARK=mark)
    wait_for(mark.exists, proc, "checkpoint 6 was being written")
    proc.kill()
    proc.communicate()
    assert (run / "checkpoints" / ".step_0000006.tmp").is_dir()
    assert find_checkpoint(run).name == "step_0000004"
    assert_loadable(run)

    # 3: killed at a random moment after a random later step
    later = rng.randint(5, STEPS - 1)
    began = tmp_path / "began"
    proc = start_wrapped(tmp_path, [*args, "--resume"], TEST_STEP_DELAY=0.3, TEST_LOOP_MARK=began)
    wait_for(lambda: began.exists() and later in logged_steps(run), proc, f"step {later} was logged again")
    time.sleep(rng.uniform(0, 0.3))
    proc.kill()
    proc.communicate()
    assert_loadable(run)

    done = titans([*args, "--resume"])
    assert done.returncode == 0, done.stderr
    assert losses(run) == losses(straight)  # exact, not approximate
    assert losses(run, "valid") == losses(straight, "valid")
    assert sorted(losses(run)) == list(range(1, STEPS + 1))
    assert find_checkpoint(run).name == f"step_{STEPS:07d}"
    assert_loadable(run)


def test_resuming_a_finished_run_says_so_and_does_nothing(tmp_path, straight):
    before = {p: p.stat().st_mtime_ns for p in straight.rglob("*") if p.is_file()}
    result = titans(["train", "--resume", "--out", str(straight)])
    assert result.returncode == 0, result.stderr
    assert f"{straight} is already finished ({STEPS} of {STEPS} steps)" in result.stdout
    assert "final validation: loss" in result.stdout and "sample" not in result.stdout
    assert {p: p.stat().st_mtime_ns for p in straight.rglob("*") if p.is_file()} == before  # nothing rewritten
