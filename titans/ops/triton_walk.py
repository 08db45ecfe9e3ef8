"""The chunk walk on the Triton kernels (``triton_step``), and the choice of walk for a call.

``TritonChunkedMemory`` takes the same chunked inputs as ``chunk_function.ChunkedMemory`` (everything
before the walk, the gate coefficients and the first layer's scores, stays in PyTorch autograd) and
returns the same outputs, with one kernel launch over all (batch x head) rows for the forward and
one for the backward. Its forward keeps only the weights and momentum entering each chunk; the
backward recomputes a chunk's activations from them.

triton is imported only when a call takes this walk, so the package never needs it otherwise.
"""

from __future__ import annotations

import contextlib
import importlib.util

import torch
from torch.autograd.function import once_differentiable

BACKENDS = ("auto", "torch", "triton")


def _interpreting() -> bool:
    """Whether this process runs Triton kernels in its interpreter (TRITON_INTERPRET, read by triton)."""
    import triton

    return bool(triton.knobs.runtime.interpret)


# One program holds a chunk and its row's whole state, so "auto" keeps to sizes whose kernels fit one
# program's shared memory: a state tile of at most 32 x 128 (64 x 64 at depth 1) and chunks of at
# most 32, where the largest kernel (the depth-2 backward with resets) was measured compiled for sm_90
# with triton 3.9 (tests/ops/test_triton_compile.py) to need these bytes, by chunk size; a device
# with less (torch reports it) gets the torch walk.
_AUTO_MAX_TILE = 32 * 128
_AUTO_SHARED_BY_CHUNK = {16: 162816, 32: 212992}
_AUTO_MAX_CHUNK = max(_AUTO_SHARED_BY_CHUNK)
# The state lives in registers, and 4 warps have too few of them: compiled for sm_90a at D = 32,
# Dh = 128, chunk 32, TF32 (ptxas), 8 warps took the spill stores per thread from 6.4 to 2.4 KB forward
# and from 19.6 to 16.3 KB backward; 16 warps (128 registers each) spilled more backward (23 KB).
# benchmarks/gpu.py times the alternatives on a GPU.
NUM_WARPS = 8


def _shared_memory(device: torch.device) -> int:
    """The most shared memory one program may use on a CUDA device (0 where torch does not say)."""
    return getattr(torch.cuda.get_device_properties(device), "shared_memory_per_block_optin", 0)


def kernels_fit(d_in: int, d_out: int, chunk_size: int, device: torch.device) -> bool:
    """Whether one program holds a first layer of ``d_in x d_out`` and a chunk, on this CUDA device."""
    if _block(d_in) * _block(d_out) > _AUTO_MAX_TILE or chunk_size > _AUTO_MAX_CHUNK:
        return False
    needed = min(n for c, n in _AUTO_SHARED_BY_CHUNK.items() if chunk_size <= c)
    return _shared_memory(device) >= needed


def _auto_fits(q: torch.Tensor, weights, chunk_size: int) -> bool:
    return kernels_fit(weights[0].shape[-2], weights[0].shape[-1], chunk_size, q.device)


def use_triton(backend: str, q: torch.Tensor, weights, chunk_size: int, *, weight_change: bool) -> bool:
    """Whether a call of ``chunk_memory_update`` walks on the Triton kernels.

    ``"torch"``: never. ``"auto"``: for CUDA tensors when triton is installed and the kernels fit the
    device at these sizes (``_auto_fits``). ``"triton"``: always, and a ValueError when triton is
    missing, or for CPU tensors in a process not started with ``TRITON_INTERPRET=1`` (the
    interpreter runs the kernels on the CPU; it is for tests, not speed).
    The kernels cover depth 1 and 2, float32 / bfloat16 / float16 inputs, masks, document resets,
    both activations and residual; a call with float64 inputs, a deeper memory or
    ``return_weight_change`` falls back to the PyTorch walk (``"auto"`` and ``"triton"`` alike).
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "torch":
        return False
    installed = importlib.util.find_spec("triton") is not None
    if backend == "auto" and not (q.is_cuda and installed and _auto_fits(q, weights, chunk_size)):
        return False
    if not installed:
        raise ValueError("backend='triton' needs the triton package: pip install 'titans[gpu]'")
    if not q.is_cuda and not _interpreting():
        raise ValueError(
            "backend='triton' on CPU tensors runs the kernels in Triton's interpreter, which this process "
            "did not start with: set TRITON_INTERPRET=1 in the environment before Python starts (or use "
            "CUDA tensors, or backend='torch')"
        )
    return len(weights) in (1, 2) and q.dtype != torch.float64 and not weight_change


def _block(n: int) -> int:
    """A tile side for n: a power of two, at least 16 (``tl.dot``'s smallest on GPUs)."""
    return max(16, 1 << (n - 1).bit_length())


def _on_device(t: torch.Tensor):
    """Launches go to the current CUDA device: make it t's."""
    return torch.cuda.device(t.device) if t.is_cuda else contextlib.nullcontext()


def dot_precision(input_dtype: torch.dtype, device: torch.device) -> str:
    """The kernels' dot precision for a call whose q came in ``input_dtype`` (the walk itself always
    receives float32): TF32 (tensor cores) for bfloat16 / float16 callers, and for float32 where torch
    allows TF32 on CUDA; else IEEE float32, as torch's own matmuls would run. TF32 rounds every dot
    operand to 10 mantissa bits, the float32 state and activations included: finer than a bfloat16
    caller's inputs (7). IEEE dots run on the FMA units and spill more: compiled for sm_90a at D = 32,
    Dh = 128, chunk 32, 4 warps (ptxas), 57.5 KB of spill stores per thread forward against 6.4 KB
    with TF32, and 124.6 against 19.6 KB backward."""
    if device.type != "cuda":
        return "ieee"
    low = input_dtype in (torch.bfloat16, torch.float16)
    return "tf32" if low or torch.get_float32_matmul_precision() != "highest" else "ieee"


class TritonChunkedMemory(torch.autograd.Function):
    """``(y, inner_loss, None, *W_final, *S_final)`` from chunked inputs, on Triton kernels.

    Takes what ``ChunkedMemory`` takes (config ``(depth, activation, residual, needs_backward,
    weight_change)`` with weight_change False, and ``dot_precision``'s choice appended; then q, k, v,
    qk, A, Bm, C, s, e, R, after, the state, then with R the reset weights, and with ``after`` (document
    resets; None when forgetting towards W0 alone) the reset keys' layer inputs and deltas) and returns
    the same, with None where ``ChunkedMemory`` gives the weight change.
    """

    @staticmethod
    def forward(ctx, config, q, k, v, qk, A, Bm, C, s, e, R, after, *tensors):
        depth, activation, residual, needs_backward, _, precision = config
        B, H, N, b, D = q.shape
        chunked = [t.contiguous() for t in (q, k, v, qk, A, Bm, C, s, e)]
        state = [t.contiguous() for t in tensors[: 2 * depth]]
        resets = _reset_inputs(q, R, after, tensors[2 * depth :], depth)
        y = torch.empty(q.shape, dtype=torch.float32, device=q.device)
        loss = torch.empty(q.shape[:-1], dtype=torch.float32, device=q.device)
        final = [torch.empty(t.shape, dtype=torch.float32, device=t.device) for t in state]
        # the state entering every chunk, for the backward (a placeholder when none comes)
        entering = [t.new_empty(B, H, N, *t.shape[2:]) for t in final] if needs_backward else final
        with _on_device(q):
            _kernel("forward", depth)[(B * H,)](
                *chunked, *resets[:2], *state, *resets[2:], y, loss, *final, *entering, N, b, D,
                **_meta(q, state, depth, activation, residual, R is not None, after is not None, precision),
                SAVE=needs_backward,
            )
        ctx.config, ctx.has_resets, ctx.has_after = config, R is not None, after is not None
        ctx.reset_inputs = len(tensors) - 2 * depth
        if needs_backward:
            ctx.save_for_backward(*chunked, *resets, *entering)
        ctx.mark_non_differentiable(loss)
        return (y, loss, None, *final)

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, _d_loss, _d_change, *dstate):
        depth, activation, residual, _, _, precision = ctx.config
        saved = ctx.saved_tensors
        chunked, resets, entering = saved[:9], saved[9 : -2 * depth], saved[-2 * depth :]
        q = chunked[0]
        B, H, N, b, D = q.shape
        dy = torch.zeros_like(q) if dy is None else dy.contiguous()
        d_final = [torch.zeros(t.shape[:2] + t.shape[3:], dtype=t.dtype, device=t.device) if g is None
                   else g.contiguous() for g, t in zip(dstate, entering)]
        grads = [torch.empty_like(t) for t in chunked]  # dq, dk, dv, dqk, dA, dBm, dC, ds, de
        d_initial = [torch.empty_like(g) for g in d_final]
        R, after, reset_tensors = resets[0], resets[1], resets[2:]
        dR = torch.empty_like(R)
        d_reset = [torch.empty_like(t) for t in reset_tensors]  # reset weights, then reset keys' h and d
        with _on_device(q):
            _kernel("backward", depth)[(B * H,)](
                *chunked, R, after, *entering, *reset_tensors, dy, *d_final, *grads, dR, *d_initial, *d_reset,
                N, b, D, **_meta(q, entering, depth, activation, residual, ctx.has_resets, ctx.has_after,
                                 precision),
            )
        if not ctx.has_resets:
            return (None, *grads, None, None, *d_initial)
        return (None, *grads, dR, None, *d_initial, *d_reset[: ctx.reset_inputs])


def _kernel(direction: str, depth: int):
    from . import triton_depth1, triton_depth2

    module = triton_depth1 if depth == 1 else triton_depth2
    return getattr(module, f"_{direction}_depth{depth}")


def _meta(q, state, depth, activation, residual, resets, after, precision) -> dict:
    """The kernels' size arguments after D, their compile-time switches and launch options.

    num_stages=1: software pipelining of the chunk loop would keep several chunks' loads (in the
    backward, several copies of the state) in shared memory; compiled for sm_90 it took the depth-2
    backward at D = 32, Dh = 128 from 315 KB, past an H100's 227 KB, to 163 KB.
    num_warps: ``NUM_WARPS``. RESETS: the reset weights W0 enter (document resets, or forgetting
    towards W0); AFTER: tokens after a document start take the reset weights' key pass (resets only).
    """
    meta = dict(BB=_block(q.shape[3]), BD=_block(q.shape[4]), RESIDUAL=residual, RESETS=resets, AFTER=after,
                PREC=precision, num_stages=1, num_warps=NUM_WARPS)
    if depth == 2:
        Dh = state[0].shape[-1]
        meta.update(Dh=Dh, BH=_block(Dh), GELU=activation == "gelu")
    return meta


def _reset_inputs(q, R, after, reset_tensors, depth) -> list[torch.Tensor]:
    """R, after (as float32 over all rows) and the reset tensors (the reset weights, then the reset keys'
    pass), contiguous; a one-element placeholder in each place the call lacks (the kernels never read it
    then): all of them without resets, ``after`` and the key pass when forgetting towards W0 alone."""
    placeholder = q.new_empty(1)
    if R is None:
        return [placeholder] * (2 + (2 if depth == 1 else 5))
    if after is None:
        weights = [t.contiguous() for t in reset_tensors]
        return [R.contiguous(), placeholder, *weights] + [placeholder] * (2 * depth - 1)
    after = after.expand(R.shape).to(torch.float32)
    return [t.contiguous() for t in (R, after, *reset_tensors)]
