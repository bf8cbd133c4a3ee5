"""`steps_per_execution="auto"`: how many steps to fuse into one compiled execution.

Each execution costs a fixed host-side dispatch (Python, argument handling, callbacks):
tens to hundreds of microseconds. A step that computes little (a small MLP at batch 32)
spends most of its time there. Fusing K steps in one `lax.scan` pays it once per K steps.
K is chosen from the FLOPs of one step (counted on its jaxpr, `flop_count.py`) so that
an execution does about `TARGET_FLOPS[platform]` of work, as a power of two up to
`MAX_STEPS`, and preferably a divisor of the epoch's number of full batches (so that no
leftover steps need a second, unfused compile).
"""

from __future__ import annotations

import math

import jax

# About 10-20 ms of work on a CPU; ~1 ms on an accelerator.
TARGET_FLOPS = {"cpu": 2e9, "gpu": 2e11, "tpu": 2e11}
# Steps heavier than this run one per execution: dispatch is already negligible, and
# XLA:CPU runs some ops much slower inside a loop (the MNIST convnet step fused two at a
# time ran 8x slower than alone, measured 2026-11-29).
FUSE_BELOW_FLOPS = {"cpu": 6e8, "gpu": 1e12, "tpu": 1e12}
MAX_STEPS = 64


def choose(flops: float, platform: str, full_batches: int | None) -> int:
    if flops <= 0 or flops >= FUSE_BELOW_FLOPS.get(platform, FUSE_BELOW_FLOPS["gpu"]):
        return 1
    wanted = TARGET_FLOPS.get(platform, TARGET_FLOPS["gpu"]) / flops
    k = 1 if wanted <= 1 else min(MAX_STEPS, 2 ** math.ceil(math.log2(wanted)))
    if full_batches:
        k = min(k, full_batches)
        divisor = max(d for d in range(1, k + 1) if full_batches % d == 0)
        if divisor * 4 >= k:
            k = divisor
    return max(1, k)


def platform_of(state) -> str:
    for group in state:
        for value in group:
            if isinstance(value, jax.Array):
                return next(iter(value.devices())).platform
    return jax.default_backend()
