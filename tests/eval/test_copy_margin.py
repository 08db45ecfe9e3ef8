"""experiments/long_context/copy_margin.py: the teacher-forced log-probabilities of an answer."""

import math
from pathlib import Path

import pytest
import torch
from scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "long_context" / "copy_margin.py"
copy_margin = load_script(SCRIPT)


class Predicts:
    """A stand-in model that puts probability 0.9 on ``text``'s next byte at every position; its state is
    the number of bytes read."""

    def __init__(self, text: bytes):
        self.text = text

    def __call__(self, tokens, state=None):
        read = state or 0
        if read:  # a continuation of the prompt: the answer's bytes follow a space
            assert tokens[0, 0].item() == ord(" ")
        following = torch.tensor([list(self.text[read + 1:read + tokens.shape[1] + 1])])
        logits = torch.zeros(1, tokens.shape[1], 256)
        logits.scatter_(-1, following.unsqueeze(-1), math.log(0.9 / 0.1 * 255))  # 0.9 against 255 others' 0.1
        return logits, read + tokens.shape[1]


def test_the_answers_bytes_are_read_after_the_prompt_and_a_space():
    prompt, answer = b"the magic word is: parcel. It is", "parcel"
    model = Predicts(prompt + b" " + answer.encode())
    own, foreign = copy_margin.answer_log_probs(model, prompt, [answer, "pillow"])
    assert own.shape == (len(answer),)
    assert own.exp() == pytest.approx(torch.full((6,), 0.9), abs=1e-4)
    # another value in the same prompt: every byte but a shared one is one the model did not predict
    assert foreign[0].exp().item() == pytest.approx(0.9, abs=1e-4)  # the shared first letter
    assert (foreign[1:].exp() < 1e-3).all()


def test_uniform_predictions_give_no_gap():
    uniform = lambda tokens, state=None: (torch.zeros(1, tokens.shape[1], 256), None)
    (own,) = copy_margin.answer_log_probs(uniform, b"x" * 20, ["abc"])
    assert own.tolist() == pytest.approx([-math.log(256)] * 3)


@pytest.mark.parametrize("variant", ["lmm", "mac", "mag", "mal", "swa", "transformer"])
def test_every_answer_continues_the_prompt_read_once_as_one_call_would(variant):
    """Two answers from one prompt state: each equals reading prompt + answer in one call, so the first
    continuation leaves the shared state as it found it."""
    from titans import TitansConfig, TitansLM

    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant)).eval()
    prompt, answers = bytes(range(97, 123)) * 3, ["parcel", "pillow"]
    read = copy_margin.answer_log_probs(model, prompt, answers)
    for answer, log_probs in zip(answers, read):
        tokens = torch.tensor([list(prompt + b" " + answer.encode())])
        with torch.no_grad():
            one_call = model(tokens[:, :-1])[0].log_softmax(-1)[0, -len(answer):]
        expected = one_call[torch.arange(len(answer)), tokens[0, -len(answer):]]
        torch.testing.assert_close(log_probs, expected, rtol=1e-4, atol=1e-4)


def test_the_distractor_is_another_answer_of_the_same_kind_not_in_the_prompt():
    from titans.eval.tasks import Sample

    samples = [Sample(b"Mary went to the attic. Where is Mary?", "attic", "qa1", None),
               Sample(b"x", "attic", "qa1", None),   # the same answer: never a distractor
               Sample(b"x", "Irene", "qa5", None),   # a name for a word: another kind
               Sample(b"x", "garden", "qa1", None),
               Sample(b"x", "cellar", "qa1", None)]
    assert copy_margin.distractor(samples, 0) == "garden"
    samples[0] = Sample(b"Mary went to the garden and the attic.", "attic", "qa1", None)
    assert copy_margin.distractor(samples, 0) == "cellar"  # garden is in the prompt
    samples[0] = Sample(b"the garden, the cellar", "attic", "qa1", None)
    assert copy_margin.distractor(samples, 0) == "garden"  # every one is: the next of its kind
    assert copy_margin.distractor(samples, 2) is None  # no other name
