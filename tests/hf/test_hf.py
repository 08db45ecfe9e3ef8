"""titans.hf: the transformers model equals TitansLM (logits, greedy generation, padding, sampling),
generate reads each token once, save/load through the Auto classes, the byte tokenizer, export."""

import warnings

import pytest
import torch

pytest.importorskip("transformers")

import titans.hf  # noqa: E402  (registers the Auto classes)
from titans import TitansConfig, TitansLM  # noqa: E402
from titans.config import VARIANTS  # noqa: E402
from titans.data import get_tokenizer  # noqa: E402
from titans.generate import Sampling, generate  # noqa: E402
from titans.hf import TitansByteTokenizer, TitansCache, TitansForCausalLM, from_titans  # noqa: E402
from titans.hf._version import check_transformers  # noqa: E402

GREEDY = Sampling(temperature=0)


def make(variant, sharpen=True):
    torch.manual_seed(0)
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant)).double().eval()
    if sharpen:  # well-separated greedy choices
        with torch.no_grad():
            model.embed.weight.mul_(50)
    return model, from_titans(model)


def prompt(seed, length):
    return torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(seed)).tolist()


def count_tokens(hf):
    """A list that collects the number of tokens of each row the TitansLM inside reads per call."""
    read = []
    hf.titans.register_forward_pre_hook(lambda module, args: read.append(args[0].shape[1]))
    return read


def left_pad(prompts):
    longest = max(map(len, prompts))
    ids = torch.tensor([[0] * (longest - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (longest - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask


@pytest.mark.parametrize("variant", VARIANTS)
def test_hf_model_equals_titans_lm(variant):
    model, hf = make(variant)
    assert isinstance(hf, TitansForCausalLM) and hf.dtype == torch.float64
    x = torch.tensor([prompt(0, 21), prompt(1, 21)])
    with torch.no_grad():
        assert torch.equal(hf(x).logits, model(x)[0])  # exact, float64

        # greedy generate == titans.generate, the prompt read once and each new token once
        p = prompt(2, 13)
        read = count_tokens(hf)
        out = hf.generate(torch.tensor([p]), max_new_tokens=12, do_sample=False, pad_token_id=0)
        assert out[0, :13].tolist() == p
        assert out[0, 13:].tolist() == generate(model, [p], 12, GREEDY)[0]
        assert read == [13] + [1] * 11

        # batched prompts of different lengths, left-padded: each row computes and generates what its prompt
        # does alone (a memory variant reads the rows one at a time, its padding dropped: chunks stay aligned)
        prompts = [prompt(3, 5), prompt(4, 14), prompt(5, 9)]
        ids, mask = left_pad(prompts)
        logits = hf(ids, attention_mask=mask).logits
        for row, p in zip(logits, prompts):
            alone = model(torch.tensor([p]))[0][0]
            if model.config.uses_memory:
                assert torch.equal(row[-len(p):], alone) and not row[:-len(p)].any()
            else:  # one batch, the padding masked: equal up to rounding
                torch.testing.assert_close(row[-len(p):], alone, atol=1e-12, rtol=0)
        read = count_tokens(hf)
        out = hf.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0)
        assert out[:, ids.shape[1]:].tolist() == [generate(model, [p], 8, GREEDY)[0] for p in prompts]
        rows = [5, 14, 9] if model.config.uses_memory else [14]
        assert read == rows + [1] * len(rows) * 7  # each prompt read once, then each new token once


@pytest.mark.parametrize("variant", VARIANTS)
def test_seeded_sampling_is_reproducible(variant):
    _, hf = make(variant, sharpen=False)
    ids = torch.tensor([prompt(6, 7)])

    def sample(seed):
        torch.manual_seed(seed)
        return hf.generate(ids, max_new_tokens=12, do_sample=True, top_k=0, pad_token_id=0)[0, 7:].tolist()

    first = sample(3)
    assert first == sample(3)
    assert any(sample(s) != first for s in (4, 5, 6))


def test_a_cache_passed_in_continues_the_conversation():
    model, hf = make("mac")
    p = prompt(7, 10)
    cache = TitansCache()
    first = hf.generate(torch.tensor([p]), max_new_tokens=4, do_sample=False, pad_token_id=0, cache=cache)
    assert cache.get_seq_length() == 13  # the last new token is not read yet
    read = count_tokens(hf)
    more = hf.generate(first, max_new_tokens=4, do_sample=False, pad_token_id=0, cache=cache)
    assert read == [1, 1, 1, 1]  # the new token only: nothing of the conversation read again
    assert more[0, 10:].tolist() == generate(model, [p], 8, GREEDY)[0]


def test_save_and_load_with_the_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    model, hf = make("mal")
    hf.save_pretrained(tmp_path)
    TitansByteTokenizer().save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).to_titans() == model.config
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert isinstance(loaded, TitansForCausalLM) and loaded.dtype == torch.float64
    x = torch.tensor([prompt(8, 17)])
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, model(x)[0])
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(tokenizer, TitansByteTokenizer)


def test_byte_tokenizer_has_the_ids_of_titans_byte_tokenizer():
    tokenizer, reference = TitansByteTokenizer(), get_tokenizer("bytes")
    text = "Titans: l'mémoire à long terme ✓ 🧠"
    ids = tokenizer(text)["input_ids"]
    assert ids == reference.encode(text)
    assert tokenizer.decode(ids) == text == reference.decode(ids)
    batch = tokenizer(["ab", "abcd"], padding=True, return_tensors="pt")
    assert batch["input_ids"].tolist() == [[0, 0, 97, 98], [97, 98, 99, 100]]
    assert batch["attention_mask"].tolist() == [[0, 0, 1, 1], [1, 1, 1, 1]]


@pytest.mark.parametrize("variant", VARIANTS)
def test_text_streamer_prints_the_generated_text(variant, capsys):
    from transformers import TextStreamer

    model, hf = make(variant)
    tokenizer = TitansByteTokenizer()
    ids = tokenizer("hello", return_tensors="pt")["input_ids"]
    out = hf.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=0,
                      streamer=TextStreamer(tokenizer, skip_prompt=True))
    printed = capsys.readouterr().out
    assert printed.rstrip("\n") == tokenizer.decode(out[0, 5:]).rstrip("\n")


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_checkpointing_gives_the_same_gradients(variant):
    _, hf = make(variant, sharpen=False)
    x = torch.tensor([prompt(9, 16)])
    hf.train()

    def gradients():
        hf.zero_grad()
        hf(x, labels=x, use_cache=False).loss.backward()
        return [p.grad.clone() for p in hf.parameters()]

    plain = gradients()
    # gradient_checkpointing_enable, and its new name in transformers 5.2x (the old one then warns)
    for name in ("gradient_checkpointing_enable", "activation_checkpointing_enable"):
        if not hasattr(hf, name):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            getattr(hf, name)()
            assert hf.titans.gradient_checkpointing
            assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(plain, gradients()))
            hf.gradient_checkpointing_disable()
        assert not hf.titans.gradient_checkpointing


def test_untested_transformers_versions_are_refused():
    check_transformers("5.25.0")
    for version in ("6.0.0", "4.57.1", "5.3.0"):
        with pytest.raises(ImportError, match=r"transformers>=5\.17,<6"):
            check_transformers(version)


def test_beam_search_fails_clearly():
    _, hf = make("swa")
    with pytest.raises(NotImplementedError, match="beam search"):
        hf.generate(torch.tensor([prompt(10, 6)]), max_new_tokens=3, num_beams=2, do_sample=False, pad_token_id=0)


def test_export_format_hf(tmp_path, capsys):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from titans.cli import main

    model, _ = make("mac")
    model.float().save_pretrained(tmp_path / "run")
    try:
        main(["export", str(tmp_path / "run"), str(tmp_path / "hf"), "--format", "hf"])
    finally:
        torch.set_flush_denormal(False)  # main() sets it for the process; later tests need subnormals
    assert "Hugging Face" in capsys.readouterr().out
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf")
    assert (tmp_path / "hf" / "model.safetensors").is_file()
    x = torch.tensor([prompt(11, 12)])
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, model(x)[0])
    assert AutoTokenizer.from_pretrained(tmp_path / "hf").encode("é") == [195, 169]


SP_TEXT = " long  context memory,\nsurprise. gradient tans é✓ </s> <unk>"
"""Spaces (leading, doubled), a newline, characters the model lacks, and special pieces written as text."""


def test_export_format_hf_with_a_sentencepiece_tokenizer(sp_export):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from titans.hf import TitansSentencePieceTokenizer

    model, reference, folder = sp_export
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert isinstance(tokenizer, TitansSentencePieceTokenizer) and len(tokenizer) == reference.vocab_size == 120
    ids = tokenizer(SP_TEXT)["input_ids"]
    assert ids == reference.encode(SP_TEXT)
    assert tokenizer.decode(ids) == reference.decode(ids)
    text = "long context memory surprise."
    assert tokenizer.decode(tokenizer.encode(text)) == text
    batch = tokenizer(["memory", "long context memory"], padding=True, return_tensors="pt")
    pad = reference.encode("memory")
    assert batch["input_ids"][0, -len(pad):].tolist() == pad and batch["attention_mask"][0, 0] == 0

    # generate through it: the ids of titans.generate, decoded as titans decodes them
    loaded = AutoModelForCausalLM.from_pretrained(folder)
    out = loaded.generate(**tokenizer(text, return_tensors="pt"), max_new_tokens=6, do_sample=False,
                          pad_token_id=tokenizer.pad_token_id)
    expected = generate(model, [reference.encode(text)], 6, GREEDY)[0]
    assert out[0, len(reference.encode(text)):].tolist() == expected
    assert tokenizer.decode(out[0]) == reference.decode(reference.encode(text) + expected)
    assert (folder / "tokenizer" / "tokenizer.model").is_file()  # titans' own loaders read it too
