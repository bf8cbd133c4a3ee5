"""Side-by-side training throughput: shoal vs Keras 3 (JAX backend), interleaved in one run.

For each workload and library: build the same model, run one epoch (compile included, timed
as "first epoch"), then `--epochs` more epochs whose mean is the steady-state samples/s.
Libraries alternate per workload so machine load affects both alike. Prints a table with
the ratio shoal / Keras and writes JSON when `--json` is given.

    python benchmarks/bench_fit.py                  # all workloads
    python benchmarks/bench_fit.py --only mlp128 convnet --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402


def mlp(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((784,)),
            L.Dense(512, activation="relu"),
            L.Dense(512, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )


def convnet(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((28, 28, 1)),
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dropout(0.5),
            L.Dense(10, activation="softmax"),
        ]
    )


def lstm_text(lib):
    L = lib.layers
    return lib.Sequential(
        [
            lib.Input((80,), dtype="int32"),
            L.Embedding(20000, 128),
            L.LSTM(64),
            L.Dense(1, activation="sigmoid"),
        ]
    )


def transformer(lib):
    """One Transformer encoder block (d=128, 4 heads, FFN 512) over 128 tokens."""
    L = lib.layers
    tokens = lib.Input((128,), dtype="int32")
    x = L.Embedding(1000, 128)(tokens)
    attn = L.MultiHeadAttention(num_heads=4, key_dim=32)(x, x)
    x = L.LayerNormalization()(L.Add()([x, attn]))
    ffn = L.Dense(128)(L.Dense(512, activation="relu")(x))
    x = L.LayerNormalization()(L.Add()([x, ffn]))
    outputs = L.Dense(10, activation="softmax")(L.GlobalAveragePooling1D()(x))
    return lib.Model(tokens, outputs)


WORKLOADS = {
    # name: (model builder, input shape, batch size, samples, vocabulary (int inputs), classes)
    "mlp128": (mlp, (784,), 128, 12800, None, 10),
    "mlp32": (mlp, (784,), 32, 6400, None, 10),
    "convnet": (convnet, (28, 28, 1), 128, 6400, None, 10),
    "lstm": (lstm_text, (80,), 64, 3200, 20000, 2),
    "transformer": (transformer, (128,), 64, 3200, 1000, 10),
}


def run(lib, name, epochs, scale=1):
    build, shape, batch, n, vocab, classes = WORKLOADS[name]
    n *= scale
    rng = np.random.default_rng(0)
    if vocab:
        x = rng.integers(0, vocab, (n,) + shape).astype("int32")
    else:
        x = rng.random((n,) + shape, dtype=np.float32)
    y = rng.integers(0, classes, n)
    loss = "binary_crossentropy" if classes == 2 else "sparse_categorical_crossentropy"
    model = build(lib)
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    first = time.perf_counter() - start
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return {"first_epoch_s": first, "samples_per_s": n / float(np.median(times))}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", default=None)
    parser.add_argument("--scale", type=int, default=1, help="multiply the samples per epoch")
    args = parser.parse_args()

    import jax
    import keras

    import shoal

    libs = {"shoal": shoal, "keras-jax": keras}
    device = jax.devices()[0]
    print(
        f"# {time.strftime('%Y-%m-%d')} {platform.node()} {device.platform} "
        f"{getattr(device, 'device_kind', '')} cpus={os.cpu_count()} jax={jax.__version__} "
        f"keras={keras.__version__}"
    )
    results = {}
    for name in args.only:
        for lib_name, lib in libs.items():
            results[(name, lib_name)] = run(lib, name, args.epochs, args.scale)
    print(
        f"{'workload':<10} {'shoal/s':>10} {'keras/s':>10} {'ratio':>6} "
        f"{'shoal 1st':>9} {'keras 1st':>9}"
    )
    for name in args.only:
        s, k = results[(name, "shoal")], results[(name, "keras-jax")]
        print(
            f"{name:<10} {s['samples_per_s']:>10.0f} {k['samples_per_s']:>10.0f} "
            f"{s['samples_per_s'] / k['samples_per_s']:>6.2f} {s['first_epoch_s']:>8.1f}s "
            f"{k['first_epoch_s']:>8.1f}s"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({f"{w}/{lib}": r for (w, lib), r in results.items()}, f, indent=1)


if __name__ == "__main__":
    main()
