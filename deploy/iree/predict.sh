#!/usr/bin/env bash
# Classify a 28x28 handwritten digit with a shoal model through IREE: the StableHLO export is
# compiled ahead of time to native CPU code (a .vmfb module) and run by IREE's C runtime.
#
#   pip install iree-base-compiler iree-base-runtime      # iree-compile, iree-run-module
#   deploy/iree/predict.sh mnist.stablehlo.mlir deploy/sample-digit.pgm
#
# The model must be exported with a static input shape, one image:
#   model.export("mnist.stablehlo", format="stablehlo", input_signature=[(1, 28, 28, 1)])
# (IREE's CPU backend compiles static shapes.) IMAGE is a 28x28 8-bit binary PGM, white on
# black; pixels are scaled to [0, 1] as in training. Prints `digit: N` and the probabilities.
# Environment: IREE_COMPILE / IREE_RUN_MODULE name the tools; INPUT_SHAPE (default 1x28x28x1)
# is the model's input shape; IREE_CPU (default host) is the CPU to compile for.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 MODEL.stablehlo.mlir IMAGE.pgm" >&2
  exit 2
fi
mlir=$1
image=$2
vmfb=${mlir%.mlir}.vmfb
compiler=${IREE_COMPILE:-iree-compile}
runner=${IREE_RUN_MODULE:-iree-run-module}

# Compile once (again when the .mlir is newer than the module).
if [[ ! -e $vmfb || $mlir -nt $vmfb ]]; then
  "$compiler" --iree-input-type=stablehlo \
    --iree-hal-target-device=local \
    --iree-hal-local-target-device-backends=llvm-cpu \
    --iree-llvmcpu-target-cpu="${IREE_CPU:-host}" \
    "$mlir" -o "$vmfb"
fi

# A 28x28 8-bit binary PGM ends with its 784 pixel bytes, whatever its header holds.
if [[ $(head -c 2 "$image") != P5 ]]; then
  echo "$0: $image is not a binary PGM (P5) image" >&2
  exit 1
fi
values=$(tail -c 784 "$image" | od -An -v -tu1 |
  awk '{ for (i = 1; i <= NF; i++) printf "%s%.9g", (n++ ? " " : ""), $i / 255 }')

# iree-run-module prints each result as "1x10xf32=[p0 p1 ... p9]".
"$runner" --device=local-task --module="$vmfb" --function=main \
  --input="${INPUT_SHAPE:-1x28x28x1}xf32=$values" |
  awk -F'[][]' '/xf32=\[/ {
    n = split($2, p, " ")
    best = 1
    for (i = 2; i <= n; i++) if (p[i] + 0 > p[best] + 0) best = i
    printf "digit: %d\nprobabilities: %s\n", best - 1, $2
  }'
