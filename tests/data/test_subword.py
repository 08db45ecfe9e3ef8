"""The subword tokenizer fitted to a run's training split (``tokenizer = "bpe-N"``): lossless, so that
bits per byte count every byte once; deterministic and cached; fitted on the training documents only."""

import json
import random

import pytest

from titans.data import Document, split_documents
from titans.data import subword
from titans.data.subword import fit_subword_tokenizer, subword_vocab_size
from titans.data.tokenizers import load_tokenizer
from titans.train import Trainer
from titans.train.checkpoint import find_checkpoint
from titans.train.config import TrainConfig

SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "the", "and", "ing", "er", "st", "qu")


def prose(seed: int, lines: int = 400) -> str:
    """Generated lines of made-up words and a year (enough distinct pieces for a few hundred merges)."""
    rng = random.Random(seed)
    words = ["".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    years = [str(rng.randint(1900, 2030)) for _ in range(5)]  # a few numbers, often repeated: merges unless split
    return "\n".join(" ".join(rng.choice(words) for _ in range(rng.randint(3, 15))) + f" {rng.choice(years)}."
                     for _ in range(lines))


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TITANS_DATA", str(cache))
        return fit_subword_tokenizer([prose(0), prose(1)], 400)


def test_the_name_gives_the_vocabulary_size_and_bad_names_say_what_is_accepted():
    assert subword_vocab_size("bpe-4096") == 4096
    assert subword_vocab_size("bytes") is None and subword_vocab_size("llama2") is None
    for bad in ("bpe-", "bpe-12", "bpe-4k", "bpe-100000"):
        with pytest.raises(ValueError, match=r"bpe-N with N pieces in \[320, 65536\]"):
            subword_vocab_size(bad)
    with pytest.raises(ValueError, match="bpe-N"):
        TrainConfig(tokenizer="bpe-4k")


def test_text_it_never_saw_round_trips_and_its_pieces_count_every_byte_once(fitted):
    assert fitted.vocab_size == 400 and fitted.name == "bpe-400"
    unseen = "  Two  spaces, a\ttab,\n\nblank lines, café, 中文, 🙂 and 20241205 - kalo   mine.\n"
    ids = fitted.encode(unseen)
    assert fitted.decode(ids) == unseen
    lengths = fitted.byte_lengths()
    assert sum(lengths[i] for i in ids) == len(unseen.encode("utf-8"))
    assert fitted.piece_to_id("<unk>") not in ids  # byte fallback: nothing is unknown


def test_digits_are_split_one_by_one(fitted):
    pieces = [fitted.id_to_piece(i) for i in fitted.encode("19201990")]  # digits of the years in the text
    assert pieces == list("19201990")


def test_the_same_text_gives_the_same_vocabulary_from_the_cache_or_fitted_again(fitted, tmp_path, monkeypatch):
    monkeypatch.setenv("TITANS_DATA", str(tmp_path / "elsewhere"))
    again = fit_subword_tokenizer([prose(0), prose(1)], 400)
    assert again.model_proto() == fitted.model_proto()  # fitted afresh in an empty cache: deterministic
    assert len(list((tmp_path / "elsewhere" / "tokenizers").glob("bpe-400-*.model"))) == 1

    def refit(*args):
        raise AssertionError("fitted again although the cache holds the model")

    monkeypatch.setattr(subword, "_fit", refit)
    assert fit_subword_tokenizer([prose(0), prose(1)], 400).model_proto() == fitted.model_proto()
    with pytest.raises(AssertionError, match="fitted again"):  # other text: another cache entry
        fit_subword_tokenizer([prose(2)], 400)


def test_too_many_pieces_for_the_text_is_a_clear_error():
    with pytest.raises(ValueError, match="ask for fewer pieces"):
        fit_subword_tokenizer(["ab ab ab\nba ba"], 5000)
    with pytest.raises(ValueError, match="no text"):
        fit_subword_tokenizer(["", "\n\n"], 400)


def test_a_run_fits_it_to_the_training_split_and_saves_it(tmp_path, monkeypatch, tiny_config):
    docs = [Document(f"doc{i:03d}", prose(10 + i, lines=30)) for i in range(24)]
    docs.append(Document("held-out-4", "zyzzyva quixotic " * 200))
    train, valid = split_documents(docs)
    assert "held-out-4" in {d.name for d in valid}, "the probe document must fall in the validation split"
    monkeypatch.setenv("TITANS_DATA", str(tmp_path / "cache"))
    run = tmp_path / "run"
    trainer = Trainer(tiny_config(run, tokenizer="bpe-400", steps=3), documents=docs, progress=False)
    expected = fit_subword_tokenizer([d.text for d in train], 400)
    assert trainer.tokenizer.model_proto() == expected.model_proto()  # the held-out text did not shape it
    assert trainer.module.config.vocab_size == 400
    assert trainer.token_bytes.tolist() == expected.byte_lengths()  # bits per byte divide by these
    trainer.run()
    saved = load_tokenizer(find_checkpoint(run) / "tokenizer")
    assert saved.model_proto() == expected.model_proto() and saved.name == "bpe-400"
    assert json.loads((run / "train_config.json").read_text())["tokenizer"] == "bpe-400"

    # the same weights on other text: init refuses the newly fitted vocabulary, and takes the saved one
    other = [Document(d.name, prose(99) + d.text) for d in docs]
    with pytest.raises(ValueError, match="another tokenizer.*give tokenizer = .*tokenizer to keep its vocabulary"):
        Trainer(tiny_config(tmp_path / "other", tokenizer="bpe-400", init=str(run)), documents=other, progress=False)
    kept = Trainer(tiny_config(tmp_path / "kept", tokenizer=str(find_checkpoint(run) / "tokenizer"), init=str(run)),
                   documents=other, progress=False)
    assert kept.tokenizer.model_proto() == expected.model_proto()

    # a resume whose training text changed since the run began is refused, not trained on other ids
    with pytest.raises(ValueError, match="resume: .*another tokenizer.*training text changed"):
        Trainer(tiny_config(run, tokenizer="bpe-400", steps=3), documents=other, progress=False).run(resume=True)
    assert Trainer(tiny_config(run, tokenizer="bpe-400", steps=3), documents=docs, progress=False).run(
        resume=True).resumed_from == 3  # the same text: the same vocabulary, resumed (here: already finished)


def test_a_line_longer_than_sentencepiece_takes_is_cut_at_spaces_and_fitted(monkeypatch):
    line = prose(3).replace("\n", " ")  # one line of ~25K characters, like text8's single line
    assert len(line) > subword.LINE_CHARS
    parts = subword._cut(line)
    assert "".join(parts) == line and all(len(p) <= subword.LINE_CHARS for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])  # cut before a space, never inside a word
    tokenizer = fit_subword_tokenizer([line], 400)
    assert tokenizer.decode(tokenizer.encode(line)) == line
