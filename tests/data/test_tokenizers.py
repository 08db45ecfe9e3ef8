"""Tokenizers: byte-level and SentencePiece (a tiny model trained here, offline), save/load, byte lengths."""

import json
import pickle
import tracemalloc

import pytest
import torch

from titans.data import get_tokenizer, load_tokenizer, token_byte_lengths
from titans.data.tokenizers import ByteTokenizer, SentencePieceTokenizer, Tokenizer, encode_compact

SAMPLE = "Hello, world! Ünïcödé ✓ 日本語\nsecond line"


def test_bytes_round_trip_including_non_ascii():
    tok = get_tokenizer("bytes")
    assert isinstance(tok, Tokenizer) and tok.name == "bytes" and tok.vocab_size == 256
    ids = tok.encode(SAMPLE)
    assert ids == list(SAMPLE.encode("utf-8")) and len(ids) > len(SAMPLE)
    assert tok.decode(ids) == SAMPLE
    assert tok.decode(torch.tensor(ids)) == SAMPLE


def test_bytes_decode_of_a_cut_character_is_replaced_and_bad_ids_are_refused():
    tok = ByteTokenizer()
    assert tok.decode(tok.encode("é")[:1]) == "\ufffd"
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        tok.decode([300])


def test_bytes_save_load(tmp_path):
    ByteTokenizer().save(tmp_path / "tok")
    assert json.loads((tmp_path / "tok" / "tokenizer.json").read_text())["kind"] == "bytes"
    assert isinstance(load_tokenizer(tmp_path / "tok"), ByteTokenizer)
    assert token_byte_lengths(ByteTokenizer()).tolist() == [1] * 256


def test_sentencepiece_round_trip(sp_model):
    tok = get_tokenizer(str(sp_model))
    assert isinstance(tok, SentencePieceTokenizer) and tok.name == "tiny" and tok.vocab_size == 120
    text = "long context memory. surprise gradient"
    ids = tok.encode(text)
    assert ids and all(isinstance(i, int) for i in ids)
    assert 1 not in ids[:1] and tok.decode(ids) == text  # no BOS added (id 1 is <s>)
    with pytest.raises(ValueError, match=r"\[0, 120\)"):
        tok.decode([120])


def test_sentencepiece_save_load_and_pickle(sp_model, tmp_path):
    tok = SentencePieceTokenizer(sp_model, name="tiny-sp")
    tok.save(tmp_path / "saved")
    assert (tmp_path / "saved" / "tokenizer.model").read_bytes() == sp_model.read_bytes()
    for again in (load_tokenizer(tmp_path / "saved"), get_tokenizer(tmp_path / "saved"),
                  pickle.loads(pickle.dumps(tok))):
        assert again.name == "tiny-sp" and again.vocab_size == 120
        assert again.encode(SAMPLE) == tok.encode(SAMPLE)


def test_sentencepiece_byte_lengths(sp_model):
    tok = SentencePieceTokenizer(sp_model)
    lengths = token_byte_lengths(tok)
    assert lengths.shape == (120,) and lengths.dtype == torch.int64
    assert lengths[:3].tolist() == [0, 0, 0]  # <unk>, <s>, </s>
    text = "long context memory. surprise gradient"
    # every piece's bytes, the leading "▁" of the first word included, add up to the text plus that space
    assert int(lengths[tok.encode(text)].sum()) == len(text.encode()) + 1


def test_load_errors(tmp_path, sp_model):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_tokenizer(tmp_path)
    SentencePieceTokenizer(sp_model).save(tmp_path / "saved")
    config = json.loads((tmp_path / "saved" / "tokenizer.json").read_text())
    (tmp_path / "saved" / "tokenizer.json").write_text(json.dumps({**config, "vocab_size": 32000}))
    with pytest.raises(ValueError, match="do not belong together"):
        load_tokenizer(tmp_path / "saved")
    with pytest.raises(ValueError, match="unknown tokenizer 'gpt9'.*bytes, llama2"):
        get_tokenizer("gpt9")
    (tmp_path / "junk.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SentencePiece model"):
        get_tokenizer(tmp_path / "junk.model")


def test_a_compact_encoding_is_the_same_ids_in_one_byte_each():
    for tok in (ByteTokenizer(), get_tokenizer("nucleotides")):
        text = SAMPLE if tok.name == "bytes" else "ACGTNacgtn"
        ids = encode_compact(tok, text)
        assert ids.dtype.itemsize == 1 and ids.tolist() == tok.encode(text)

    class ListOnly:  # a tokenizer without encode_array (SentencePiece) keeps its list
        def encode(self, text):
            return [1, 2]

    assert encode_compact(ListOnly(), "ab") == [1, 2]


def test_byte_encoding_a_large_text_holds_one_copy_of_its_bytes():
    text = "the memory reads " * (1 << 19)  # 8.5 MB: a list of ids would take eight times as much again
    tracemalloc.start()
    try:
        ids = encode_compact(ByteTokenizer(), text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ids) == len(text) and peak < 1.1 * len(text), f"{peak / len(text):.2f}x the text's size"
