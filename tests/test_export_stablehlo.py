"""StableHLO export: one `jax.export` artifact runs at any batch size and equals predict."""

from __future__ import annotations

import numpy as np
import pytest

import shoal
from shoal import layers as L
from shoal.export import export_model, export_stablehlo, load_stablehlo

BATCHES = (2, 5)


@pytest.fixture(autouse=True, scope="module")
def cheap_initializers():
    """Weights are overwritten by `randomize`: build with `zeros` (sampling compiles)."""
    from shoal import initializers

    zeros = initializers.get("zeros")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(initializers, "get", lambda identifier: zeros)
        yield


def randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        low = "moving_variance" in v.path
        value = rng.uniform(0.5, 1.5, v.shape) if low else rng.normal(0.0, 0.5, v.shape)
        v.assign(value.astype(v.dtype))
    return model


def seq(*layers, shape, dtype="float32"):
    return shoal.Sequential([shoal.Input(shape, dtype=dtype), *layers])


class Scale(L.Layer):
    """A custom layer: StableHLO export traces it like any other code."""

    def call(self, x):
        return x * 2.0 + 1.0


def multi_input():
    a, b = shoal.Input((6,), name="numbers"), shoal.Input((5,), dtype="int32", name="tokens")
    tokens = L.GlobalAveragePooling1D()(L.Embedding(10, 4)(b))
    merged = L.Concatenate()([L.Dense(8, activation="relu")(a), tokens])
    hidden = Scale()(L.BatchNormalization()(L.Dense(6, activation="tanh")(merged)))
    return shoal.Model(
        [a, b], [L.Dense(3, activation="softmax", name="label")(hidden), L.Dense(1)(hidden)]
    )


MODELS = {
    "mlp": lambda: seq(
        L.Dense(16, activation="relu"),
        L.Dropout(0.2),
        L.Dense(3, activation="softmax"),
        shape=(10,),
    ),  # fmt: skip
    "mnist_convnet": lambda: seq(
        L.Conv2D(4, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(8, 3, activation="relu"),
        L.MaxPooling2D(2),
        L.Flatten(),
        L.Dropout(0.5),
        L.Dense(10, activation="softmax"),
        shape=(14, 14, 1),
    ),  # fmt: skip
    "text_lstm": lambda: seq(
        L.Embedding(12, 4, mask_zero=True),
        L.LSTM(5),
        L.Dense(1, activation="sigmoid"),
        shape=(6,),
        dtype="int32",
    ),  # fmt: skip
    "functional_multi_input": multi_input,
}


def make_inputs(model, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for t in model.inputs:
        shape = (max(BATCHES),) + tuple(t.shape[1:])
        if np.dtype(t.dtype).kind in "iu":
            x = rng.integers(0, 10, shape).astype(t.dtype)
            if x.ndim == 2:
                x[0, :2] = 0  # some padding for the masked LSTM
            out.append(x)
        else:
            out.append(rng.standard_normal(shape).astype(t.dtype))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_stablehlo_matches_predict(name, tmp_path):
    model = randomize(MODELS[name](), seed=len(name))
    path = tmp_path / f"{name}.stablehlo"
    exported = export_model(model, path, format="stablehlo")
    mlir = (tmp_path / f"{name}.stablehlo.mlir").read_text()
    assert "stablehlo." in mlir and "tensor<?x" in mlir  # a dynamic batch dimension
    assert len(exported.in_avals) == len(model.inputs)
    inputs = make_inputs(model, seed=len(name))
    want = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    want = want if isinstance(want, (list, tuple)) else [want]
    fn = load_stablehlo(path)  # from the file alone: no model code needed
    for n in BATCHES:
        got = fn([x[:n] for x in inputs])
        got = got if isinstance(got, (list, tuple)) else [got]
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, np.asarray(w)[:n], rtol=1e-5, atol=1e-6)


def test_weights_are_baked_in(tmp_path):
    model = randomize(seq(L.Dense(2), shape=(3,)))
    x = np.ones((2, 3), "float32")
    export_stablehlo(model, tmp_path / "m.bin", mlir=False)
    before = model.predict(x, verbose=0)
    model.layers[0].kernel.assign(np.zeros((3, 2), "float32"))
    np.testing.assert_allclose(load_stablehlo(tmp_path / "m.bin")(x), before, rtol=1e-6)
    assert not (tmp_path / "m.bin.mlir").exists()


def test_input_signature_for_subclassed_model(tmp_path):
    class Net(shoal.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match=r"input_signature"):
        export_stablehlo(net, tmp_path / "net.bin")
    export_stablehlo(net, tmp_path / "net.bin", input_signature=[(None, 3)])
    fn = load_stablehlo(tmp_path / "net.bin")
    x = np.ones((4, 3), "float32")
    np.testing.assert_allclose(fn(x), net.predict(x, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match=r"expects 1 input"):
        fn(x, x)


def test_cli_command(tmp_path):
    import argparse

    from shoal.export.api import add_cli_parser

    parser = argparse.ArgumentParser()
    add_cli_parser(parser.add_subparsers(dest="command"))
    model = randomize(seq(L.Dense(3, activation="relu"), L.Dense(2), shape=(4,)))
    model.save(str(tmp_path / "m.keras"))
    args = parser.parse_args(["export", str(tmp_path / "m.keras"), str(tmp_path / "m.stablehlo")])
    assert args.func(args) == 0
    x = np.ones((3, 4), "float32")
    got = load_stablehlo(tmp_path / "m.stablehlo")(x)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert (tmp_path / "m.stablehlo.mlir").exists()
