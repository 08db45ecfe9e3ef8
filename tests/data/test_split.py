"""split_documents: deterministic, disjoint, complete, in both regimes."""

import pytest

from titans.data import Document, split_documents
from titans.data.split import MIN_DOCUMENTS_FOR_HASH_SPLIT


def _docs(n, prefix="doc"):
    return [Document(f"{prefix}-{i}", f"text of document {i}\n" * 3) for i in range(n)]


def test_many_documents_split_whole_by_name_hash():
    docs = _docs(400)
    train, valid = split_documents(docs, 0.1)
    assert split_documents(list(docs), 0.1) == (train, valid)  # deterministic
    names_train, names_valid = {d.name for d in train}, {d.name for d in valid}
    assert not names_train & names_valid
    assert names_train | names_valid == {d.name for d in docs}
    assert set(train) | set(valid) == set(docs)  # whole documents, untouched
    assert 20 <= len(valid) <= 60  # about 10% of 400
    assert [d.name for d in train] == [d.name for d in docs if d.name in names_train]  # input order kept


def test_adding_documents_moves_no_existing_one():
    _, valid = split_documents(_docs(100), 0.2)
    _, valid_more = split_documents(_docs(100) + _docs(50, prefix="new"), 0.2)
    assert {d.name for d in valid} == {d.name for d in valid_more if d.name.startswith("doc-")}


def test_validation_is_never_empty():
    docs = _docs(MIN_DOCUMENTS_FOR_HASH_SPLIT)
    train, valid = split_documents(docs, 1e-9)
    assert len(valid) == 1 and len(train) == len(docs) - 1


def test_few_documents_hold_out_each_tail_at_a_line_break():
    docs = [Document(f"book-{i}", "".join(f"line {j} of book {i}\n" for j in range(200))) for i in range(3)]
    train, valid = split_documents(docs, 0.05)
    assert [d.name for d in train] == [d.name for d in valid] == ["book-0", "book-1", "book-2"]
    for doc, head, tail in zip(docs, train, valid):
        assert head.text + tail.text == doc.text
        assert head.text.endswith("\n") and tail.text.startswith("line ")
        assert abs(len(tail.text) - 0.05 * len(doc.text)) < 0.02 * len(doc.text)
    assert split_documents(docs, 0.05) == (train, valid)


def test_single_line_document_is_cut_at_a_space():
    text = " ".join(["anarchism"] * 1000)  # text8: no line breaks at all
    train, valid = split_documents([Document("text8", text)], 0.1)
    assert train[0].text + valid[0].text == text
    assert valid[0].text.startswith("anarchism")


def test_errors():
    for fraction in (0.0, -0.1, 0.6):
        with pytest.raises(ValueError, match=r"valid_fraction must be in \(0, 0.5\]"):
            split_documents(_docs(3), fraction)
    with pytest.raises(ValueError, match="empty corpus"):
        split_documents([], 0.05)
    with pytest.raises(ValueError, match="too small"):
        split_documents([Document("a", ""), Document("b", "x")], 0.05)
