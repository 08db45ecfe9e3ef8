"""Resumes that meet damage, summaries that count what this invocation did, and progress that stays honest:
log lines above the bar, loss.png redrawn at every checkpoint and at an interrupt."""

import json
import os
import re
import shutil
import signal

import pytest

from titans.cli import main
from titans.train import Trainer
from titans.train.checkpoint import CheckpointError, find_checkpoint
from titans.train.metrics import MetricsLog
from titans.train.trainer import TrainingInterrupted


def losses(run_dir, kind="train"):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in records if r["kind"] == kind}


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def rewind(run_dir, dropped: int, latest: int) -> None:
    """As if the run had stopped before checkpoint ``dropped``: it goes, and ``latest`` is the latest again."""
    shutil.rmtree(run_dir / "checkpoints" / f"step_{dropped:07d}")
    (run_dir / "checkpoints" / "latest").write_text(f"step_{latest:07d}\n")


def cli_flags(steps: int, every: int, sample_tokens: int) -> list[str]:
    """titans train flags of a tiny transformer run on the CPU, validating and saving every ``every`` steps."""
    return ["--preset", "tiny", "--variant", "transformer", "--context", "32", "--batch-tokens", "64",
            "--steps", str(steps), "--eval-every", str(every), "--eval-tokens", "128", "--save-every", str(every),
            "--sample-tokens", str(sample_tokens), "--no-progress", "--device", "cpu"]


@pytest.fixture
def trainer(corpus_documents, tiny_config):
    """A factory: a Trainer of the tiny config (a transformer unless given) on the shared corpus, no bar."""

    def make(run_dir, progress=False, **config) -> Trainer:
        config.setdefault("variant", "transformer")
        return Trainer(tiny_config(run_dir, **config), documents=corpus_documents, progress=progress)

    return make


DAMAGE = {
    "truncated weights": lambda c: truncate(c / "model.safetensors"),
    "missing optimizer": lambda c: (c / "optimizer.safetensors").unlink(),
    "garbage trainer.json": lambda c: (c / "trainer.json").write_text('{"format": "titans-chec'),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_latest_checkpoint_is_named_and_the_newest_intact_one_used(tmp_path, capsys, trainer, damage):
    config = dict(steps=6, save_every=2, eval_every=2, keep_checkpoints=3)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    trainer(straight, **config).run()
    shutil.copytree(straight, resumed)  # a second run the same: a copy (only the out path differs)
    checkpoints = resumed / "checkpoints"
    rewind(resumed, dropped=6, latest=4)  # as if stopped after step 5 with checkpoints 2 and 4
    DAMAGE[damage](checkpoints / "step_0000004")
    capsys.readouterr()
    summary = trainer(resumed, **config).run(resume=True)
    err = capsys.readouterr().err
    assert f"checkpoint {checkpoints / 'step_0000004'} is damaged and was skipped" in err
    assert "resuming from step_0000002, the newest intact checkpoint (step 2)" in err
    assert summary.resumed_from == 2 and summary.steps == 4
    assert losses(resumed) == losses(straight)  # exact
    assert losses(resumed, "valid") == losses(straight, "valid")


def test_no_intact_checkpoint_names_every_damaged_one(tmp_path, trainer):
    trainer(tmp_path, steps=4, save_every=2).run()
    truncate(tmp_path / "checkpoints" / "step_0000004" / "model.safetensors")
    (tmp_path / "checkpoints" / "step_0000002" / "trainer.json").write_text("{")
    with pytest.raises(CheckpointError, match=r"no intact checkpoint .*step_0000004: .*truncated or corrupt.*"
                                              r"step_0000002: .*not valid JSON"):
        trainer(tmp_path, steps=4, save_every=2).run(resume=True)


def test_a_resume_with_a_damaged_latest_through_the_cli(tmp_path, corpus_dir, capsys):
    run = tmp_path / "run"
    main(["train", "--data", str(corpus_dir), "--out", str(run), *cli_flags(steps=4, every=2, sample_tokens=0)])
    truncate(run / "checkpoints" / "step_0000004" / "model.safetensors")  # the last one, of a finished run
    capsys.readouterr()
    main(["train", "--resume", "--out", str(run)])  # the settings come from the run folder
    out, err = capsys.readouterr()
    assert "step_0000004 is damaged and was skipped" in err and "resuming from step_0000002" in err
    assert "for 2 steps (resumed at step 2, now 4 of 4), 128 tokens" in out
    assert find_checkpoint(run).name == "step_0000004"


def test_the_summary_counts_this_invocation_and_says_where_things_are(tmp_path, corpus_dir, capsys):
    run = tmp_path / "run"
    main(["train", "--data", str(corpus_dir), "--out", str(run), *cli_flags(steps=6, every=3, sample_tokens=8)])
    out = capsys.readouterr().out
    assert "for 6 steps, 384 tokens" in out and "resumed" not in out
    assert f"loss curves: {run / 'loss.png'}" in out and f"sample: (saved in {run / 'sample.txt'})" in out
    sample = (run / "sample.txt").read_text()
    assert sample.strip() and sample.strip() in out

    rewind(run, dropped=6, latest=3)
    main(["train", "--resume", "--out", str(run)])
    out = capsys.readouterr().out
    assert "for 3 steps (resumed at step 3, now 6 of 6), 192 tokens" in out

    main(["train", "--resume", "--out", str(run)])  # finished: nothing trained, nothing generated
    out = capsys.readouterr().out
    assert out.startswith(f"{run} is already finished (6 of 6 steps); nothing was trained or generated\n")
    assert re.search(r"final validation: loss \d+\.\d{4} nats/token", out) and "sample" not in out


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_again(tmp_path, capsys, trainer):
    trainer(tmp_path, steps=3).run()
    straight = losses(tmp_path)
    shutil.rmtree(tmp_path / "checkpoints")
    capsys.readouterr()
    summary = trainer(tmp_path, steps=3).run(resume=True)
    assert "holds no checkpoint yet (the run stopped before its first): starting it from step 0" in \
        capsys.readouterr().err
    assert summary.resumed_from == 0 and losses(tmp_path) == straight
    with pytest.raises(CheckpointError, match="nothing to resume"):
        trainer(tmp_path / "never").run(resume=True)


def test_validation_lines_go_above_the_progress_bar(tmp_path, capsys, trainer):
    trainer(tmp_path, progress=True, steps=6, eval_every=3).run()
    err = capsys.readouterr().err
    for step in (3, 6):
        at = err.index(f"step {step}: validation")
        assert err[at - 1] in "\r\n", repr(err[at - 40:at + 20])  # not glued to the bar's "...]"
    assert re.search(r"\| \d/6 \[\d\d:\d\d<\d\d:\d\d, .*tok_s=[\d,]+\]", err)  # steps, elapsed<ETA, tokens/s


@pytest.mark.draws_loss_png
def test_loss_png_is_redrawn_at_every_checkpoint_and_at_an_interrupt(tmp_path, monkeypatch, trainer):
    drawn = []
    real_plot = MetricsLog.plot

    def spy(self):
        drawn.append(max(r["step"] for r in self.records()))
        real_plot(self)

    monkeypatch.setattr(MetricsLog, "plot", spy)
    run = trainer(tmp_path, steps=8, eval_every=100, save_every=2)
    real_step = run._step

    def step_then_ctrl_c(step, carried):
        out = real_step(step, carried)
        if step == 4:  # during step 5
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(run, "_step", step_then_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match=r"interrupted by SIGINT after step 5 of 8; checkpoint written "
                                                  r"to .*step_0000005; resume with: titans train --resume") as stop:
        run.run()
    assert stop.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is handler  # the usual Ctrl-C is back
    assert drawn == [2, 4, 5]  # the checkpoints at 2 and 4 (no validation ran), then the interrupt
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert find_checkpoint(tmp_path).name == "step_0000005"


def test_a_torn_last_metrics_line_is_skipped(tmp_path, trainer):
    trainer(tmp_path).run()
    straight = losses(tmp_path)
    rewind(tmp_path, dropped=6, latest=3)
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "train", "step": 7, "lo')  # killed while appending
    trainer(tmp_path).run(resume=True)
    assert losses(tmp_path) == straight
