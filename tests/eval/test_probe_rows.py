"""The rows of experiments/long_context/induction_probe.py: the copy and the qa1 lookup ("where")."""

import random
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from scripts import load_script

PROBE = Path(__file__).resolve().parents[2] / "experiments" / "long_context" / "induction_probe.py"
probe = load_script(PROBE)


@pytest.mark.parametrize("task,length", [("copy", 128), ("copy-letters", 128), ("copy-repeats", 128), ("where", 192),
                                         ("where", 512)])
def test_rows_fill_the_length_and_score_the_answer(task, length):
    tokens, scored = probe.batch(random.Random(3), 16, length, task)
    assert tokens.shape == (16, length + 1) and scored.shape == (16, length)
    for row, marks in zip(tokens, scored):
        text = bytes(row.tolist())
        answer = bytes(row[1:][marks].tolist())
        assert text.endswith(answer) and answer[-1:] in (b";", b".")
        # the scored bytes are the row's last ones, in one run
        assert marks[-len(answer):].all() and not marks[:-len(answer)].any()


@pytest.mark.parametrize("task,alphabet", [("copy", "0123456789"), ("copy-letters", "abcdefghijklmnopqrstuvwxyz"),
                                            ("copy-rare-letters", "klmnopqrstuvwxyz"),
                                            ("copy-any", "0123456789abcdefghijklmnopqrstuvwxyz")])
def test_copy_rows_repeat_the_key_drawn_from_their_alphabet(task, alphabet):
    keys = set()
    for seed in range(40):
        tokens, _ = probe.batch(random.Random(seed), 1, 128, task)
        text = bytes(tokens[0].tolist()).decode()
        stated = re.findall(r"k=(\w{6});", text)
        assert len(stated) == 2 and stated[0] == stated[1] and text.endswith(f"k={stated[0]};")
        assert set(stated[0]) <= set(alphabet)
        keys.update(stated[0])
    assert len(keys) > len(alphabet) * 3 // 4  # the whole alphabet, not a few symbols of it


def test_copy_repeats_draws_each_key_from_three_digits_and_all_digits_over_rows():
    seen, repeating = set(), 0
    for seed in range(60):
        tokens, _ = probe.batch(random.Random(seed), 1, 128, "copy-repeats")
        key = re.findall(r"k=(\w{6});", bytes(tokens[0].tolist()).decode())[0]
        assert key.isdigit() and len(set(key)) <= 3
        repeating += len(set(key)) < len(key)
        seen.update(key)
    assert repeating == 60 and seen == set("0123456789")  # six from three always repeat; every digit occurs


def test_where_answers_the_asked_persons_last_move():
    for seed in range(50):
        tokens, _ = probe.batch(random.Random(seed), 1, 256, "where")
        text = bytes(tokens[0].tolist()).decode()
        person, answer = re.search(r"\nWhere is (\w+)\? Answer: (\w+)\.$", text).groups()
        moves = re.findall(rf"{person} (?:{'|'.join(probe.MOVES)}) the (\w+)\. ", text)
        assert moves and moves[-1] == answer
        # random-letter places, never filler letters: the place is found only where the person moved to it
        assert set(answer) <= set(probe.PLACE_LETTERS) and not set(answer) & set(probe.LETTERS.decode())
        assert text.count(f" the {answer}. ") >= 1


def test_rows_are_a_function_of_the_seed():
    first, again = probe.batch(random.Random(7), 4, 256, "where"), probe.batch(random.Random(7), 4, 256, "where")
    other = probe.batch(random.Random(8), 4, 256, "where")
    assert torch.equal(first[0], again[0]) and not torch.equal(first[0], other[0])


def test_a_row_too_short_for_its_facts_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 192"):
        for seed in range(200):
            probe.batch(random.Random(seed), 1, 100, "where")


def test_answer_accuracy_counts_answer_bytes_and_first_bytes():
    tokens, scored = probe.batch(random.Random(0), 8, 256, "where")
    perfect = lambda inputs: F.one_hot(tokens[:, 1:], 256).float()  # predicts every next byte
    assert probe.answer_accuracy(perfect, tokens, scored) == (1.0, 1.0)
    shifted = lambda inputs: F.one_hot((tokens[:, 1:] + 1) % 256, 256).float()  # never right
    assert probe.answer_accuracy(shifted, tokens, scored) == (0.0, 0.0)
    first_only = tokens[:, 1:].clone()
    answer = scored & (first_only != ord("."))
    later = answer & (answer.cumsum(-1) > 1)
    first_only[later] = 0  # right on each answer's first byte, wrong after it
    every, first = probe.answer_accuracy(lambda inputs: F.one_hot(first_only, 256).float(), tokens, scored)
    assert first == 1.0 and every == pytest.approx(8 / answer.sum().item())
