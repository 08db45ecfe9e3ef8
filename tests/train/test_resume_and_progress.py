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


DAMAGE = {
    "truncated weights": lambda c: truncate(c / "model.safetensors"),
    "missing optimizer": lambda c: (c / "optimizer.safetensors").unlink(),
    "garbage trainer.json": lambda c: (c / "trainer.json").write_text('{"format": "titans-chec'),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_latest_checkpoint_is_named_and_the_newest_intact_one_used(tmp_path, corpus_documents, capsys,
                                                                             tiny_config, damage):
    config = dict(steps=6, save_every=2, eval_every=2, keep_checkpoints=3, variant="transformer")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    Trainer(tiny_config(straight, **config), documents=corpus_documents, progress=False).run()
    Trainer(tiny_config(resumed, **config), documents=corpus_documents, progress=False).run()
    checkpoints = resumed / "checkpoints"
    shutil.rmtree(checkpoints / "step_0000006")  # as if stopped after step 5 with checkpoints 2 and 4
    (checkpoints / "latest").write_text("step_0000004\n")
    DAMAGE[damage](checkpoints / "step_0000004")
    capsys.readouterr()
    summary = Trainer(tiny_config(resumed, **config), documents=corpus_documents, progress=False).run(resume=True)
    err = capsys.readouterr().err
    assert f"checkpoint {checkpoints / 'step_0000004'} is damaged and was skipped" in err
    assert "resuming from step_0000002, the newest intact checkpoint (step 2)" in err
    assert summary.resumed_from == 2 and summary.steps == 4
    assert losses(resumed) == losses(straight)  # exact
    assert losses(resumed, "valid") == losses(straight, "valid")


def test_no_intact_checkpoint_names_every_damaged_one(tmp_path, corpus_documents, tiny_config):
    Trainer(tiny_config(tmp_path, steps=4, save_every=2, variant="transformer"), documents=corpus_documents,
            progress=False).run()
    truncate(tmp_path / "checkpoints" / "step_0000004" / "model.safetensors")
    (tmp_path / "checkpoints" / "step_0000002" / "trainer.json").write_text("{")
    with pytest.raises(CheckpointError, match=r"no intact checkpoint .*step_0000004: .*truncated or corrupt.*"
                                              r"step_0000002: .*not valid JSON"):
        Trainer(tiny_config(tmp_path, steps=4, save_every=2, variant="transformer"), documents=corpus_documents,
                progress=False).run(resume=True)


def test_a_resume_with_a_damaged_latest_through_the_cli(tmp_path, corpus_dir, capsys):
    run = tmp_path / "run"
    flags = ["--preset", "tiny", "--variant", "transformer", "--context", "32", "--batch-tokens", "64",
             "--steps", "4", "--eval-every", "2", "--eval-tokens", "128", "--save-every", "2", "--sample-tokens", "0",
             "--no-progress", "--device", "cpu"]
    main(["train", "--data", str(corpus_dir), "--out", str(run), *flags])
    truncate(run / "checkpoints" / "step_0000004" / "model.safetensors")  # the last one, of a finished run
    capsys.readouterr()
    main(["train", "--resume", "--out", str(run)])  # the settings come from the run folder
    out, err = capsys.readouterr()
    assert "step_0000004 is damaged and was skipped" in err and "resuming from step_0000002" in err
    assert "for 2 steps (resumed at step 2, now 4 of 4), 128 tokens" in out
    assert find_checkpoint(run).name == "step_0000004"


def test_the_summary_counts_this_invocation_and_says_where_things_are(tmp_path, corpus_dir, capsys):
    run = tmp_path / "run"
    flags = ["--preset", "tiny", "--variant", "transformer", "--context", "32", "--batch-tokens", "64",
             "--steps", "6", "--eval-every", "3", "--eval-tokens", "128", "--save-every", "3", "--sample-tokens", "8",
             "--no-progress", "--device", "cpu"]
    main(["train", "--data", str(corpus_dir), "--out", str(run), *flags])
    out = capsys.readouterr().out
    assert "for 6 steps, 384 tokens" in out and "resumed" not in out
    assert f"loss curves: {run / 'loss.png'}" in out and f"sample: (saved in {run / 'sample.txt'})" in out
    sample = (run / "sample.txt").read_text()
    assert sample.strip() and sample.strip() in out

    shutil.rmtree(run / "checkpoints" / "step_0000006")
    (run / "checkpoints" / "latest").write_text("step_0000003\n")
    main(["train", "--resume", "--out", str(run)])
    out = capsys.readouterr().out
    assert "for 3 steps (resumed at step 3, now 6 of 6), 192 tokens" in out

    main(["train", "--resume", "--out", str(run)])  # finished: nothing trained, nothing generated
    out = capsys.readouterr().out
    assert out.startswith(f"{run} is already finished (6 of 6 steps); nothing was trained or generated\n")
    assert re.search(r"final validation: loss \d+\.\d{4} nats/token", out) and "sample" not in out


def test_resume_of_a_run_stopped_before_its_first_checkpoint_starts_it_again(tmp_path, corpus_documents, capsys,
                                                                               tiny_config):
    config = tiny_config(tmp_path, steps=3, variant="transformer")
    Trainer(config, documents=corpus_documents, progress=False).run()
    straight = losses(tmp_path)
    shutil.rmtree(tmp_path / "checkpoints")
    capsys.readouterr()
    summary = Trainer(config, documents=corpus_documents, progress=False).run(resume=True)
    assert "holds no checkpoint yet (the run stopped before its first): starting it from step 0" in \
        capsys.readouterr().err
    assert summary.resumed_from == 0 and losses(tmp_path) == straight
    with pytest.raises(CheckpointError, match="nothing to resume"):
        Trainer(tiny_config(tmp_path / "never"), documents=corpus_documents, progress=False).run(resume=True)


def test_validation_lines_go_above_the_progress_bar(tmp_path, corpus_documents, capsys, tiny_config):
    Trainer(tiny_config(tmp_path, steps=6, eval_every=3, variant="transformer"), documents=corpus_documents,
            progress=True).run()
    err = capsys.readouterr().err
    for step in (3, 6):
        at = err.index(f"step {step}: validation")
        assert err[at - 1] in "\r\n", repr(err[at - 40:at + 20])  # not glued to the bar's "...]"
    assert re.search(r"\| \d/6 \[\d\d:\d\d<\d\d:\d\d, .*tok_s=[\d,]+\]", err)  # steps, elapsed<ETA, tokens/s


def test_loss_png_is_redrawn_at_every_checkpoint_and_at_an_interrupt(tmp_path, corpus_documents, monkeypatch,
                                                                     tiny_config):
    drawn = []
    real_plot = MetricsLog.plot

    def spy(self):
        drawn.append(max(r["step"] for r in self.records()))
        real_plot(self)

    monkeypatch.setattr(MetricsLog, "plot", spy)
    trainer = Trainer(tiny_config(tmp_path, steps=8, eval_every=100, save_every=2, variant="transformer"),
                      documents=corpus_documents, progress=False)
    real_step = trainer._step

    def step_then_ctrl_c(step, carried):
        out = real_step(step, carried)
        if step == 4:  # during step 5
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(trainer, "_step", step_then_ctrl_c)
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match=r"interrupted by SIGINT after step 5 of 8; checkpoint written "
                                                  r"to .*step_0000005; resume with: titans train --resume") as stop:
        trainer.run()
    assert stop.value.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is handler  # the usual Ctrl-C is back
    assert drawn == [2, 4, 5]  # the checkpoints at 2 and 4 (no validation ran), then the interrupt
    assert (tmp_path / "loss.png").stat().st_size > 0
    assert find_checkpoint(tmp_path).name == "step_0000005"


def test_a_torn_last_metrics_line_is_skipped(tmp_path, corpus_documents, tiny_config):
    config = tiny_config(tmp_path, steps=6, variant="transformer")
    Trainer(config, documents=corpus_documents, progress=False).run()
    straight = losses(tmp_path)
    shutil.rmtree(tmp_path / "checkpoints" / "step_0000006")
    (tmp_path / "checkpoints" / "latest").write_text("step_0000003\n")
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"kind": "train", "step": 7, "lo')  # killed while appending
    Trainer(config, documents=corpus_documents, progress=False).run(resume=True)
    assert losses(tmp_path) == straight
