"""A step whose rows run in shares on threads (TrainConfig.row_threads) against the one-forward step: the
same loss and gradients up to float rounding, exactly repeatable, and one carried state per share."""

import pytest
import torch

from titans.train import Trainer
from titans.train.config import TrainConfig


def _trainer(tiny_config, tmp_path, corpus_documents, name, **changes):
    return Trainer(tiny_config(tmp_path / name, **changes), documents=corpus_documents, progress=False)


def _steps(trainer, n, carried=None):
    """Loss and grad norm of ``n`` steps, the parameters after them, the last carried states."""
    out = []
    for step in range(n):
        finite, loss, grad_norm, carried = trainer._step(step, carried)
        assert finite
        out.append((loss, grad_norm))
    return out, [p.detach().clone() for p in trainer.model.parameters()], carried


@pytest.mark.parametrize("variant", ["mac", "transformer"])
def test_shares_on_threads_learn_as_one_forward_does(tmp_path, corpus_documents, tiny_config, variant):
    one = _trainer(tiny_config, tmp_path, corpus_documents, "one", variant=variant, row_threads=1)
    shared = _trainer(tiny_config, tmp_path, corpus_documents, "shared", variant=variant, row_threads=2)
    assert (one.row_shares, shared.row_shares) == (1, 2)
    want, want_params, _ = _steps(one, 3)
    got, got_params, _ = _steps(shared, 3)
    for (loss, norm), (want_loss, want_norm) in zip(got, want):
        assert loss == pytest.approx(want_loss, rel=1e-5)
        assert norm == pytest.approx(want_norm, rel=1e-4)
    for p, q in zip(got_params, want_params):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_shares_repeat_exactly(tmp_path, corpus_documents, tiny_config):
    runs = [_steps(_trainer(tiny_config, tmp_path, corpus_documents, f"run{i}", variant="mac", row_threads=2), 2)
            for i in range(2)]
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(p, q) for p, q in zip(runs[0][1], runs[1][1]))


def test_each_share_carries_its_own_state_and_a_resume_needs_the_same_count(tmp_path, corpus_documents,
                                                                            tiny_config):
    shared = _trainer(tiny_config, tmp_path, corpus_documents, "shared", variant="mac", row_threads=2,
                      carry_state=True, accumulation=2)
    assert shared.row_shares == 2  # 4 rows: 2 micro-batches of 2 rows, each in 2 shares of one row
    _, _, carried = _steps(shared, 1)
    assert len(carried) == 4 and all(state.layers[0].memory.weights[0].shape[0] == 1 for state in carried)
    one = _trainer(tiny_config, tmp_path, corpus_documents, "one", variant="mac", row_threads=1,
                   carry_state=True, accumulation=2)
    with pytest.raises(ValueError, match=r"carries 4 states .* into 2: resume with the row_threads .*--row-threads 2"):
        one._step(1, carried)


def test_the_share_count_is_capped_by_the_rows_and_off_where_threads_do_not_apply(tmp_path, corpus_documents,
                                                                                  tiny_config):
    assert _trainer(tiny_config, tmp_path, corpus_documents, "many", row_threads=16).row_shares == 4  # 4 rows
    assert _trainer(tiny_config, tmp_path, corpus_documents, "compiled", row_threads=2, compile=True).row_shares == 1
    with pytest.raises(ValueError, match="row_threads = -1"):
        TrainConfig(row_threads=-1)


def test_a_run_records_the_count_it_resolved_and_older_runs_read_as_one(tmp_path, corpus_documents, tiny_config):
    trainer = _trainer(tiny_config, tmp_path, corpus_documents, "auto")
    assert trainer.config.row_threads == trainer.row_shares >= 1  # what a resume reads back
    saved = trainer.config.to_dict()
    assert TrainConfig.from_saved(saved).row_threads == trainer.row_shares
    del saved["row_threads"]  # a run saved before the field: one forward over all rows
    assert TrainConfig.from_saved(saved).row_threads == 1
