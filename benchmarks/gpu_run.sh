#!/usr/bin/env bash
# One prepared GPU run (device tool): Keras wheels carried in .whl, results into $OUT.
set -uo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 KERAS_BACKEND=jax
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/gpu_info.txt"
python3 benchmarks/bench_fit.py --scale "${SCALE:-8}" --epochs 3 --json "$OUT/gpu.json" \
  2>&1 | tee "$OUT/gpu_bench.txt"
