"""shoal.Function and shoal.SymbolicScope against keras.Function / keras.SymbolicScope
(Keras 3.15, JAX backend)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras.src.backend.common import symbolic_scope as keras_symbolic_scope  # noqa: E402

import shoal  # noqa: E402
from shoal.backend import symbolic_scope  # noqa: E402

RNG = np.random.default_rng(0)
A = RNG.normal(size=(4, 2, 3)).astype("float32")
B = RNG.normal(size=(4, 2, 3)).astype("float32")


def _ops_function(lib):
    a = lib.KerasTensor(shape=(None, 2, 3))
    b = lib.KerasTensor(shape=(None, 2, 3))
    s = lib.ops.sigmoid(a + b)
    out = {"prod": s * a, "sum": lib.ops.sum(s, axis=-1), "b": b}
    return lib.Function(inputs=[a, b], outputs=out, name="fn")


def test_ops_graph_values_shapes_and_specs_equal_keras():
    ours, theirs = _ops_function(shoal), _ops_function(keras)
    got, want = ours([A, B]), theirs([A, B])
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-6)
    assert ours.name == "fn" and len(ours.inputs) == 2 and len(ours.outputs) == 3
    assert isinstance(ours, shoal.Operation) and not isinstance(ours, shoal.Layer)
    shapes = [(5, 2, 3), (5, 2, 3)]
    assert ours.compute_output_shape(shapes) == theirs.compute_output_shape(shapes)
    for lib, fn in ((shoal, ours), (keras, theirs)):
        spec = fn.compute_output_spec([lib.KerasTensor((7, 2, 3)), lib.KerasTensor((7, 2, 3))])
        assert spec["sum"].shape == (7, 2) and spec["prod"].dtype == "float32"
    symbolic = ours([shoal.KerasTensor((None, 2, 3)), shoal.KerasTensor((None, 2, 3))])
    assert symbolic["prod"].shape == (None, 2, 3)


def _layer_function(lib):
    x = lib.Input((3,), name="x")
    y = lib.Input((3,), name="y")
    dense = lib.layers.Dense(2, name="d")
    out = dense(x) + y[:, :2]
    return lib.Function({"x": x, "y": y}, [out, lib.ops.relu(out)]), dense


def test_layer_graph_with_dict_inputs_equal_keras():
    (ours, our_dense), (theirs, their_dense) = _layer_function(shoal), _layer_function(keras)
    our_dense.set_weights([np.asarray(w) for w in their_dense.get_weights()])
    x, y = A[:, 0], B[:, 1]
    got, want = ours({"x": x, "y": y}), theirs({"x": x, "y": y})
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-6)
    assert [op.name for op in ours.operations][:3] == ["x", "y", "d"]


@pytest.mark.parametrize(
    "bad,match",
    [
        (lambda lib: A, "structure"),
        (lambda lib: [A[:, :1], B], "shape"),
        (lambda lib: [A[0], B[0]], "shape"),
    ],
)
def test_incompatible_inputs_raise_value_errors_as_keras(bad, match):
    with pytest.raises(ValueError, match=match):
        _ops_function(shoal)(bad(shoal))
    with pytest.raises(ValueError):
        _ops_function(keras)(bad(keras))


def test_bad_graphs_raise_value_errors_as_keras():
    for lib in (shoal, keras):
        a = lib.KerasTensor(shape=(None, 3))
        b = lib.KerasTensor(shape=(None, 3))
        out = lib.ops.add(a, b)
        with pytest.raises(ValueError, match="inputs"):
            lib.Function([], out)
        with pytest.raises(ValueError, match="[Dd]isconnected"):
            lib.Function([a], out)
    c = shoal.KerasTensor(shape=(None, 3))
    with pytest.raises(ValueError, match="not connected"):
        shoal.Function([c], shoal.KerasTensor(shape=(None, 3)))
    with pytest.raises(ValueError, match="'outputs'.*KerasTensors"):
        shoal.Function([c], [np.zeros(3)])


def test_symbolic_scope_active_as_keras():
    for lib, active in (
        (shoal, symbolic_scope.in_symbolic_scope),
        (keras, keras_symbolic_scope.in_symbolic_scope),
    ):
        assert not active()
        with lib.SymbolicScope() as scope:
            assert active() and isinstance(scope, lib.SymbolicScope)
            with lib.SymbolicScope():
                assert active()
            assert active()
        assert not active()
    seen = []

    class Probe(shoal.Layer):
        def call(self, x):
            seen.append(symbolic_scope.in_symbolic_scope())
            return x

    probe = Probe()
    probe(shoal.Input((2,)))  # output-shape inference: the symbolic stage, as Keras
    probe(np.zeros((1, 2), "float32"))
    # (shoal traces unknown sizes twice, so the symbolic call may run more than once)
    assert seen[-1] is False and len(seen) >= 2 and all(seen[:-1])
