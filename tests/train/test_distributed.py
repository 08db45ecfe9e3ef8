"""Two processes on gloo give the losses of one process with the same global batch (DDP and FSDP2).

The one-process reference is the same for both strategies, so it is trained once, in the test process
(torchrun with one process takes the same path: init_distributed returns a world of one, and wrap_model
leaves the model as it is), sparing two interpreters per test (torchrun's launcher and its worker).
"""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from titans.cli import main

ARGS = ["train", "--preset", "tiny", "--variant", "mag", "--context", "32", "--batch-tokens", "128", "--steps",
        "3", "--eval-every", "3", "--eval-tokens", "256", "--save-every", "3", "--sample-tokens", "0",
        "--no-progress", "--device", "cpu"]


def run(tmp_path, name, corpus_dir, processes, *extra):
    out = tmp_path / name
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command = [*launcher, "-m", "titans", *ARGS, "--data", str(corpus_dir), "--out", str(out), *extra]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    # a session of its own, so that a hung run is killed with its workers (killing torchrun alone leaves
    # them running after the test)
    launched = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
    try:
        _, stderr = launched.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(launched.pid, signal.SIGKILL)
        # torchrun may start its workers in sessions of their own: a worker left alive holds the pipes
        # open and a plain communicate() would wait for it for ever; they are found by their run folder
        subprocess.run(["pkill", "-KILL", "-f", str(out)], check=False)
        try:
            _, stderr = launched.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            stderr = "(its output could not be read: a worker still holds it)"
        pytest.fail(f"torchrun did not finish within 300 s:\n{stderr[-3000:]}")
    assert launched.returncode == 0, stderr[-3000:]
    return read_losses(out), out


def read_losses(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records]


@pytest.fixture(scope="module")
def single(tmp_path_factory, corpus_folder):
    """The losses of one process (on one thread, as the workers run)."""
    out = tmp_path_factory.mktemp("one") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main([*ARGS, "--data", str(corpus_folder), "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)  # main() sets it for the process
    return read_losses(out)


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(tmp_path, corpus_folder, single, strategy):
    double, out = run(tmp_path, "two", corpus_folder, 2, "--distributed", strategy)
    assert len(single) == len(double) == 4  # 3 steps and one validation
    assert double == pytest.approx(single, rel=1e-5, abs=1e-6)
    assert (out / "checkpoints" / "step_0000003" / "model.safetensors").is_file()
