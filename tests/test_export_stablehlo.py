"""StableHLO export: one `jax.export` artifact runs at any batch size and equals predict."""

from __future__ import annotations

import numpy as np
import pytest
from export_cases import (
    cheap_initializers,  # noqa: F401  (autouse fixture)
    cli_parser,
    functional_multi_input,
    make_inputs,
    mlp,
    randomize,
    seq,
    small_mnist_convnet,
    subclassed_model,
    text_lstm,
)

from shoal import layers as L
from shoal.export import export_model, export_stablehlo, load_stablehlo

BATCHES = (2, 5)

MODELS = {
    "mlp": mlp,
    "mnist_convnet": small_mnist_convnet,
    "text_lstm": lambda: text_lstm(mask_zero=True),
    "functional_multi_input": lambda: functional_multi_input(custom=True),  # a custom layer
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_stablehlo_matches_predict(name, tmp_path):
    model = randomize(MODELS[name](), seed=len(name))
    path = tmp_path / f"{name}.stablehlo"
    exported = export_model(model, path, format="stablehlo")
    mlir = (tmp_path / f"{name}.stablehlo.mlir").read_text()
    assert "stablehlo." in mlir and "tensor<?x" in mlir  # a dynamic batch dimension
    assert len(exported.in_avals) == len(model.inputs)
    inputs = make_inputs(model, max(BATCHES), seed=len(name))
    for x in inputs:
        if x.dtype.kind in "iu" and x.ndim == 2:
            x[0, :2] = 0  # some padding for the masked LSTM
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
    net = subclassed_model()
    with pytest.raises(ValueError, match=r"input_signature"):
        export_stablehlo(net, tmp_path / "net.bin")
    export_stablehlo(net, tmp_path / "net.bin", input_signature=[(None, 3)])
    fn = load_stablehlo(tmp_path / "net.bin")
    x = np.ones((4, 3), "float32")
    np.testing.assert_allclose(fn(x), net.predict(x, verbose=0), rtol=1e-5)
    with pytest.raises(ValueError, match=r"expects 1 input"):
        fn(x, x)


def test_cli_command(tmp_path):
    parser = cli_parser()
    model = randomize(seq(L.Dense(3, activation="relu"), L.Dense(2), shape=(4,)))
    model.save(str(tmp_path / "m.keras"))
    args = parser.parse_args(["export", str(tmp_path / "m.keras"), str(tmp_path / "m.stablehlo")])
    assert args.func(args) == 0
    x = np.ones((3, 4), "float32")
    got = load_stablehlo(tmp_path / "m.stablehlo")(x)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert (tmp_path / "m.stablehlo.mlir").exists()
