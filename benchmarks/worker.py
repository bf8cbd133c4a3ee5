"""One benchmark measurement in a fresh process: one library, one workload.

    python benchmarks/worker.py --lib shoal --workload mlp32 --epochs 3

Prints one JSON line: steady-state samples/s (median epoch), first epoch seconds
(compilation included), peak resident memory of the process, and for shoal the FLOPs of
one training step counted on its jaxpr (the same model's FLOPs serve every library's
MFU). Run by `bench_fit.py`, each library in its own virtual environment.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load(lib_name):
    if lib_name == "shoal":
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        import shoal

        return shoal
    os.environ["KERAS_BACKEND"] = lib_name.split("-", 1)[1]  # keras-jax / keras-tensorflow
    import keras

    return keras


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def data(name, scale):
    from workloads import WORKLOADS

    _, shape, batch, n, vocab, classes = WORKLOADS[name]
    n *= scale
    rng = np.random.default_rng(0)
    if vocab:
        x = rng.integers(0, vocab, (n,) + shape).astype("int32")
    else:
        x = rng.random((n,) + shape, dtype=np.float32)
    y = rng.integers(0, classes, n)
    loss = "binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy"
    return x, y, batch, loss


def step_flops(model, x, y, batch):
    """FLOPs of one training step of a shoal model (`shoal.trainers.flop_count`)."""
    import jax

    from shoal.trainers import flop_count

    fn = model._step_function("train")
    state = model._read_state("train")
    rng = jax.random.key(0)
    return flop_count.step_flops(fn, (state, rng, (x[:batch], y[:batch], None)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lib", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument(
        "--verbose-pairs",
        type=int,
        default=0,
        help="instead: this many pairs of epochs, verbose=0 then verbose=1, in this process",
    )
    parser.add_argument(
        "--steps-per-execution",
        default=None,
        help="passed to compile (an int or 'auto'); the library's default if omitted",
    )
    args = parser.parse_args()

    from workloads import WORKLOADS

    lib = load(args.lib)
    x, y, batch, loss = data(args.workload, args.scale)
    model = WORKLOADS[args.workload][0](lib)
    options = {}
    if args.steps_per_execution is not None:
        spe = args.steps_per_execution
        options["steps_per_execution"] = spe if spe == "auto" else int(spe)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"], **options)

    def epoch(verbose=args.verbose):
        sink = _Terminal()  # a live progress bar's redraws, without a terminal's rendering
        with contextlib.redirect_stdout(sink):
            start = time.perf_counter()
            model.fit(x, y, batch_size=batch, epochs=1, verbose=verbose)
            return time.perf_counter() - start

    first = epoch()
    if args.verbose_pairs:
        pairs = [(epoch(0), epoch(1)) for _ in range(args.verbose_pairs)]
        quiet, loud = (len(x) / float(np.median(t)) for t in zip(*pairs, strict=True))
        print(json.dumps({"verbose_0_samples_per_s": quiet, "verbose_1_samples_per_s": loud}))
        return
    times = [epoch() for _ in range(args.epochs)]
    result = {
        "samples_per_s": len(x) / float(np.median(times)),
        "first_epoch_s": first,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.lib == "shoal":
        result["flops_per_step"] = step_flops(model, x, y, batch)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
