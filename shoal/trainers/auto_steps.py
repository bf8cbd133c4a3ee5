"""`steps_per_execution="auto"`: how many steps to fuse into one compiled execution.

Each execution costs a fixed overhead: host-side dispatch (Python, argument handling,
callbacks) and, on XLA:CPU, more than that (a step's zero-filled and gathered buffers
took about twice as long at K=1 as inside a loop, see benchmarks/RESULTS.md). A step
that computes little (a small MLP at batch 32) spends most of its time there, and even
a heavy one pays it: measured on the 2-core CI VM (2026-11-29, `fit`, one process,
K alternated), 0.8 ms per execution for the benchmark MLP at batch 128 (4.4 vs 3.7 ms per
step at K=1 / K=5) and ~2 ms for the Embedding+LSTM step (19.2 vs 17.0-17.5 ms at K=1 /
K=5-10). Fusing K steps in one `lax.scan` pays it once per K steps.

K is chosen from the FLOPs of one step (counted on its jaxpr, `flop_count.py`) so that
an execution does about `TARGET_FLOPS[platform]` of work: the smallest divisor of the
epoch's number of full batches between that and `SPREAD` times it (no leftover steps
need a second, unfused compile), else a power of two up to `MAX_STEPS` (or a divisor
near it).

Steps with one of lax's convolutions run one per execution on CPU (elsewhere once they
are heavy): XLA:CPU runs some convolution gradients much slower inside a loop body (the
MNIST convnet step fused two at a time ran 1.4x slower than alone until `cpu_conv` wrote
its input gradient explicitly; lax's kernel gradient of a convolution in a loop ran ~10x
slower, see `cpu_conv._plan`). Small ones too: a Conv2D(16, 3) on 32x32x3 images at
batch 32 took 44 ms per step fused and 4.4 ms alone (2026-11-29). Convolutions `cpu_conv`
writes as matmuls (Winograd, im2col) and its explicit input gradient (traced under
`cpu_conv.LOOP_SAFE_SCOPE`) do not count: a step with only those is fused like any other.
"""

from __future__ import annotations

import math

import jax

# About 40-60 ms of work on a CPU (an execution's overhead under ~5%); ~1 ms on an
# accelerator.
TARGET_FLOPS = {"cpu": 6e9, "gpu": 2e11, "tpu": 2e11}
# Steps with a convolution heavier than this run one per execution (see above).
FUSE_CONVOLUTIONS_BELOW = {"cpu": 6e8, "gpu": 1e12, "tpu": 1e12}
LOOP_SENSITIVE = frozenset({"conv_general_dilated"})
MAX_STEPS = 64
SPREAD = 4


def choose(
    flops: float, platform: str, full_batches: int | None, primitives: frozenset = frozenset()
) -> int:
    """K for a step of `flops` FLOPs applying `primitives`, in an epoch of `full_batches`."""
    if flops <= 0:
        return 1
    if primitives & LOOP_SENSITIVE and (
        platform == "cpu"
        or flops >= FUSE_CONVOLUTIONS_BELOW.get(platform, FUSE_CONVOLUTIONS_BELOW["gpu"])
    ):
        return 1
    wanted = TARGET_FLOPS.get(platform, TARGET_FLOPS["gpu"]) / flops
    if wanted <= 1:
        return 1
    if full_batches:
        upper = min(MAX_STEPS, full_batches, SPREAD * wanted)
        near = [d for d in range(math.ceil(wanted), int(upper) + 1) if full_batches % d == 0]
        if near:
            return near[0]
    k = min(MAX_STEPS, 2 ** math.ceil(math.log2(wanted)))
    if full_batches:
        k = min(k, full_batches)
        divisor = max(d for d in range(1, k + 1) if full_batches % d == 0)
        if divisor * SPREAD >= k:
            k = divisor
    return max(1, k)


def platform_of(state) -> str:
    for group in state:
        for value in group:
            if isinstance(value, jax.Array):
                return next(iter(value.devices())).platform
    return jax.default_backend()
