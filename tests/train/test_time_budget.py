"""TrainConfig.minutes: a run that trains for a budget of time, its schedule decaying over that time."""

import json
import shutil
import types

import pytest

import titans.train.trainer as trainer_module
from titans.cli import main
from titans.train import Trainer, TrainConfig
from titans.train.trainer import finished_run, learning_rate


@pytest.fixture
def clock(monkeypatch):
    """The trainer's clock, one second later at every reading: each step takes exactly one second (its
    two readings are its start and its end), so that a budget ends at a known step on any machine."""
    now = [0.0]

    def perf_counter():
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(trainer_module, "time", types.SimpleNamespace(perf_counter=perf_counter))


def records(run_dir, kind):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def test_the_cosine_follows_the_time_spent_not_the_steps(tmp_path, tiny_config):
    config = tiny_config(tmp_path, minutes=2.0, steps=10_000, warmup=10, lr=1e-3, min_lr_ratio=0.1)
    assert learning_rate(config, 0, 50.0) == pytest.approx(1e-4)  # the warm-up still counts steps
    assert learning_rate(config, 10, 0.0) == pytest.approx(1e-3)
    assert learning_rate(config, 11, 60.0) == learning_rate(config, 5_000, 60.0) == pytest.approx(5.5e-4)
    assert learning_rate(config, 12, 120.0) == learning_rate(config, 20, 500.0) == pytest.approx(1e-4)
    rates = [learning_rate(config, 10 + s, 10.0 * s) for s in range(13)]
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_a_budget_ends_the_run_at_the_step_that_spends_it(tmp_path, corpus_documents, tiny_config, clock):
    run = tmp_path / "run"
    config = tiny_config(run, minutes=5 / 60, steps=100, warmup=1, eval_every=2, save_every=100, min_lr_ratio=0.1)
    summary = Trainer(config, documents=corpus_documents, progress=False).run()
    assert summary.steps == 5 and summary.tokens == 5 * config.batch_tokens
    train = records(run, "train")
    assert [r["step"] for r in train] == [1, 2, 3, 4, 5]
    assert [r["train_seconds"] for r in train] == [1.0, 2.0, 3.0, 4.0, 5.0]
    # step 1 warms up; steps 2-5 begin 1-4 seconds into the 5-second cosine
    assert [r["lr"] for r in train] == pytest.approx([learning_rate(config, s, s) for s in range(5)])
    assert train[-1]["lr"] < train[1]["lr"]
    assert [r["step"] for r in records(run, "valid")] == [2, 4, 5]  # every 2 steps, and where the budget ends
    assert summary.validation.loss == records(run, "valid")[-1]["loss"]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_0000005"


def test_a_resumed_budget_continues_its_clock(tmp_path, corpus_documents, tiny_config, clock):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    settings = dict(minutes=6 / 60, steps=100, warmup=1, save_every=3)
    Trainer(tiny_config(straight, **settings), documents=corpus_documents, progress=False).run()
    shutil.copytree(straight, resumed)  # as in tests/train/test_trainer.py: stopped after step 3
    shutil.rmtree(resumed / "checkpoints" / "step_0000006")
    (resumed / "checkpoints" / "latest").write_text("step_0000003\n")
    summary = Trainer(tiny_config(resumed, **settings), documents=corpus_documents, progress=False).run(resume=True)
    assert summary.resumed_from == 3 and summary.steps == 3  # 3 seconds were left, not 6
    # the same clock, the same schedule and losses (the gate means logged are those of whichever row share
    # ended last: Trainer._backward_in_shares)
    schedule = [{k: r[k] for k in ("step", "loss", "lr", "grad_norm", "train_seconds")} for r in records(straight, "train")]
    assert [{k: r[k] for k in schedule[0]} for r in records(resumed, "train")] == schedule
    assert finished_run(tiny_config(resumed, **settings)).resumed_from == 6


def test_the_cli_reports_a_spent_budget(tmp_path, corpus_dir, capsys, clock):
    run = tmp_path / "run"
    flags = ["--preset", "tiny", "--variant", "mag", "--context", "32", "--batch-tokens", "128", "--warmup", "1",
             "--eval-tokens", "256", "--sample-tokens", "0", "--device", "cpu", "--no-progress"]
    main(["train", "--data", str(corpus_dir), "--out", str(run), "--minutes", "0.05", *flags])
    assert "for 3 steps, 384 tokens" in capsys.readouterr().out
    main(["train", "--resume", "--out", str(run)])
    assert "already finished (3 steps, its 0.05-minute budget spent)" in capsys.readouterr().out


@pytest.mark.parametrize("minutes", [-1.0, float("nan"), float("inf")])
def test_a_budget_must_be_a_finite_count_of_minutes(minutes):
    with pytest.raises(ValueError, match="minutes = .*give a budget in minutes, or 0"):
        TrainConfig(minutes=minutes)
