#!/usr/bin/env bash
# Virtual environments for the peers bench_fit.py compares against: Keras 3 on its JAX
# backend and on its TensorFlow backend (tensorflow-cpu), each isolated from shoal's.
set -euo pipefail
cd "$(dirname "$0")/.."
KERAS=${KERAS:-keras==3.15.1}
python3 -m venv .bench/keras-jax
.bench/keras-jax/bin/pip install -q "$KERAS" "jax[cpu]==$(python3 -c 'import jax; print(jax.__version__)')"
python3 -m venv .bench/keras-tf
.bench/keras-tf/bin/pip install -q "$KERAS" "tensorflow-cpu==${TF_VERSION:-2.21.0}"
echo "peers ready: .bench/keras-jax .bench/keras-tf"
