"""Interrupts and crashes lose nothing: SIGINT/SIGTERM write a checkpoint and say how to resume; SIGKILL at
any moment (even while a checkpoint is written) leaves a loadable run folder whose resume repeats the
uninterrupted losses exactly.

Each run that is signalled or killed is ``titans train`` in a process of its own on the tiny preset (a
Transformer, one thread, a few steps) through a small wrapper (slow_titans.py) that can slow the steps down
and hold a checkpoint write open, so that a signal lands where the test means it to. The wrapper calls the
same ``titans.cli.main`` as ``python -m titans``; its processes are forked from a forkserver that imported
torch and titans once, as a fresh interpreter would take seconds to. The runs nothing interrupts (the
uninterrupted reference, the resumes) call that ``main`` in the test process, on one thread as the others.
"""

import json
import multiprocessing
import multiprocessing.forkserver
import os
import random
import re
import shlex
import signal
import time

import pytest
import slow_titans
import torch

from titans.cli import main
from titans.models import TitansLM
from titans.train.checkpoint import find_checkpoint, read_trainer


STEPS = 8
SETTINGS = ["--preset", "tiny", "--variant", "transformer", "--context", "32", "--batch-tokens", "64",
            "--steps", str(STEPS), "--eval-every", "4", "--eval-tokens", "128", "--save-every", "2",
            "--sample-tokens", "8", "--device", "cpu", "--no-progress"]
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
    assert titans(["train", "--data", str(corpus), "--out", str(run), *SETTINGS]) == 0
    return run


def titans(args) -> int:
    """``titans ARGS`` in this process on one thread, as the wrapped runs (one thread is fast beside other
    jobs), so that the losses are the same bit for bit; its exit status. What it prints goes to pytest's
    capture (capsys reads it)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main(args)
    except SystemExit as stop:
        return stop.code
    finally:
        torch.set_num_threads(threads)
    return 0


@pytest.fixture(scope="module")
def forked():
    """The forkserver the wrapped runs are forked from, with what they import imported: titans (torch) and
    matplotlib (loss.png). Not slow_titans itself: the server starts without the tests' sys.path, and a
    module it cannot import is skipped without a word (then every run would import everything again)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["titans.cli", "matplotlib.pyplot"])
    yield context
    stop = getattr(multiprocessing.forkserver._forkserver, "_stop", None)  # else it ends with this process
    if stop is not None:
        stop()


class Wrapped:
    """A wrapped ``titans`` run in a process of its own, with what the tests use of subprocess.Popen's ways."""

    def __init__(self, forked, tmp_path, args, env):
        self.out, self.err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        self.process = forked.Process(target=slow_titans.run, args=(args, env, str(self.out), str(self.err)))
        self.process.start()

    @property
    def returncode(self):  # -N when killed by signal N, as Popen's
        return self.process.exitcode

    def poll(self):
        return self.process.exitcode

    def send_signal(self, sig):
        os.kill(self.process.pid, sig)

    def kill(self):
        self.process.kill()

    def stderr(self) -> str:
        return self.err.read_text() if self.err.exists() else ""

    def communicate(self, timeout=None) -> tuple[str, str]:
        self.process.join(timeout)
        if self.process.exitcode is None:
            self.process.kill()
            raise AssertionError(f"the run did not end in {timeout} s: {self.stderr()}")
        return self.out.read_text(), self.stderr()


def start_wrapped(forked, tmp_path, args, **env) -> Wrapped:
    return Wrapped(forked, tmp_path, args, {k: str(v) for k, v in env.items()})


def wait_for(condition, proc: Wrapped, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}: {proc.stderr()}")
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
def test_a_signal_writes_a_checkpoint_and_says_how_to_resume(tmp_path, corpus, straight, forked, sig, code, resume,
                                                              capsys):
    run = tmp_path / "run"
    proc = start_wrapped(forked, tmp_path, ["train", "--data", str(corpus), "--out", str(run), *SETTINGS],
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

    capsys.readouterr()
    assert titans(shlex.split(match.group(3))[1:]) == 0  # exactly the printed command
    assert f"for {STEPS - step} steps (resumed at step {step}" in capsys.readouterr().out
    assert losses(run) == losses(straight)  # exact, not approximate
    assert losses(run, "valid") == losses(straight, "valid")


def test_a_second_signal_abandons_the_step_and_keeps_the_last_checkpoint(tmp_path, corpus, forked):
    run = tmp_path / "run"
    proc = start_wrapped(forked, tmp_path, ["train", "--data", str(corpus), "--out", str(run), *SETTINGS],
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


def test_sigkill_at_random_moments_and_mid_checkpoint_then_resume_repeats_the_losses(tmp_path, corpus, straight,
                                                                                     forked):
    run = tmp_path / "run"
    args = ["train", "--data", str(corpus), "--out", str(run), *SETTINGS]
    rng = random.Random(29)

    # 1: killed after step 1, before the first checkpoint: --resume starts the run again from step 0
    proc = start_wrapped(forked, tmp_path, args, TEST_STEP_DELAY=0.3)
    wait_for(lambda: 1 in logged_steps(run), proc, "step 1 was logged")
    proc.kill()
    proc.communicate()
    assert not (run / "checkpoints" / "latest").exists()

    # 2: killed while checkpoint 6 is being written (its files half there, not yet renamed into place)
    mark = tmp_path / "writing"
    proc = start_wrapped(forked, tmp_path, [*args, "--resume"], TEST_HOLD_SAVE=6, TEST_MARK=mark)
    wait_for(mark.exists, proc, "checkpoint 6 was being written")
    proc.kill()
    proc.communicate()
    assert (run / "checkpoints" / ".step_0000006.tmp").is_dir()
    assert find_checkpoint(run).name == "step_0000004"
    assert_loadable(run)

    # 3: killed at a random moment after a random later step
    later = rng.randint(5, STEPS - 1)
    began = tmp_path / "began"
    proc = start_wrapped(forked, tmp_path, [*args, "--resume"], TEST_STEP_DELAY=0.3, TEST_LOOP_MARK=began)
    wait_for(lambda: began.exists() and later in logged_steps(run), proc, f"step {later} was logged again")
    time.sleep(rng.uniform(0, 0.3))
    proc.kill()
    proc.communicate()
    assert_loadable(run)

    assert titans([*args, "--resume"]) == 0
    assert losses(run) == losses(straight)  # exact, not approximate
    assert losses(run, "valid") == losses(straight, "valid")
    assert sorted(losses(run)) == list(range(1, STEPS + 1))
    assert find_checkpoint(run).name == f"step_{STEPS:07d}"
    assert_loadable(run)


def test_resuming_a_finished_run_says_so_and_does_nothing(tmp_path, straight, capsys):
    before = {p: p.stat().st_mtime_ns for p in straight.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert titans(["train", "--resume", "--out", str(straight)]) == 0
    out = capsys.readouterr().out
    assert f"{straight} is already finished ({STEPS} of {STEPS} steps)" in out
    assert "final validation: loss" in out and "sample" not in out
    assert {p: p.stat().st_mtime_ns for p in straight.rglob("*") if p.is_file()} == before  # nothing rewritten
