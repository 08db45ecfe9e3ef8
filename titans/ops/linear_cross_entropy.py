"""The output head and its cross-entropy in one op, a block of rows at a time: the ``[N, vocab]`` logits
are never held whole.

Axes: N scored positions, D model width, V vocabulary, R rows of one block.

With a vocabulary of 8,192 and a batch of 4,096 tokens the logits, their log-softmax and its gradient
are three 134 MB float32 tensors per step. On a CPU each is a fresh ``mmap`` (too large for the
allocator to reuse) whose pages are faulted in as they are first written: in the main job that
zero-fill and the log-softmax took about a sixth of the MAC training step (``benchmarks/README.md``,
"Rows over threads and the head in blocks"). Here each block's logits are a few MB that the allocator
reuses, and the gradient of the loss with respect to the hidden states and the head's weight is taken in the same pass
(``softmax - one_hot`` is all a block needs), so that the backward only scales it: three matmuls of the
head in all, as before, and no logits kept for the backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# elements of one block's float32 logits: 16 MB on the CPU (below glibc's largest reusable allocation,
# 32 MB), 256 MB on an accelerator where larger blocks keep the matmuls busy
_BLOCK_ELEMENTS = {"cpu": 1 << 22}
_BLOCK_ELEMENTS_ACCELERATOR = 1 << 26


def _block_rows(vocab: int, device: torch.device) -> int:
    return max(1, _BLOCK_ELEMENTS.get(device.type, _BLOCK_ELEMENTS_ACCELERATOR) // vocab)


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, target_weights, rows, dtype, need_hidden, need_weight):
        wide = torch.promote_types(dtype, torch.float32)  # the softmax's and the sums' dtype
        total = torch.zeros((), dtype=wide, device=hidden.device)
        grad_hidden = torch.empty_like(hidden) if need_hidden else None
        grad_weight = torch.zeros(weight.shape, dtype=wide, device=weight.device) if need_weight else None
        w = weight.to(dtype)
        for start in range(0, hidden.shape[0], rows):
            h = hidden[start:start + rows].to(dtype)
            t, c = targets[start:start + rows, None], target_weights[start:start + rows, None].to(wide)
            logits = F.linear(h, w).to(wide)  # [R, V]; h @ w.T ran at half the speed on a CPU
            target_logits = logits.gather(1, t)
            # the softmax by hand, in place, one exp per logit: torch.logsumexp and log_softmax took 2.3x
            # as long on a CPU block of [512, 8192]
            top = logits.amax(dim=-1, keepdim=True)
            exps = logits.sub_(top).exp_()
            sums = exps.sum(dim=-1, keepdim=True)
            total += ((sums.log() + top - target_logits) * c).sum()
            if need_hidden or need_weight:
                # d(c * (lse - logit_t)) / d logits = c * (softmax - one_hot(t)), in place of the exps
                grad = exps.mul_(c / sums)
                grad.scatter_add_(1, t, -c)
                grad = grad.to(dtype)
                if need_hidden:
                    grad_hidden[start:start + rows] = grad @ w
                if need_weight and dtype == wide:
                    grad_weight.addmm_(grad.T, h)
                elif need_weight:  # the product in dtype (bf16 on tensor cores), the sum over blocks in float32
                    grad_weight += (grad.T @ h).to(wide)
        ctx.save_for_backward(grad_hidden, None if grad_weight is None else grad_weight.to(weight.dtype))
        return total

    @staticmethod
    def backward(ctx, grad_total):
        grad_hidden, grad_weight = ctx.saved_tensors
        hidden_grad = None if grad_hidden is None else grad_hidden * grad_total.to(grad_hidden.dtype)
        weight_grad = None if grad_weight is None else grad_weight * grad_total.to(grad_weight.dtype)
        return hidden_grad, weight_grad, None, None, None, None, None, None


@torch.compiler.disable  # a loop of blocks with its own backward: dynamo would unroll it per shape
def linear_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                         target_weights: torch.Tensor | None = None, *, rows: int | None = None) -> torch.Tensor:
    """``sum_i target_weights[i] * cross_entropy(hidden[i] @ weight.T, targets[i])`` in nats (float32),
    computed ``rows`` positions at a time (default: a block of logits of 16 MB on the CPU).

    hidden: ``[N, D]``; weight: ``[V, D]`` (the head's, or the tied embedding's); targets: ``[N]`` int in
    ``[0, V)``; target_weights: ``[N]`` (0 drops a position; default 1). Differentiable in ``hidden`` and
    ``weight`` (once: no double backward). The logits are taken in ``hidden``'s dtype (bf16 under
    autocast, as the head would), the softmax and the loss in float32 (float64 for float64 inputs).
    """
    if hidden.dim() != 2 or weight.dim() != 2 or hidden.shape[1] != weight.shape[1]:
        raise ValueError(f"hidden [N, D] and weight [V, D] expected, got {tuple(hidden.shape)} and "
                         f"{tuple(weight.shape)}")
    if targets.shape != hidden.shape[:1] or targets.is_floating_point():
        raise ValueError(f"targets: expected [{hidden.shape[0]}] integer token ids, got {tuple(targets.shape)} "
                         f"{targets.dtype}")
    if target_weights is None:
        target_weights = torch.ones(targets.shape, device=hidden.device)
    elif target_weights.shape != targets.shape:
        raise ValueError(f"target_weights: expected [{targets.shape[0]}], got {tuple(target_weights.shape)}")
    rows = _block_rows(weight.shape[0], hidden.device) if rows is None else rows
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    device = hidden.device.type
    # under autocast the logits are taken in its dtype, as the head's matmul would be; the op itself runs
    # with autocast off so that every dtype in it is the one written here
    dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else hidden.dtype
    # the gradients are taken in the forward, so only those that a backward can ask for: none under no_grad
    # (validation), where an autograd.Function still sees its parameters' requires_grad
    grad = torch.is_grad_enabled()
    need_hidden, need_weight = grad and hidden.requires_grad, grad and weight.requires_grad
    with torch.autocast(device_type=device, enabled=False):
        return _LinearCrossEntropy.apply(hidden, weight, targets.long(), target_weights, rows, dtype, need_hidden,
                                         need_weight)
