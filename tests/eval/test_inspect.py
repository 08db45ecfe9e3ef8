"""titans inspect: the recorded surprise is the op's inner loss, the gates are the op's, the weight change
matches the decode path, pieces equal one call, the page is self-contained and holds every token."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from titans import TitansConfig, TitansLM
from titans.cli import main
from titans.data import get_tokenizer
from titans.eval.surprise import SurpriseMap, record_surprise, token_texts
from titans.eval.surprise_html import surprise_html
from titans.layers import NeuralMemory
from titans.layers.write_record import FIELDS, recording
from titans.ops import chunk_memory_update

MEMORY_VARIANTS = ["mac", "mag", "mal", "lmm"]
TEXT = 'Surprise <b>"me"</b> & </script> twice: é ✓ 🧠\nSurprise <b>"me"</b> & </script> twice: é ✓ 🧠\n'


def tiny(variant, dtype=torch.float64):
    torch.manual_seed(0)
    return TitansLM(TitansConfig.from_name("tiny", variant=variant)).to(dtype).eval()


def test_recorded_surprise_and_gates_are_what_the_op_received_and_returned():
    torch.manual_seed(0)
    memory = NeuralMemory(16, heads=2, chunk_size=4).double()
    x = torch.randn(2, 11, 16, dtype=torch.float64)
    with torch.no_grad(), recording(memory) as recorders:
        memory(x)
        record = recorders[""].take()
    assert memory.recorder is None  # detached after the context
    state = memory.initial_state(2)
    with torch.no_grad():
        q, k, v, _ = memory._project(x, state, None, None)
        theta, log_eta, log_keep = memory._gates(x)
        *_, inner_loss, change = chunk_memory_update(
            q, k, v, theta, log_eta, log_keep, state.weights, state.momentum, chunk_size=4, log_gates=True,
            return_inner_loss=True, return_weight_change=True)
    assert torch.equal(record["inner_loss"], inner_loss)
    assert torch.equal(record["weight_change"], change)
    assert torch.equal(record["theta"], theta)
    torch.testing.assert_close(record["eta"], log_eta.exp(), rtol=1e-15, atol=0)
    torch.testing.assert_close(record["alpha"], -torch.expm1(log_keep), rtol=1e-15, atol=0)
    assert record["inner_loss"].shape == (2, 2, 11)


@pytest.mark.parametrize("variant", MEMORY_VARIANTS)
def test_shapes_and_pieces_equal_one_call(variant):
    model, tokenizer = tiny(variant), get_tokenizer("bytes")
    ids = tokenizer.encode(TEXT)
    whole = record_surprise(model, ids, tokenizer, piece=len(ids))
    layers, heads = model.config.layers, model.config.memory_heads
    assert whole.layers == [f"blocks.{i}.memory" for i in range(layers)]
    for field in FIELDS:
        assert whole.values[field].shape == (layers, heads, len(ids))
        assert np.isfinite(whole.values[field]).all()
    assert (whole.values["inner_loss"] > 0).all() and (whole.values["weight_change"] > 0).all()
    # pieces that cut chunks and segments, and token by token (the constant-time decode path)
    for piece in (5, 1):
        pieces = record_surprise(model, ids, tokenizer, piece=piece)
        for field in FIELDS:
            np.testing.assert_allclose(pieces.values[field], whole.values[field], rtol=1e-10, atol=1e-14)


def test_recording_changes_nothing_and_stops_with_its_context():
    model = tiny("mal")
    x = torch.tensor([get_tokenizer("bytes").encode(TEXT)])
    with torch.no_grad():
        plain = model(x)[0]
        with recording(model) as recorders:
            recorded = model(x)[0]
            # the persistent tokens the memory reads first are not recorded: one record per document token
            assert all(r.take()["inner_loss"].shape == (1, 2, x.shape[1]) for r in recorders.values())
        again = model(x)[0]
    assert torch.equal(plain, recorded) and torch.equal(plain, again)
    assert all(r.take() == {} for r in recorders.values())  # nothing recorded after the context
    assert all(m.recorder is None for m in model.modules() if isinstance(m, NeuralMemory))


@pytest.mark.parametrize("variant", ["transformer", "swa"])
def test_a_model_without_memory_is_a_clear_error(variant):
    with pytest.raises(ValueError, match="has no memory"):
        record_surprise(tiny(variant), [1, 2, 3])


def test_empty_document_and_bad_piece_are_errors():
    with pytest.raises(ValueError, match="empty"):
        record_surprise(tiny("lmm"), [])
    with pytest.raises(ValueError, match="piece"):
        record_surprise(tiny("lmm"), [1, 2], piece=0)


def test_token_texts_give_back_the_text():
    tokenizer = get_tokenizer("bytes")
    texts = token_texts(tokenizer, tokenizer.encode(TEXT))
    assert "".join(texts) == TEXT and len(texts) == len(TEXT.encode())


class _Spans(HTMLParser):
    """The texts of the spans inside ``<div id="text">``, and every src / href."""

    def __init__(self):
        super().__init__()
        self.spans, self.links, self._inside, self._depth = [], [], False, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[a] for a in ("src", "href") if a in attrs]
        if tag == "div" and attrs.get("id") == "text":
            self._inside = True
        elif self._inside and tag == "span":
            self.spans.append("")

    def handle_endtag(self, tag):
        if tag == "div":
            self._inside = False

    def handle_data(self, data):
        if self._inside and self.spans:
            self.spans[-1] += data


def check_page(page: str, tokens: list[str]):
    parser = _Spans()
    parser.feed(page)
    assert parser.spans == tokens  # every token, in order, with its exact text
    assert parser.links == []  # no external script, style or link: works offline
    assert not re.search(r"https?://", page.split('id="surprise-data"')[0])
    assert page.count("</script>") == 2  # a "</script>" in the text cannot end the data early


def test_cli_writes_npz_json_page_and_plot(tmp_path, capsys):
    tiny("mag", torch.float32).save_pretrained(tmp_path / "run")
    (tmp_path / "doc.txt").write_text(TEXT, encoding="utf-8")
    main(["inspect", str(tmp_path / "run"), "--text", str(tmp_path / "doc.txt"), "--out", str(tmp_path / "out"),
          "--piece", "7"])
    assert "blocks.1.memory: mean surprise" in capsys.readouterr().out
    out = tmp_path / "out"
    loaded = SurpriseMap.load(out / "surprise.npz")
    n = len(TEXT.encode())
    assert loaded.values["inner_loss"].shape == (2, 2, n) and "".join(loaded.tokens) == TEXT
    meta = json.loads((out / "surprise.json").read_text())
    assert meta["tokens"] == n and meta["variant"] == "mag"
    check_page((out / "surprise.html").read_text(encoding="utf-8"), loaded.tokens)
    assert (out / "gates.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_refuses_a_model_without_memory(tmp_path, capsys):
    tiny("swa", torch.float32).save_pretrained(tmp_path / "run")
    (tmp_path / "doc.txt").write_text("abc")
    with pytest.raises(SystemExit):
        main(["inspect", str(tmp_path / "run"), "--text", str(tmp_path / "doc.txt"), "--out", str(tmp_path / "o")])
    assert "has no memory" in capsys.readouterr().err


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_page_renders_in_headless_chromium(tmp_path):
    """Optional: the page's script runs in a real browser (the shading is applied to the DOM)."""
    model, tokenizer = tiny("lmm"), get_tokenizer("bytes")
    ids = tokenizer.encode(TEXT)
    page = tmp_path / "surprise.html"
    page.write_text(surprise_html(record_surprise(model, ids, tokenizer), "test"), encoding="utf-8")
    dom = subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("background: rgba(230, 60, 20,") == len(ids)  # every token shaded by the script
    assert "head 1" in dom  # the selector was filled
