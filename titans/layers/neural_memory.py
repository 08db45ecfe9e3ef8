"""The neural long-term memory layer (paper §3.1 and §4.4; SPEC §2).

Axes: B batch, T tokens, H heads, D width per head, r tokens of the unfinished chunk.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import FORGET_TARGETS
from ..ops import chunk_memory_update
from ..ops.inputs import compute_dtype
from ..ops.mlp import check_activation, memory_forward
from ..ops.token_step import token_step
from .checks import check_sequence
from .memory_state import MemoryState
from .padding import zero_padding
from .precision import autocast_off
from .short_conv import ShortConv, causal_conv
from .write_record import WriteRecorder


# the op carries the memory's weights and momentum and multiplies its gate products: float32 under
# autocast too (titans.layers.precision)
chunk_memory_update = autocast_off(chunk_memory_update)
token_step = autocast_off(token_step)


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _prepend(pending: torch.Tensor, new: torch.Tensor, dim: int = 2) -> torch.Tensor:
    """The unfinished chunk's buffered tokens followed by the new ones (no copy when none are buffered)."""
    if pending.shape[dim] == 0:
        return new
    return torch.cat([pending.to(new.dtype), new], dim=dim)


def _join(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=2)


class NeuralMemory(nn.Module):
    """Titans' long-term memory: an MLP per head that is trained, while it reads, to map keys to values.

    ``y, state = mem(x)`` reads ``x: [B, T, dim]`` and returns ``y: [B, T, dim]`` and a
    :class:`MemoryState`; ``mem(x2, state=state)`` continues exactly where the first call stopped.

    Per token: q, k, v are linear projections, each through a causal depthwise conv (kernel
    ``conv_kernel``) and SiLU, q and k l2-normalised per head (v too, by default: see
    ``normalize_values``). Per token and head, gates
    ``theta = theta_max * sigmoid(.)`` (inner learning rate), ``eta = sigmoid(.)`` (momentum: how much
    past surprise carries over) and ``alpha = sigmoid(.)`` (forgetting) come from linear maps of x.
    The memory then writes (k, v) by a gradient step on ``||M(k) - v||^2`` with momentum and weight
    decay (Eqs. 12-14) and reads ``M(q)`` after the write (Eq. 15). The output is a per-head RMSNorm,
    a sigmoid gate from x, and a projection back to ``dim``.

    Args:
        dim: model width. heads: number of memory heads; ``dim_head`` defaults to ``dim // heads``.
        chunk_size: the paper's b: the tokens of one chunk take their gradients at the weights that
            entered the chunk (chunks aligned to absolute positions 0, b, 2b, ...). Smaller is closer to
            online learning and slower; it is independent of any attention segment length.
        depth: weight matrices in the memory MLP (1 = linear memory). expansion: hidden = expansion * D.
        activation: "gelu" (exact) or "silu". residual: ``M(x) = x + MLP(x)`` (off, as in the paper).
        forget_to: what the forgetting gate pulls the weights towards: "zero" (Eq. 13 as written) or
            "init", the learned initial weights W0: ``W_t - W0 = (1 - alpha_t)(W_{t-1} - W0) + S_t``. A
            head that forgets slowly keeps its W0 through the lengths it was trained on (93 % of it over
            16K bytes in lmm-long's first memory, first head) but not through a million bytes (1.6 %),
            where the model then reads a memory it never met in training; towards W0, a head without
            recent writes always holds the W0 it learned. Eq. 13's zero stays the default: lmm-long's
            8K and 16K stages trained towards W0 recalled 9 of 16 passkeys at a million bytes against 1
            of 16 for the same stages towards zero, at the same 16K and within two samples in 200 at 64K,
            but not at the 64K bar set for replacing lmm-long (experiments/long_context/README.md, "The
            million-byte run").
        normalize_values: l2-normalise v per head like q and k (the paper normalises only q and k).
            On by default: in training the value projections grow (the inner loss reached 10^2-10^3
            per token within 30 steps of the small MAC), the inner gradients grow with them and the
            inner loop diverged even at a 4x lower theta. The read passes through a per-head RMSNorm,
            so the values' overall scale carries nothing the output can use. In the main job the
            paper's unnormalised values end 0.012-0.014 bits per byte worse on two seeds
            (experiments/stability).
        theta_max, theta_init, eta_init, alpha_init: gate range and values at initialisation (below).
        check_finite: raise on NaN / inf in the input (one reduction per call).

    Gate defaults (measured by ``benchmarks/gate_stability.py``, table in ``benchmarks/README.md``):
    ``eta_init = 0.9`` and ``alpha_init = 0.01`` as SPEC §2 suggests; ``theta_max = 0.016 / chunk_size``
    and ``theta_init = theta_max / 2`` (0.00025 and 0.000125 at b = 64). Inside a chunk every gradient is
    taken at the same weights and momentum re-applies it at every later token, so a chunk moves the
    weights by about ``theta / (1 - eta) * b`` gradients; with the strongly aligned keys of a real
    model (SiLU'd, normalised projections of correlated hidden states) that overshoots unless theta
    shrinks with b. In freshly initialised ``small`` models (b = 64) on random bytes, theta = 0.001
    stayed finite in every variant and seed tried, 0.002 did not; but training the small MAC on text
    with a ceiling of 0.001 diverged at step 11, when the learned gates had raised theta to 0.00063
    (the inner weights grew to 1e24 within seven chunks; half that theta stayed bounded). The ceiling
    is therefore 4x lower: the gates cannot learn their way into that regime.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 4,
        chunk_size: int = 64,
        depth: int = 2,
        expansion: int = 4,
        *,
        dim_head: int | None = None,
        activation: str = "gelu",
        residual: bool = False,
        normalize_values: bool = True,
        forget_to: str = "zero",
        conv_kernel: int = 4,
        theta_max: float | None = None,
        theta_init: float | None = None,
        eta_init: float = 0.9,
        alpha_init: float = 0.01,
        check_finite: bool = True,
    ):
        super().__init__()
        check_activation(activation)
        if dim_head is None:
            if dim % heads:
                raise ValueError(f"dim={dim} is not divisible by heads={heads}: pass dim_head explicitly")
            dim_head = dim // heads
        if depth < 1 or expansion < 1 or chunk_size < 1 or conv_kernel < 1:
            raise ValueError("depth, expansion, chunk_size and conv_kernel must all be >= 1")
        theta_max = 0.016 / chunk_size if theta_max is None else theta_max
        theta_init = theta_max / 2 if theta_init is None else theta_init
        if not 0 < theta_init < theta_max:
            raise ValueError(f"need 0 < theta_init < theta_max, got {theta_init} and {theta_max}")
        if forget_to not in FORGET_TARGETS:
            raise ValueError(f"forget_to must be one of {FORGET_TARGETS}, got {forget_to!r}")
        for name, value in (("eta_init", eta_init), ("alpha_init", alpha_init)):
            if not 0 < value < 1:
                raise ValueError(f"{name} must lie strictly between 0 and 1 (a sigmoid's value), got {value}")
        self.dim, self.heads, self.dim_head = dim, heads, dim_head
        self.chunk_size, self.depth, self.hidden = chunk_size, depth, expansion * dim_head
        self.activation, self.residual, self.theta_max = activation, residual, theta_max
        self.check_finite, self.normalize_values, self.forget_to = check_finite, normalize_values, forget_to
        inner = heads * dim_head

        self.to_qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.convs = nn.ModuleList(ShortConv(inner, conv_kernel) for _ in range(3))
        # gates start data-independent at their pinned values; training makes them data-dependent
        self.to_gates = nn.Linear(dim, 3 * heads)
        nn.init.zeros_(self.to_gates.weight)
        with torch.no_grad():
            self.to_gates.bias.copy_(torch.tensor(
                [_logit(theta_init / theta_max), _logit(eta_init), _logit(alpha_init)]
            ).repeat_interleave(heads))
        widths = [dim_head] + [self.hidden] * (depth - 1) + [dim_head]
        self.initial_weights = nn.ParameterList(
            nn.Parameter(torch.randn(heads, d_in, d_out) / math.sqrt(d_in))
            for d_in, d_out in zip(widths[:-1], widths[1:])
        )
        self.out_norm_weight = nn.Parameter(torch.ones(heads, dim_head))
        self.to_out_gate = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)
        self._stats_inputs: tuple[torch.Tensor, ...] | None = None  # see last_stats
        self.recorder: WriteRecorder | None = None
        """Set by ``write_record.recording``: per-token surprise, gates and weight change of every call."""

    @property
    def signature(self) -> tuple:
        """What a state must agree with to be continued by this layer."""
        return ("NeuralMemory", self.heads, self.dim_head, self.hidden, self.depth, self.chunk_size,
                self.convs[0].kernel_size, self.activation, self.residual, self.normalize_values)

    def initial_state(self, batch_size: int, device=None, dtype: torch.dtype | None = None) -> MemoryState:
        """The state before any token: the learned initial memory, zero momentum, empty buffers.

        dtype defaults to the compute dtype of the parameters (float64 stays float64, else float32).
        """
        H, D = self.heads, self.dim_head
        dtype = compute_dtype(self.initial_weights[0].dtype) if dtype is None else dtype
        weights = tuple(w.to(device=device, dtype=dtype).unsqueeze(0).expand(batch_size, -1, -1, -1)
                        for w in self.initial_weights)
        no_tokens = lambda *shape, dtype=dtype: torch.zeros(batch_size, *shape, device=device, dtype=dtype)  # noqa: E731
        tails = tuple(
            torch.zeros(batch_size, self.convs[0].kernel_size - 1, H * D, device=device, dtype=dtype) for _ in range(3)
        )
        return MemoryState(
            weights=weights, momentum=tuple(torch.zeros_like(w) for w in weights),
            pending_q=no_tokens(H, 0, D), pending_k=no_tokens(H, 0, D), pending_v=no_tokens(H, 0, D),
            pending_theta=no_tokens(H, 0), pending_log_eta=no_tokens(H, 0), pending_log_keep=no_tokens(H, 0),
            pending_mask=no_tokens(0, dtype=torch.bool), pending_reset=no_tokens(0, dtype=torch.bool),
            conv_tails=tails,
            position=0, signature=self.signature, running_weights=weights,
            running_momentum=tuple(torch.zeros_like(w) for w in weights),
        )

    def _check(self, x, state, mask, reset):
        check_sequence(x, self.dim, mask, reset)
        B = x.shape[0]
        if state is not None:
            if state.signature != self.signature:
                raise ValueError(
                    f"state was made by a memory configured as {state.signature}, this one is "
                    f"{self.signature}: pass state=None to start fresh"
                )
            if state.batch_size != B:
                raise ValueError(f"state holds batch size {state.batch_size}, x has batch size {B}")
        if self.check_finite and not torch.isfinite(x).all():
            raise ValueError("x contains NaN or inf (set check_finite=False to skip this check)")

    def _project(self, x, state, mask, reset):
        """q, k, v ``[B, H, T, D]`` and the new conv tails."""
        # padding must not reach the memory, also not through the conv window of later tokens; the three
        # convolutions run as one over the concatenated channels (they are depthwise)
        out, tail = causal_conv(zero_padding(self.to_qkv(x), mask), torch.cat([conv.weight for conv in self.convs]),
                                torch.cat(state.conv_tails, dim=-1), reset)
        q, k, v = (self._split_heads(part) for part in F.silu(out).chunk(3, dim=-1))
        tails = tuple(t.contiguous() for t in tail.chunk(3, dim=-1))  # own storage each (safetensors)
        if self.normalize_values:
            v = F.normalize(v, dim=-1)
        return F.normalize(q, dim=-1), F.normalize(k, dim=-1), v, tails

    def _split_heads(self, t):
        """``[B, T, H * D]`` -> ``[B, H, T, D]``."""
        B, T, _ = t.shape
        return t.view(B, T, self.heads, self.dim_head).transpose(1, 2)

    def _gates(self, x):
        """theta, log(eta), log(1 - alpha), each ``[B, H, T]``; logsigmoid keeps the logs finite. In the
        parameters' precision whatever autocast says: a bfloat16 gate logit moves alpha by ~2 %."""
        with torch.autocast(x.device.type, enabled=False):
            logits = self.to_gates(x.to(self.to_gates.weight.dtype))
        theta, eta, alpha = logits.to(compute_dtype(x.dtype)).transpose(1, 2).chunk(3, dim=1)
        return self.theta_max * torch.sigmoid(theta), F.logsigmoid(eta), F.logsigmoid(-alpha)

    def forward(
        self,
        x: torch.Tensor,
        state: MemoryState | None = None,
        *,
        mask: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, MemoryState]:
        """x: ``[B, T, dim]``. mask: ``[B, T]`` bool, False for padding (never written, output zero).
        reset: ``[B, T]`` bool, True at a document start (memory back to its initial weights).
        """
        out, _, new_state = self._write_and_read(x, state, None, mask, reset)
        return out, new_state

    def write_and_read(
        self,
        x: torch.Tensor,
        state: MemoryState | None,
        read_weights: tuple[torch.Tensor, ...],
        *,
        mask: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
        segment: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, MemoryState]:
        """``forward(x, state)`` and ``read(x, read_weights)`` of the same x in one pass: both take the same
        queries (projection, conv, SiLU, norm) and the same output gate, so they are computed once (MAC
        whose memory writes the block's input, where h and m read the same x). Returns the output after
        the write, the read at ``read_weights`` (h; its conv tail is the new state's ``conv_tails[0]``) and
        the new state.

        segment: x holds whole segments of this many tokens (a multiple of ``chunk_size``), entered at a
        chunk boundary with no token pending; each segment's h is then read at the weights the memory held
        when that segment began (``read_weights`` for the first, Eq. 21), as if each segment were its own
        call with the weights after the previous one: MAC's segments in one call, so that the projections,
        gates and output are computed once for all of them."""
        return self._write_and_read(x, state, read_weights, mask, reset, segment)

    def _write_and_read(self, x, state, read_weights, mask, reset, segment=None):
        self._check(x, state, mask, reset)
        B, T, _ = x.shape
        if state is None:
            state = self.initial_state(B, x.device, compute_dtype(x.dtype))
        if segment is not None:
            self._check_segments(T, state, segment)
        q, k, v, tails = self._project(x, state, mask, reset)
        theta, log_eta, log_keep = self._gates(x)
        gate = self._out_gate(x)
        read = None
        if read_weights is not None and segment is None:
            read = self._read_at(read_weights, q.to(compute_dtype(x.dtype)), reset)
            read = self._output(read, gate, mask, x.dtype)
        mask_ = torch.ones(B, T, dtype=torch.bool, device=x.device) if mask is None else mask.bool()
        reset_ = torch.zeros(B, T, dtype=torch.bool, device=x.device) if reset is None else reset.bool()

        if T == 1 and state.running_weights is not None and segment is None:
            out, new_state = self._decode_step(x, state, (q, k, v, theta, log_eta, log_keep), gate, mask_, reset_,
                                               tails, mask)
            return out, read, new_state

        # re-run the unfinished chunk with the new tokens, from the weights at the chunk boundary
        r = state.pending_q.shape[2]
        Q, K, V = _prepend(state.pending_q, q), _prepend(state.pending_k, k), _prepend(state.pending_v, v)
        TH, LE, LK = (_prepend(state.pending_theta, theta), _prepend(state.pending_log_eta, log_eta),
                      _prepend(state.pending_log_keep, log_keep))
        M, R = _prepend(state.pending_mask, mask_, 1), _prepend(state.pending_reset, reset_, 1)
        if torch.compiler.is_compiling():
            # reading a tensor's value would break the graph: take the paths for what was passed (the op
            # gives the same result with an all-True mask or an all-False reset)
            any_mask, any_reset = mask is not None or r > 0, reset is not None or r > 0
        else:  # a call with no padding or no document start skips that work
            any_mask, any_reset = not bool(M.all()), bool(R.any())

        total = r + T
        full = total - total % self.chunk_size
        inputs, masked, restarts = (Q, K, V, TH, LE, LK), M if any_mask else None, R if any_reset else None
        if segment is None:
            y, inner_loss, changes, (W, S), (running_W, running_S) = self._walk(
                inputs, masked, restarts, state.weights, state.momentum, full
            )
        else:
            y, inner_loss, changes, (W, S), read = self._walk_segments(
                inputs, masked, restarts, state, read_weights, segment, q.to(compute_dtype(x.dtype))
            )
            running_W, running_S = W, S  # whole segments close every chunk
            read = self._output(read, gate, mask, x.dtype)
        y, inner_loss = y[:, :, r:], inner_loss[:, :, r:]  # [B, H, T, D], [B, H, T]
        self._record_stats(theta, log_eta, log_keep, inner_loss, mask_)
        if self.recorder is not None:
            self._record_writes(theta, log_eta, log_keep, inner_loss, _join(changes)[:, :, r:])

        out = self._output(y, gate, mask, x.dtype)

        keep = slice(full, total)
        new_state = MemoryState(
            weights=tuple(W), momentum=tuple(S),
            # copies, so that the state does not keep this call's whole sequence alive
            pending_q=Q[:, :, keep].clone(), pending_k=K[:, :, keep].clone(), pending_v=V[:, :, keep].clone(),
            pending_theta=TH[:, :, keep].clone(), pending_log_eta=LE[:, :, keep].clone(),
            pending_log_keep=LK[:, :, keep].clone(), pending_mask=M[:, keep].clone(),
            pending_reset=R[:, keep].clone(), conv_tails=tails,
            position=state.position + T, signature=self.signature,
            running_weights=tuple(running_W), running_momentum=tuple(running_S),
        )
        return out, read, new_state

    # torch.compile leaves the walk out of its graphs (one graph break per call): the op is a loop over
    # the chunks with threads over the rows, or Triton kernels, which dynamo would unroll into a graph
    # that grows with the sequence and is retraced for every length
    @torch.compiler.disable
    def _walk(self, inputs, M, R, W, S, full):
        """The op over the closed chunks ``[0, full)``, then the open chunk ``[full, total)`` from the weights
        after them. inputs: the pending and new q, k, v, theta, log eta, log(1 - alpha); M / R: mask and
        reset, or None when nothing is masked or reset; W, S: the entering weights and momentum. Returns y,
        the inner loss, the weight changes (when recording), the boundary weights and momentum, and those
        after the last token."""
        total = inputs[0].shape[2]
        running_W, running_S = W, S
        anchored = self.forget_to == "init"
        reset_weights = tuple(self.initial_weights) if R is not None or anchored else None
        ys, inner_losses, changes = [], [], []
        for lo, hi in ((0, full), (full, total)):
            if hi == lo:
                continue
            y_part, W_part, S_part, loss_part, *change = chunk_memory_update(
                *(t[:, :, lo:hi] for t in inputs), W, S,
                chunk_size=self.chunk_size, activation=self.activation, residual=self.residual,
                mask=None if M is None else M[:, lo:hi], log_gates=True,
                reset=None if R is None else R[:, lo:hi], reset_weights=reset_weights,
                forget_to_reset_weights=anchored,
                return_inner_loss=True, return_weight_change=self.recorder is not None,
            )
            ys.append(y_part)
            inner_losses.append(loss_part)
            changes += change
            running_W, running_S = W_part, S_part  # the memory after the last token (the open chunk's end)
            if hi == full:  # the state keeps the boundary weights; the open chunk stays pending
                W, S = W_part, S_part
        return _join(ys), _join(inner_losses), changes, (W, S), (running_W, running_S)

    def _check_segments(self, T, state, segment):
        if segment < 1 or segment % self.chunk_size:
            raise ValueError(f"segment = {segment}: whole segments must be a positive multiple of the memory's "
                             f"chunk size {self.chunk_size}")
        if T % segment or state.pending_q.shape[2] or state.position % segment:
            raise ValueError(f"segment = {segment} needs whole segments from a segment boundary: got {T} tokens "
                             f"at position {state.position} with {state.pending_q.shape[2]} pending; call "
                             "without segment for a partial one")

    def _walk_segments(self, inputs, M, R, state, read_weights, segment, q):
        """``_walk`` one segment at a time, with each segment's read h at the weights that entered it (Eq.
        21): y, the inner loss, the weight changes, the final weights and momentum, and h ``[B, H, T, D]``
        before the output norm."""
        # splits, not slices: a slice's backward zero-fills the whole sequence once per segment
        pieces = list(zip(*(t.split(segment, dim=2) for t in inputs)))
        count = len(pieces)
        masks = [None] * count if M is None else M.split(segment, dim=1)
        resets = [None] * count if R is None else R.split(segment, dim=1)
        W, S, weights = state.weights, state.momentum, read_weights
        ys, losses, changes, reads = [], [], [], []
        for piece, queries, m, r in zip(pieces, q.split(segment, dim=2), masks, resets):
            reads.append(self._read_at(weights, queries, r))
            y, loss, change, (W, S), _ = self._walk(piece, m, r, W, S, segment)
            ys.append(y)
            losses.append(loss)
            changes += change
            weights = W  # the next segment's h reads the memory as this one left it
        return _join(ys), _join(losses), changes, (W, S), _join(reads)

    def _decode_step(self, x, state, inputs, gate, mask_, reset_, tails, mask):
        """One token in constant time from the running state (``titans.ops.token_step``); the same result
        as re-running the open chunk (tested). The token joins the pending ones, so that a later call
        of several tokens can still re-run the chunk exactly."""
        q, k, v, theta, log_eta, log_keep = inputs
        dtype = state.running_weights[0].dtype
        initial = tuple(w.to(dtype).unsqueeze(0) for w in self.initial_weights)
        row = lambda t: t[:, None, None, None]  # noqa: E731  [B] -> broadcast over [B, H, d_in, d_out]
        starts = reset_[:, 0]
        # the open chunk's gradients are taken at its entering weights, or at the initial weights from a
        # document start inside it on (SPEC §2)
        # (copies of the weights only where a row restarts: decoding without resets selects nothing)
        restarted = state.pending_reset.any(1) | starts
        G, W, S = state.weights, state.running_weights, state.running_momentum
        if bool(restarted.any()):
            G = tuple(torch.where(row(restarted), w0, w) for w0, w in zip(initial, G))
        if bool(starts.any()):
            W = tuple(torch.where(row(starts), w0, w) for w0, w in zip(initial, W))
            S = tuple(torch.where(row(starts), 0.0, s) for s in S)
        y, W, S, inner_loss = token_step(
            q.to(dtype), k.to(dtype), v.to(dtype), theta, log_eta, log_keep, G, W, S,
            activation=self.activation, residual=self.residual, mask=None if bool(mask_.all()) else mask_[:, 0],
            forget_toward=initial if self.forget_to == "init" else None,
        )
        self._record_stats(theta, log_eta, log_keep, inner_loss, mask_)
        if self.recorder is not None:
            change = sum((new - old.to(new.dtype)).square().sum((-2, -1)) for new, old in zip(W, state.running_weights))
            self._record_writes(theta, log_eta, log_keep, inner_loss, change.sqrt().unsqueeze(-1))
        out = self._output(y.to(q.dtype), gate, mask, x.dtype)
        closed = state.pending_q.shape[2] + 1 == self.chunk_size  # this token ends its chunk: a new boundary
        pend = (lambda old, new, dim=2: old[:, :, :0] if closed else torch.cat([old, new.to(old.dtype)], dim))
        new_state = MemoryState(
            weights=W if closed else state.weights, momentum=S if closed else state.momentum,
            pending_q=pend(state.pending_q, q), pending_k=pend(state.pending_k, k), pending_v=pend(state.pending_v, v),
            pending_theta=pend(state.pending_theta, theta), pending_log_eta=pend(state.pending_log_eta, log_eta),
            pending_log_keep=pend(state.pending_log_keep, log_keep),
            pending_mask=state.pending_mask[:, :0] if closed else torch.cat([state.pending_mask, mask_], 1),
            pending_reset=state.pending_reset[:, :0] if closed else torch.cat([state.pending_reset, reset_], 1),
            conv_tails=tails, position=state.position + 1, signature=self.signature,
            running_weights=W, running_momentum=S,
        )
        return out, new_state

    def _out_gate(self, x):
        """The output's sigmoid gate ``[B, T, H * D]`` from x ``[B, T, dim]``."""
        return torch.sigmoid(self.to_out_gate(x))

    def _output(self, y, gate, mask, dtype):
        """Per-head RMSNorm, the gate (``_out_gate``), the projection back to ``dim``; padding zeroed.
        dtype: the layer input's (y is in the memory's compute dtype)."""
        B, _, T, _ = y.shape
        y = F.rms_norm(y, (self.dim_head,)) * self.out_norm_weight.unsqueeze(1).to(y.dtype)
        y = y.transpose(1, 2).reshape(B, T, -1).to(dtype) * gate
        return zero_padding(self.to_out(y), mask)

    def read(
        self,
        x: torch.Tensor,
        weights: tuple[torch.Tensor, ...],
        q_tail: torch.Tensor | None = None,
        *,
        mask: torch.Tensor | None = None,
        reset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Retrieval without a write: ``M_W(q(x))`` with fixed memory weights (MAC's h, Eq. 21).

        x: ``[B, T, dim]``; weights: ``[B, H, d_in, d_out]`` tuple (e.g. ``state.weights`` at a chunk
        boundary); q_tail: this read path's own conv tail ``[B, kernel - 1, H * D]`` (None at the
        start). mask: ``[B, T]`` bool, False for padding (output zero). reset: ``[B, T]`` bool, True at
        a document start: from there on the read uses the initial weights W0, the memory a new
        document starts with (SPEC §2), and the conv does not reach back across it. Returns
        ``[B, T, dim]`` through the same output norm, gate and projection as ``forward``, and the new
        q tail.
        """
        q = zero_padding(F.linear(x, self.to_qkv.weight[: self.heads * self.dim_head]), mask)  # _project's q rows
        q, q_tail = self.convs[0](q, q_tail, reset)
        q = F.normalize(self._split_heads(F.silu(q)), dim=-1).to(compute_dtype(x.dtype))
        return self._output(self._read_at(weights, q, reset), self._out_gate(x), mask, x.dtype), q_tail

    def _read_at(self, weights, q, reset):
        """``M_W(q)`` ``[B, H, T, D]``, and from a document start on (``reset``) ``M_W0(q)``."""
        y = self._retrieve(weights, q)
        if reset is not None:
            # weights were written by the previous document: nothing of it may reach the new one
            new_document = (reset.to(torch.int32).cumsum(1) > 0)[:, None, :, None]  # [B, 1, T, 1]
            y = torch.where(new_document, self._retrieve(tuple(self.initial_weights), q), y)
        return y

    def _retrieve(self, weights: tuple[torch.Tensor, ...], q: torch.Tensor) -> torch.Tensor:
        """``M_W(q)`` per head: weights ``[B or absent, H, d_in, d_out]``, q ``[B, H, T, D]``."""
        return memory_forward(tuple(w.to(q.dtype) for w in weights), q, self.activation, self.residual)

    @torch.no_grad()
    def _record_writes(self, theta, log_eta, log_keep, inner_loss, weight_change):
        """Per token and head, what the op received and wrote (``write_record``), ``[B, H, T]`` each."""
        self.recorder.add(inner_loss=inner_loss, theta=theta, eta=log_eta.exp(), alpha=-torch.expm1(log_keep),
                          weight_change=weight_change)

    def _record_stats(self, theta, log_eta, log_keep, inner_loss, mask):
        """Keeps this call's gates, inner loss and mask (detached) for ``last_stats``, which averages them
        only when read: a decoded token would otherwise spend a tenth of the memory's time on logging."""
        self._stats_inputs = tuple(t.detach() for t in (theta, log_eta, log_keep, inner_loss, mask))

    @property
    @torch.no_grad()
    def last_stats(self) -> dict[str, torch.Tensor]:
        """Means over the last call's real tokens of the gates and of the inner loss (the surprise)."""
        if self._stats_inputs is None:
            return {}
        theta, log_eta, log_keep, inner_loss, mask = self._stats_inputs
        w = mask[:, None, :].to(theta.dtype).expand_as(theta)
        n = w.sum().clamp_min(1.0)
        mean = lambda t: (t.float() * w).sum() / n  # noqa: E731
        return {
            "theta": mean(theta), "eta": mean(log_eta.exp()), "alpha": mean(-torch.expm1(log_keep)),
            "inner_loss": mean(inner_loss),
        }
