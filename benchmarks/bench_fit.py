"""Side-by-side training throughput: shoal vs Keras 3 on its JAX and TensorFlow backends.

Each (workload, library) is measured by `worker.py` in a fresh process, in that library's
own virtual environment (`setup_peers.sh` creates them), libraries interleaved per
workload so machine load affects all alike. Prints steady-state samples/s, first-epoch
seconds (compilation included), peak memory, the ratio of shoal to the best peer, and
shoal's MFU against a matmul peak measured at the start.

    bash benchmarks/setup_peers.sh                     # once: .bench/keras-jax, .bench/keras-tf
    python benchmarks/bench_fit.py                     # all workloads, all libraries
    python benchmarks/bench_fit.py --only mlp32 lstm --libs shoal keras-jax
    python benchmarks/bench_fit.py --repeat 3          # 3 interleaved rounds, medians
    python benchmarks/bench_fit.py --verbose-check     # cost of verbose=1 vs verbose=0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from workloads import WORKLOADS  # noqa: E402

VENVS = {"keras-jax": ".bench/keras-jax", "keras-tensorflow": ".bench/keras-tf"}


def python_for(lib):
    if lib == "shoal":
        return sys.executable
    venv = os.path.join(ROOT, VENVS[lib], "bin", "python")
    if os.path.exists(venv):
        return venv
    if lib == "keras-jax":  # the test extra installs Keras next to shoal
        return sys.executable
    return None


def measure(lib, workload, epochs, scale, *options):
    """The JSON result of worker.py for `lib` in its environment, or None (not installed,
    or failed: its error is printed)."""
    python = python_for(lib)
    if python is None:
        return None
    command = [python, os.path.join(HERE, "worker.py"), "--lib", lib, "--workload", workload]
    command += ["--epochs", str(epochs), "--scale", str(scale), *options]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        print(f"# {lib} {workload} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def matmul_peak(n=2048, repeats=10):
    """Best f32 matmul FLOP/s of this machine's default JAX device."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda a: a @ a)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def verbose_check(scale, pairs=15):
    """verbose=1 against verbose=0: epochs alternating in one process (one compiled model),
    medians of each; the progress bar draws as on a terminal."""
    result = measure("shoal", "mlp32", 3, scale, "--verbose-pairs", str(pairs))
    if result is None:
        raise SystemExit("the verbose check failed (its error is above)")
    q, v = result["verbose_0_samples_per_s"], result["verbose_1_samples_per_s"]
    print(
        f"mlp32 verbose=0 {q:.0f}/s  verbose=1 {v:.0f}/s  cost of the progress bar "
        f"{100 * (q - v) / q:+.1f}%  (medians of {pairs} alternating epochs each)"
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--libs", nargs="*", default=["shoal", "keras-jax", "keras-tensorflow"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--scale", type=int, default=1, help="multiply the samples per epoch")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds per workload, libraries interleaved in each; medians are reported",
    )
    parser.add_argument("--json", default=None)
    parser.add_argument("--verbose-check", action="store_true")
    args = parser.parse_args()

    import jax

    device = jax.devices()[0]
    peak = matmul_peak()
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.node()} {device.platform} "
        f"{getattr(device, 'device_kind', '')} cpus={os.cpu_count()} jax={jax.__version__} "
        f"matmul peak {peak / 1e9:.0f} GFLOP/s"
    )
    if args.verbose_check:
        verbose_check(args.scale)
        return
    rounds = {}
    for name in args.only:
        for _ in range(args.repeat):
            for lib in args.libs:
                rounds.setdefault((name, lib), []).append(
                    measure(lib, name, args.epochs, args.scale)
                )
    results = {key: _median_result(runs) for key, runs in rounds.items()}
    peers = [lib for lib in args.libs if lib != "shoal"]
    header = f"{'workload':<12}" + "".join(f"{lib + '/s':>19}" for lib in args.libs)
    print(
        header
        + f"{'vs best':>9}{'MFU':>7}"
        + "".join(f"{lib + ' 1st':>21}" for lib in args.libs)
        + "".join(f"{lib + ' MB':>20}" for lib in args.libs)
    )
    for name in args.only:
        row = [results[(name, lib)] for lib in args.libs]
        speed = "".join(f"{r['samples_per_s']:>19.0f}" if r else f"{'-':>19}" for r in row)
        first = "".join(f"{r['first_epoch_s']:>20.1f}s" if r else f"{'-':>21}" for r in row)
        memory = "".join(f"{r['peak_rss_mb']:>20.0f}" if r else f"{'-':>20}" for r in row)
        shoal = results.get((name, "shoal"))
        best = max(
            (results[(name, p)]["samples_per_s"] for p in peers if results[(name, p)]), default=None
        )
        ratio = f"{shoal['samples_per_s'] / best:>9.2f}" if shoal and best else f"{'-':>9}"
        mfu = "-"
        if shoal and shoal.get("flops_per_step"):
            batch = WORKLOADS[name][2]
            mfu = f"{100 * shoal['flops_per_step'] * shoal['samples_per_s'] / batch / peak:.0f}%"
        print(f"{name:<12}{speed}{ratio}{mfu:>7}{first}{memory}")
        if args.repeat > 1 and shoal:
            print(f"{'':<12}rounds: {_round_ratios(rounds, name, peers)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {f"{w}/{lib}": runs for (w, lib), runs in rounds.items()} | {"peak": peak},
                f,
                indent=1,
            )


def _median_result(runs):
    """Per key, the median over the rounds that succeeded (peak memory: the largest)."""
    runs = [r for r in runs if r]
    if not runs:
        return None
    out = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "peak_rss_mb"}
    return out | {"peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def _round_ratios(rounds, name, peers):
    """shoal / best peer in each round, e.g. '1.51 1.45 1.38'."""
    ratios = []
    for i, shoal in enumerate(rounds[(name, "shoal")]):
        best = max(
            (rounds[(name, p)][i]["samples_per_s"] for p in peers if rounds[(name, p)][i]),
            default=None,
        )
        if shoal and best:
            ratios.append(f"{shoal['samples_per_s'] / best:.2f}")
    return " ".join(ratios)


if __name__ == "__main__":
    main()
