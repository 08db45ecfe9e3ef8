"""Opt-in (TITANS_TRITON_COMPILE=1; about 10 minutes on 2 CPU cores): the memory op's Triton kernels
compile for an H100 (sm_90, through ptxas; no GPU needed) at the largest sizes that backend="auto"
gives them, within the shared memory that ``triton_walk`` records for them (the figures it checks a
device against). The interpreter tests check what the kernels compute, not that they compile.
"""

import os

import pytest
import torch

from titans.ops import triton_walk

pytestmark = pytest.mark.skipif(os.environ.get("TITANS_TRITON_COMPILE") != "1",
                                reason="compiles GPU kernels for minutes: set TITANS_TRITON_COMPILE=1")


@pytest.mark.parametrize("precision", ["ieee", "tf32"])  # torch's float32 matmul precision "highest", or not
@pytest.mark.parametrize("chunk_size", sorted(triton_walk._AUTO_SHARED_BY_CHUNK))
@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_kernels_need_no_more_shared_memory_than_auto_assumes(direction, depth, chunk_size, precision):
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    # the largest widths under the auto limit: D = Dh for depth 1, Dh = 4 D for depth 2
    side = int(triton_walk._AUTO_MAX_TILE ** 0.5)
    D, Dh = (side, side) if depth == 1 else (side // 2, side * 2)
    q = torch.empty(1, 1, 1, chunk_size, D, device="meta")
    state = [torch.empty(1, 1, D, Dh, device="meta")]
    meta = triton_walk._meta(q, state, depth, "gelu", residual=False, resets=True, after=True,
                             precision=precision)
    options = dict(num_warps=meta.pop("num_warps"), num_stages=meta.pop("num_stages"))
    meta.pop("Dh", None)
    if direction == "forward":
        meta["SAVE"] = True
    kernel = triton_walk._kernel(direction, depth)
    signature = {name: "constexpr" if name in meta else "i32" if name in ("N", "b", "D", "Dh") else "*fp32"
                 for name in kernel.arg_names}
    compiled = triton.compile(ASTSource(kernel, signature, meta), target=GPUTarget("cuda", 90, 32), options=options)
    assert compiled.metadata.shared <= triton_walk._AUTO_SHARED_BY_CHUNK[chunk_size], compiled.metadata.shared
