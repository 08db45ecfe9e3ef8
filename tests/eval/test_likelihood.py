"""titans.eval.likelihood: per-token log-probabilities read in windows with the state carried, batched."""

import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.config import VARIANTS
from titans.eval.likelihood import score_tokens


def sequences():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, 256, (n,), generator=g).tolist() for n in (41, 5, 1, 23, 0, 30)]


@pytest.mark.parametrize("variant", VARIANTS)
def test_windows_and_batches_equal_one_call_per_sequence(variant):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant)).double().eval()
    seqs = sequences()
    scores = score_tokens(model, seqs, window=7, batch=4)  # windows cut chunks, segments and padded rows
    for seq, score in zip(seqs, scores):
        assert score.logprobs.shape == score.greedy.shape == (max(len(seq) - 1, 0),)
        if len(seq) < 2:
            assert score.last(0) == (0.0, True)
            continue
        with torch.no_grad():
            log_p = model(torch.tensor([seq[:-1]]))[0][0].log_softmax(-1)
        torch.testing.assert_close(score.logprobs, log_p[range(len(seq) - 1), seq[1:]].float())
        assert score.greedy.tolist() == (log_p.argmax(-1) == torch.tensor(seq[1:])).tolist()
        assert score.last(3)[0] == pytest.approx(float(log_p[range(len(seq) - 1), seq[1:]][-3:].sum()), abs=1e-5)


def test_bad_window_or_batch_is_a_clear_error():
    model = TitansLM(TitansConfig.from_name("tiny", variant="swa"))
    with pytest.raises(ValueError, match="window and batch must be positive"):
        score_tokens(model, [[1, 2]], window=0)
