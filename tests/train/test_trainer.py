"""The training loop: learning, exact resume, skipped non-finite steps, checkpoint errors."""

import json
import math
import shutil

import pytest
import torch

from titans.train import Trainer, TrainingDiverged
from titans.train.checkpoint import CheckpointError, find_checkpoint
from titans.train.trainer import learning_rate


def losses(run_dir, kind="train", key="loss"):
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r[key] for r in records if r["kind"] == kind}


def test_learning_rate_warms_up_then_decays_to_the_floor(tmp_path, tiny_config):
    config = tiny_config(tmp_path, steps=100, warmup=10, lr=1e-3, min_lr_ratio=0.1)
    rates = [learning_rate(config, s) for s in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:]))
    assert rates[-1] == pytest.approx(1e-4, rel=0.01)


@pytest.mark.draws_loss_png
def test_training_lowers_the_validation_loss_and_writes_the_run_folder(tmp_path, corpus_documents, tiny_config):
    run = tmp_path / "run"
    summary = Trainer(tiny_config(run, steps=12, eval_every=4, save_every=6), documents=corpus_documents,
                      progress=False).run()
    valid = losses(run, "valid")
    assert valid[12] < valid[4]
    assert summary.validation.loss == pytest.approx(valid[12])
    assert math.isfinite(summary.validation.bits_per_byte)
    train_records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][:1]
    assert {"memory.0.theta", "memory.0.alpha", "memory.1.inner_loss"} <= set(train_records[0])
    valid_records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                     if json.loads(line)["kind"] == "valid"]
    assert [r["tokens"] for r in valid_records] == [4 * 128, 8 * 128, 12 * 128]  # training tokens, the x axis
    assert (run / "loss.png").stat().st_size > 0 and (run / "train_config.json").is_file()
    assert find_checkpoint(run).name == "step_0000012"


@pytest.mark.parametrize("variant,carry", [("mag", False), ("mac", True), ("transformer", True)])
def test_resume_repeats_the_uninterrupted_losses_exactly(tmp_path, corpus_documents, variant, carry, tiny_config):
    config = dict(variant=variant, carry_state=carry, accumulation=2)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    Trainer(tiny_config(straight, **config), documents=corpus_documents, progress=False).run()
    # a copy of the finished run stands for a second one trained the same way (the out path, the one thing
    # that differs, is not a setting a resume must keep); interrupt it after step 3: forget everything the
    # second half wrote, then resume
    shutil.copytree(straight, resumed)
    checkpoints = resumed / "checkpoints"
    shutil.rmtree(checkpoints / "step_0000006")
    (checkpoints / "latest").write_text("step_0000003\n")
    Trainer(tiny_config(resumed, **config), documents=corpus_documents, progress=False).run(resume=True)
    assert losses(resumed) == losses(straight)  # exact, not approximate
    assert losses(resumed, "valid") == losses(straight, "valid")
    assert sorted(losses(resumed)) == list(range(1, 7))


def test_a_second_run_in_the_same_folder_is_refused(tmp_path, corpus_documents, tiny_config):
    Trainer(tiny_config(tmp_path, steps=3), documents=corpus_documents, progress=False).run()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(tiny_config(tmp_path, steps=3), documents=corpus_documents, progress=False).run()


def test_resuming_with_other_settings_is_refused(tmp_path, corpus_documents, tiny_config):
    Trainer(tiny_config(tmp_path, steps=3), documents=corpus_documents, progress=False).run()
    with pytest.raises(ValueError, match="lr"):
        Trainer(tiny_config(tmp_path, steps=3, lr=1e-2), documents=corpus_documents, progress=False).run(resume=True)


def test_auto_and_the_tokenizer_it_names_resume_alike(tmp_path, corpus_documents, tiny_config, sp_model):
    Trainer(tiny_config(tmp_path, steps=6, save_every=3), documents=corpus_documents, progress=False).run()
    checkpoints = tmp_path / "checkpoints"
    shutil.rmtree(checkpoints / "step_0000006")
    (checkpoints / "latest").write_text("step_0000003\n")
    named = tiny_config(tmp_path, steps=6, save_every=3, tokenizer="bytes")  # the run was saved with "auto"
    Trainer(named, documents=corpus_documents, progress=False).run(resume=True)
    assert sorted(losses(tmp_path)) == list(range(1, 7))
    other = tiny_config(tmp_path, steps=6, save_every=3, tokenizer=str(sp_model))
    with pytest.raises(ValueError, match="cannot resume: .* other tokenizer"):
        Trainer(other, documents=corpus_documents, progress=False).run(resume=True)


def test_documents_passed_in_are_read_as_bytes_under_auto(tmp_path, corpus_documents, tiny_config):
    trainer = Trainer(tiny_config(tmp_path, data="wikipedia"), documents=corpus_documents, progress=False)
    assert trainer.tokenizer.vocab_size == 256  # not the wikipedia recipe's bpe-8192: no recipe was read


def test_non_finite_steps_are_skipped_then_stop_the_run(tmp_path, corpus_documents, monkeypatch, capsys, tiny_config):
    # one loss per step (row_threads=1), so that the calls count steps
    trainer = Trainer(tiny_config(tmp_path, steps=12, save_every=2, max_bad_steps=3, row_threads=1),
                      documents=corpus_documents, progress=False)
    real_loss = trainer._loss
    calls = {"n": 0}

    def poisoned(batch, state, n_scored):
        loss, nats, state = real_loss(batch, state, n_scored)
        calls["n"] += 1
        bad = calls["n"] == 3 or calls["n"] >= 6  # one bad step (3), then bad from step 6 on
        return (loss * float("nan"), nats * float("nan"), state) if bad else (loss, nats, state)

    monkeypatch.setattr(trainer, "_loss", poisoned)
    with pytest.raises(TrainingDiverged, match="3 non-finite steps in a row up to step 8"):
        trainer.run()
    err = capsys.readouterr().err
    assert "step 3: non-finite" in err and "step skipped (1 in a row)" in err
    # the last good checkpoint is intact: 4 good steps (1, 2, 4, 5) were taken
    latest = find_checkpoint(tmp_path)
    assert latest.name == "step_0000004"
    assert set(losses(tmp_path)) == {1, 2, 4, 5}


def test_a_truncated_or_foreign_checkpoint_is_a_clear_error(tmp_path, corpus_documents, tiny_config):
    Trainer(tiny_config(tmp_path, steps=3), documents=corpus_documents, progress=False).run()
    checkpoint = find_checkpoint(tmp_path)
    weights = checkpoint / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        Trainer(tiny_config(tmp_path, steps=3), documents=corpus_documents, progress=False).run(resume=True)
    info = json.loads((checkpoint / "trainer.json").read_text())
    (checkpoint / "trainer.json").write_text(json.dumps({**info, "format": "something-else"}))
    with pytest.raises(CheckpointError, match="not a titans training checkpoint"):
        Trainer(tiny_config(tmp_path, steps=3), documents=corpus_documents, progress=False).run(resume=True)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        find_checkpoint(tmp_path / "nowhere")


def test_checkpoints_hold_no_pickle(tmp_path, corpus_documents, tiny_config):
    Trainer(tiny_config(tmp_path, steps=3, carry_state=True), documents=corpus_documents, progress=False).run()
    checkpoint = find_checkpoint(tmp_path)
    suffixes = {p.suffix for p in checkpoint.rglob("*") if p.is_file()}
    assert suffixes <= {".safetensors", ".json", ".model", ""}, suffixes  # "" is the tokenizer's own files



def test_init_starts_from_the_saved_weights_with_a_fresh_optimiser(tmp_path, corpus_documents, tiny_config):
    first = Trainer(tiny_config(tmp_path / "first", steps=3), documents=corpus_documents, progress=False)
    first.run()
    first.module.save_pretrained(tmp_path / "exported", dtype=torch.bfloat16)
    trained = first.module.state_dict()
    untrained = Trainer(tiny_config(tmp_path / "fresh"), documents=corpus_documents, progress=False).module.state_dict()
    assert any(not torch.equal(trained[name], untrained[name]) for name in trained)
    for source, tolerance in ((tmp_path / "first", 0.0), (tmp_path / "exported", 1e-2)):  # run folder, bf16 export
        # 3 steps (a validation and a checkpoint among them) show it trains; the default 6 add nothing
        started = Trainer(tiny_config(tmp_path / f"from-{source.name}", init=str(source), steps=3),
                          documents=corpus_documents, progress=False)
        weights = started.module.state_dict()
        for name, value in trained.items():
            torch.testing.assert_close(weights[name], value, atol=tolerance, rtol=tolerance)
        assert not started.optimizer.state
        started.run()  # and it trains from there


def test_init_from_another_model_or_nothing_is_a_clear_error(tmp_path, corpus_documents, tiny_config):
    Trainer(tiny_config(tmp_path / "first", steps=3), documents=corpus_documents, progress=False).run()
    with pytest.raises(ValueError, match="dim = 32 .this run: 64."):
        Trainer(tiny_config(tmp_path / "second", init=str(tmp_path / "first"), model={"dim": 64}),
                documents=corpus_documents, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        Trainer(tiny_config(tmp_path / "third", init=str(tmp_path / "nowhere")), documents=corpus_documents,
                progress=False)


def test_init_may_change_how_far_attention_reaches_and_what_the_memory_forgets_towards(
        tmp_path, corpus_documents, tiny_config):
    # window, segment and memory_forget_to shape no weight: a curriculum may change them between stages
    first = Trainer(tiny_config(tmp_path / "first", steps=3), documents=corpus_documents, progress=False)
    first.run()
    window = first.module.config.window
    wider = Trainer(tiny_config(tmp_path / "wider", init=str(tmp_path / "first"),
                                model={"window": 2 * window, "segment": 2 * window, "memory_forget_to": "init"}),
                    documents=corpus_documents, progress=False)
    assert wider.module.config.window == 2 * window and wider.module.config.memory_forget_to == "init"
    for name, value in first.module.state_dict().items():
        assert torch.equal(wider.module.state_dict()[name], value)


@pytest.mark.parametrize("resets", [True, False])
def test_document_resets_reach_the_model_only_when_asked(tmp_path, corpus_documents, tiny_config, resets):
    trainer = Trainer(tiny_config(tmp_path, steps=2, carry_state=True, document_resets=resets, row_threads=1),
                      documents=corpus_documents, progress=False)  # one forward per step: row_threads=1
    batches = [trainer.train_lanes.batch(step) for step in range(2)]
    assert any(bool(b.reset.any()) for b in batches)  # the packed documents start inside these rows
    seen, forward = [], trainer.forward

    def recording(tokens, state, *, reset=None, **loss):
        seen.append(reset)
        return forward(tokens, state, reset=reset, **loss)

    trainer.forward = recording
    for step in range(2):
        trainer._step(step, None)
    passed = [reset is not None for reset in seen]
    assert passed == ([bool(b.reset.any()) for b in batches] if resets else [False, False])
