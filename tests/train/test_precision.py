"""bf16 autocast training (issue 27 §2): the memory keeps its state and gate products in float32, and
30 steps train as float32 does, within a stated tolerance; the trainer's and the CLI's precision option."""

import argparse

import pytest
import torch
import torch.nn.functional as F

from titans import TitansConfig, TitansLM
from titans.cli.train import add_train_options, build_config
from titans.layers import neural_memory
from titans.ops import chunk_memory_update
from titans.train import TrainConfig, Trainer

STEPS = 30
# mean loss over the last 10 of 30 steps, bf16 autocast against float32 (loss about 2.3 from 5.6): measured
# 0.02-0.04 % apart with one layer (MAC and MAG; at 50 steps 0.03-0.1 %, and 0.3-1 % with two layers);
# 3 % is the bound the test holds
TOLERANCE = 0.03


def _batches(seed=0):
    """A phrase, a random stretch, the phrase again: learnable (the repeat), not trivial."""
    g = torch.Generator().manual_seed(seed)
    phrase = torch.randint(0, 64, (12,), generator=g)
    rows = [torch.cat([phrase, torch.randint(0, 64, (9,), generator=g), phrase]) for _ in range(2)]
    return torch.stack(rows)  # [2, 33]


def _train(variant, autocast: bool, device: str = "cpu"):
    torch.manual_seed(0)
    # one layer and one MAC segment per row (segment 32): the test's time is Python per step
    model = TitansLM(TitansConfig.from_name("tiny", variant=variant, segment=32, layers=1)).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    tokens = _batches().to(device)
    losses = []
    for _ in range(STEPS):
        with torch.autocast(device, dtype=torch.bfloat16, enabled=autocast):
            logits, state = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), tokens[:, 1:].flatten())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses, state


@pytest.mark.parametrize("variant", ["mac", "mag"])
def test_bf16_autocast_trains_like_float32_with_the_memory_in_float32(variant, monkeypatch):
    autocast_op = neural_memory.chunk_memory_update
    seen = []

    def spy(q, k, v, theta, eta, alpha, weights, momentum, **options):
        # what the layer calls, under autocast, against the op run with autocast off: bitwise the same
        y, W, S, loss = autocast_op(q, k, v, theta, eta, alpha, weights, momentum, **options)
        if len(seen) < 4:
            with torch.autocast("cpu", enabled=False), torch.no_grad():
                y32, W32, S32, _ = chunk_memory_update(q, k, v, theta, eta, alpha, weights, momentum, **options)
            assert torch.is_autocast_enabled("cpu")
            assert torch.equal(y.float(), y32.float()) and all(map(torch.equal, (*W, *S), (*W32, *S32)))
        seen.append((q.dtype, theta.dtype, eta.dtype, alpha.dtype, *(t.dtype for t in (*W, *S))))
        return y, W, S, loss

    monkeypatch.setattr(neural_memory, "chunk_memory_update", spy)
    low, state = _train(variant, autocast=True)
    monkeypatch.undo()
    full, _ = _train(variant, autocast=False)

    assert seen and all(dtypes[1:] == (torch.float32,) * len(dtypes[1:]) for dtypes in seen), set(seen)
    assert any(dtypes[0] == torch.bfloat16 for dtypes in seen), "autocast should reach the projections"
    memory = state.layers[0].memory if variant == "mac" else state.layers[0]["memory"]
    assert all(t.dtype == torch.float32 for t in (*memory.weights, *memory.momentum))
    assert full[-1] < 0.6 * full[0], "the float32 run must learn for the comparison to mean anything"
    tail_low, tail_full = sum(low[-10:]) / 10, sum(full[-10:]) / 10
    assert abs(tail_low - tail_full) <= TOLERANCE * tail_full, (tail_low, tail_full)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", ["mac", "mag", "lmm"])
def test_bf16_autocast_trains_like_float32_on_cuda(variant):
    # on CUDA the memory walks on the Triton kernels where they cover the sizes (backend "auto")
    low, state = _train(variant, autocast=True, device="cuda")
    full, _ = _train(variant, autocast=False, device="cuda")
    assert full[-1] < 0.6 * full[0], "the float32 run must learn for the comparison to mean anything"
    tail_low, tail_full = sum(low[-10:]) / 10, sum(full[-10:]) / 10
    assert abs(tail_low - tail_full) <= TOLERANCE * tail_full, (tail_low, tail_full)


@pytest.mark.parametrize("precision,autocast", [("bf16", True), ("auto", False)])
def test_trainer_precision_option(tmp_path, corpus_documents, tiny_config, precision, autocast):
    trainer = Trainer(tiny_config(tmp_path / "run", precision=precision, steps=1, eval_every=1, save_every=1),
                      documents=corpus_documents, progress=False)
    assert trainer.autocast is autocast  # auto: bf16 only on CUDA, and this device is the CPU
    summary = trainer.run()
    assert summary.steps == 1 and torch.isfinite(torch.tensor(summary.validation.loss))


def test_precision_is_checked_and_a_cli_flag():
    with pytest.raises(ValueError, match="precision = 'fp16'"):
        TrainConfig(precision="fp16")
    parser = argparse.ArgumentParser()
    add_train_options(parser)
    assert build_config(parser.parse_args(["--precision", "bf16"])).precision == "bf16"
