"""shoal.RematScope against Keras 3.15: which layers rematerialize their call (or their
activation) under each mode, where the scope is active, and unchanged gradients."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras.src.backend.common import remat as keras_remat  # noqa: E402

import shoal  # noqa: E402
from shoal.backend import remat_scope  # noqa: E402

X = np.linspace(-1.0, 1.0, 12, dtype="float32").reshape(3, 4)
SCOPES = [
    {"mode": "full"},
    {"mode": "activations"},
    {"mode": "larger_than", "output_size_threshold": 10},
    {"mode": "list_of_layers", "layer_names": ["wide", "relu"]},
    {"mode": None},
]


def _layers(lib):
    return [
        lib.layers.Dense(8, activation="relu", name="wide"),  # output 3 x 8 = 24
        lib.layers.Dense(3, name="narrow"),  # output 9
        lib.layers.Activation("relu", name="relu"),  # output 9
        lib.layers.Dense(2, activation="tanh", name="small"),  # output 6
    ]


def _keras_events(monkeypatch, scope):
    events = []
    original = keras_remat.remat

    def recording(f):
        owner = getattr(f, "__self__", None)
        events.append(("call", owner.name) if owner is not None else ("activation", None))
        return original(f)

    monkeypatch.setattr(keras_remat, "remat", recording)
    with keras.RematScope(**scope):
        layers = _layers(keras)
    return _run(layers, events, keras.ops.convert_to_numpy)


def _shoal_events(monkeypatch, scope):
    events = []
    original_call, original_remat = remat_scope.remat_call, remat_scope.remat

    def recording_call(f, args, kwargs):
        events.append(("call", f.__self__.name))
        return original_call(f, args, kwargs)

    def recording_remat(f):
        events.append(("activation", None))
        return original_remat(f)

    monkeypatch.setattr(remat_scope, "remat_call", recording_call)
    monkeypatch.setattr(remat_scope, "remat", recording_remat)
    with shoal.RematScope(**scope):
        layers = _layers(shoal)
    return _run(layers, events, np.asarray)


def _run(layers, events, to_numpy):
    seen, x = {}, X
    for layer in layers:
        events.clear()
        x = layer(x)
        seen[layer.name] = sorted({(kind, name is not None) for kind, name in events})
    return seen, to_numpy(x)


@pytest.mark.parametrize("scope", SCOPES, ids=[str(s["mode"]) for s in SCOPES])
def test_rematerialized_layers_equal_keras(monkeypatch, scope):
    ours, our_out = _shoal_events(monkeypatch, scope)
    theirs, _ = _keras_events(monkeypatch, scope)
    assert ours == theirs
    assert any(ours.values()) == (scope["mode"] is not None)


def test_scope_taken_at_creation_and_nesting_equal_keras():
    for lib, current in (
        (keras, keras_remat.get_current_remat_mode),
        (shoal, remat_scope.get_current_remat_mode),
    ):
        assert current() is None
        with lib.RematScope(mode="full") as outer:
            assert current() == ("full", 1024, [])
            inner_layer = None
            with lib.RematScope(mode="larger_than", output_size_threshold=5):
                assert tuple(current()) == ("larger_than", 5, [])
                inner_layer = lib.layers.Dense(2)
            assert current().mode == "full"
            outer_layer = lib.layers.Dense(2)
        assert current() is None and outer.mode == "full"
        assert inner_layer._remat_mode.mode == "larger_than"
        assert outer_layer._remat_mode.mode == "full"
        assert lib.layers.Dense(2)._remat_mode is None
    with pytest.raises(ValueError, match="'mode'.*'everything'"):
        shoal.RematScope(mode="everything")
    with pytest.raises(ValueError):
        keras.RematScope(mode="everything")
    with pytest.raises(ValueError, match="'layer_names'"):
        shoal.RematScope(mode="list_of_layers", layer_names="dense")


def _grads(layers, x):
    variables = [v for layer in layers for v in layer.trainable_variables]

    def loss(values):
        h = x
        for layer in layers:
            own = layer.trainable_variables
            h, _ = layer.stateless_call(values[: len(own)], [], h)
            values = values[len(own) :]
        return (h**2).sum()

    values = [v.value for v in variables]
    return jax.grad(loss)(values), str(jax.make_jaxpr(jax.grad(loss))(values))


@pytest.mark.parametrize("mode", ["full", "activations"])
def test_gradients_unchanged_and_checkpointed(mode):
    def build():
        layers = [
            shoal.layers.Dense(5, activation="gelu", name="a"),
            shoal.layers.Dense(2, name="b"),
        ]
        for layer in layers:
            layer.build((3, 4) if layer.name == "a" else (3, 5))
        return layers

    plain = build()
    with shoal.RematScope(mode=mode):
        rematted = build()
    for p, r in zip(plain, rematted, strict=True):
        r.set_weights(p.get_weights())
    g_plain, jaxpr_plain = _grads(plain, X)
    g_remat, jaxpr_remat = _grads(rematted, X)
    for a, b in zip(g_plain, g_remat, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert "remat" not in jaxpr_plain and "remat" in jaxpr_remat


def test_python_arguments_stay_static_under_full_remat():
    # training=True reaches Dropout's call as a Python bool (Keras would trace it).
    with shoal.RematScope(mode="full"):
        drop = shoal.layers.Dropout(0.5, seed=1)
    out = jax.jit(lambda x: drop(x, training=True))(np.ones((2, 8), "float32"))
    assert set(np.unique(np.asarray(out))) <= {0.0, 2.0}
    np.testing.assert_array_equal(drop(np.ones((2, 3), "float32"), training=False), 1.0)


def test_functional_model_under_scope_trains():
    with shoal.RematScope(mode="full"):
        inputs = shoal.Input((4,))
        outputs = shoal.layers.Dense(1)(shoal.layers.Dense(3, activation="relu")(inputs))
        model = shoal.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(X, X[:, :1], epochs=2, batch_size=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
