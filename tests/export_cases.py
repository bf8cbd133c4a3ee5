"""Models and helpers shared by the export tests (ONNX, TFLite, StableHLO).

A test module uses the `cheap_initializers` fixture by importing it:

    from export_cases import cheap_initializers  # noqa: F401  (autouse fixture)
"""

from __future__ import annotations

import numpy as np
import pytest

import shoal
from shoal import layers as L


@pytest.fixture(autouse=True, scope="module")
def cheap_initializers():
    """Build with `zeros`: every weight is overwritten by `randomize` (or no numbers are
    computed), and sampling initializers compile one XLA program per weight shape, which
    would dominate these files."""
    from shoal import initializers

    zeros = initializers.get("zeros")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(initializers, "get", lambda identifier: zeros)
        yield


def randomize(model, seed=0):
    """Random weights from `seed` (positive moving variances for BatchNormalization)."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if "moving_variance" in v.path:
            value = rng.uniform(0.5, 1.5, v.shape)
        else:
            value = rng.normal(0.0, 0.5, v.shape)
        v.assign(value.astype(v.dtype))
    return model


def make_inputs(model, rows, seed=0, vocab=10):
    """`rows` rows per model input: ids below `vocab` for integer inputs, else normals.

    Drawn from `seed + 1`, so that inputs and the weights `randomize(model, seed)` draws
    do not come from the same stream.
    """
    rng = np.random.default_rng(seed + 1)
    out = []
    for t in model.inputs:
        shape = (rows,) + tuple(t.shape[1:])
        if np.dtype(t.dtype).kind in "iu":
            out.append(rng.integers(0, vocab, shape).astype(t.dtype))
        else:
            out.append(rng.standard_normal(shape).astype(t.dtype))
    return out


def seq(*layers, shape, dtype="float32", name=None, batch_size=None):
    """A Sequential model with an Input of `shape` (batch axis left out) before `layers`."""
    first = shoal.Input(shape, dtype=dtype, batch_size=batch_size)
    return shoal.Sequential([first, *layers], name=name)


class Scale(L.Layer):
    """A custom layer: StableHLO export traces it like any other code; ONNX and TFLite
    refuse it."""

    def call(self, x):
        return x * 2.0 + 1.0


def subclassed_model():
    """A built subclassed model (no layer graph, no symbolic inputs): (batch, 3) -> 2."""

    class Net(shoal.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    return net


def cli_parser():
    """An argparse parser with the `shoal export` command on it."""
    import argparse

    from shoal.export.api import add_cli_parser

    parser = argparse.ArgumentParser()
    add_cli_parser(parser.add_subparsers(dest="command"))
    return parser


# -- example models ----------------------------------------------------------------------


def mlp():
    return seq(
        L.Dense(16, activation="relu"),
        L.Dropout(0.2),
        L.Dense(8, activation="relu"),
        L.Dense(3, activation="softmax"),
        shape=(10,),
    )


def small_mnist_convnet():
    """The Keras MNIST example's convnet, shrunk (14x14 inputs, 4 and 8 filters)."""
    return seq(
        L.Conv2D(4, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(8, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
        shape=(14, 14, 1),
    )


def text_lstm(mask_zero=False):
    return seq(
        L.Embedding(12, 4, mask_zero=mask_zero),
        L.LSTM(5),
        L.Dense(1, activation="sigmoid"),
        shape=(6,),
        dtype="int32",
    )


def functional_multi_input(custom=False):
    """Inputs "numbers" (6 floats) and "tokens" (5 ids), outputs "label" and "score";
    `custom` adds a `Scale` layer (only StableHLO can export it)."""
    x_a, x_b = shoal.Input((6,), name="numbers"), shoal.Input((5,), dtype="int32", name="tokens")
    tokens = L.GlobalAveragePooling1D()(L.Embedding(10, 4)(x_b))
    merged = L.Concatenate()([L.Dense(8, activation="relu")(x_a), tokens])
    hidden = L.BatchNormalization()(L.Dense(6, activation="tanh")(merged))
    if custom:
        hidden = Scale()(hidden)
    return shoal.Model(
        [x_a, x_b],
        [L.Dense(3, activation="softmax", name="label")(hidden), L.Dense(1, name="score")(hidden)],
    )
