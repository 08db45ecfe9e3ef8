"""Two processes on gloo give the losses of one process with the same global batch (DDP and FSDP2)."""

import json
import subprocess
import sys

import pytest

ARGS = ["train", "--preset", "tiny", "--variant", "mag", "--context", "32", "--batch-tokens", "128", "--steps",
        "3", "--eval-every", "3", "--eval-tokens", "256", "--save-every", "3", "--sample-tokens", "0",
        "--no-progress", "--device", "cpu"]


def run(tmp_path, name, corpus_dir, processes, *extra):
    out = tmp_path / name
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command = [*launcher, "-m", "titans", *ARGS, "--data", str(corpus_dir), "--out", str(out), *extra]
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records], out


@pytest.mark.parametrize("strategy", ["ddp", "fsdp"])
def test_two_processes_match_one(tmp_path, corpus_dir, strategy):
    single, _ = run(tmp_path, "one", corpus_dir, 1)
    double, out = run(tmp_path, "two", corpus_dir, 2, "--distributed", strategy)
    assert len(single) == len(double) == 4  # 3 steps and one validation
    assert double == pytest.approx(single, rel=1e-5, abs=1e-6)
    assert (out / "checkpoints" / "step_0000003" / "model.safetensors").is_file()
