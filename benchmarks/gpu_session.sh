#!/usr/bin/env bash
# Everything a lent GPU should run, in one command of about 8 minutes: the CUDA tests (the Triton
# kernels against the torch walk, the attention paths against the reference, every model on CUDA, bf16
# autocast), then benchmarks/gpu.py. Logs and the table's JSON go to $OUT (default benchmarks/results).
#   bash benchmarks/gpu_session.sh
# Packages the machine lacks (titans-pytorch and its dependencies, for the baseline rows) can come as
# wheels in .whl/ (benchmarks/README.md, "The GPU path"); they are installed to a scratch folder first.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-benchmarks/results}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/titans-wheels .whl/*.whl \
        && export PYTHONPATH="$PYTHONPATH:/tmp/titans-wheels"
fi
{ nvidia-smi -L; python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } \
    2>&1 | tee "$out/gpu_env.txt"
workers=()
python3 -c "import xdist" 2>/dev/null && workers=(-n 8)  # the kernels compile in parallel
timeout 180 python3 -m pytest tests/ops/test_ops_on_cuda.py tests/models/test_models_on_cuda.py \
    tests/train/test_precision.py::test_bf16_autocast_trains_like_float32_on_cuda -rfE -p no:cacheprovider \
    "${workers[@]}" 2>&1 | tee "$out/gpu_tests.log" | tail -25
python3 benchmarks/gpu.py --budget 90 --json "$out/gpu.json" 2>&1 | tee "$out/gpu.log" | tail -60
