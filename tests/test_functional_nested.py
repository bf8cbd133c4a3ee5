"""Functional models whose inputs and outputs nest (a dict of lists, a list of dicts,
tuples in tuples): calls, predict, fit / evaluate with targets and losses in the same
structure, configs and `.keras` files, compared with Keras 3.15."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import shoal

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

N = 4
A = np.full((N, 2), 0.1, "float32")
B = np.full((N, 3), 0.2, "float32")
C = np.full((N, 4), 0.3, "float32")
T1, T2, T3 = np.zeros((N, 1), "float32"), np.zeros((N, 2), "float32"), np.zeros((N, 3), "float32")

INPUTS = {
    # names match the keys where an Input sits directly under a key (Keras warns otherwise)
    "dict_of_list": (lambda a, b, c: {"x": [a, b], "c": c}, {"x": [A, B], "c": C}),
    "list_nested": (lambda a, b, c: [a, [b, c]], [A, [B, C]]),
    "tuple_nested": (lambda a, b, c: (a, (b, c)), (A, (B, C))),
    "list_of_dict": (lambda a, b, c: [a, {"b": b, "c": c}], [A, {"b": B, "c": C}]),
}
OUTPUTS = {
    "dict_of_list": (
        lambda o1, o2, o3: {"p": [o1, o2], "q": o3},
        {"p": [T1, T2], "q": T3},
        {"p": ["mse", "mae"], "q": "mse"},
    ),
    "list_of_dict": (
        lambda o1, o2, o3: [{"p": o1, "q": o2}, o3],
        [{"p": T1, "q": T2}, T3],
        [{"p": "mse", "q": "mae"}, "mse"],
    ),
    "tuple": (
        lambda o1, o2, o3: (o1, (o2, o3)),
        (T1, (T2, T3)),
        ("mse", ("mae", "mse")),
    ),
}


def _model(lib, inputs_kind, outputs_kind):
    a = lib.Input((2,), name="a")
    b = lib.Input((3,), name="b")
    c = lib.Input((4,), name="c")
    h = lib.layers.Concatenate()([a, b, c])
    outs = [
        lib.layers.Dense(units, name=f"o{units}", kernel_initializer="ones")(h)
        for units in (1, 2, 3)
    ]
    return lib.Model(INPUTS[inputs_kind][0](a, b, c), OUTPUTS[outputs_kind][0](*outs))


def _structure(value):
    """Containers and leaf shapes, to compare what two models return."""
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_structure(v) for v in value)
    return tuple(np.shape(value))


def _assert_same(ours, theirs):
    assert _structure(ours) == _structure(theirs)
    for p, q in zip(keras.tree.flatten(ours), keras.tree.flatten(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=1e-5, atol=1e-6)


COMBINATIONS = [
    ("dict_of_list", "dict_of_list"),
    ("list_nested", "list_of_dict"),
    ("tuple_nested", "tuple"),
    ("list_of_dict", "dict_of_list"),
]


@pytest.mark.parametrize("inputs_kind, outputs_kind", COMBINATIONS)
def test_call_and_predict_take_and_return_the_nested_structures(inputs_kind, outputs_kind):
    ours, theirs = (
        _model(shoal, inputs_kind, outputs_kind),
        _model(keras, inputs_kind, outputs_kind),
    )
    x = INPUTS[inputs_kind][1]
    _assert_same(ours(x), theirs(x))
    _assert_same(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


@pytest.mark.parametrize("inputs_kind, outputs_kind", COMBINATIONS)
def test_fit_and_evaluate_with_nested_targets_and_losses(inputs_kind, outputs_kind):
    _, y, loss = OUTPUTS[outputs_kind]
    x = INPUTS[inputs_kind][1]
    results = []
    for lib in (shoal, keras):
        model = _model(lib, inputs_kind, outputs_kind)
        model.compile(optimizer=lib.optimizers.SGD(0.01), loss=loss)
        history = model.fit(x, y, epochs=2, batch_size=2, shuffle=False, verbose=0)
        results.append(
            (
                history.history,
                model.evaluate(x, y, verbose=0),
                model.evaluate(x, y, verbose=0, return_dict=True),
                model.get_weights(),
            )
        )
    (h1, e1, d1, w1), (h2, e2, d2, w2) = results
    assert sorted(h1) == sorted(h2)  # per-output losses named by their path, as Keras
    for key in h2:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-4)
    np.testing.assert_allclose(e1, e2, rtol=1e-4)  # in Keras' order
    assert d1.keys() == d2.keys()
    for a, b in zip(w1, w2, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_nested_losses_weights_and_metrics_match_keras():
    x = [A, {"b": B, "c": C}]
    y = [{"p": T1, "q": T2}, T3]
    compile_args = dict(
        loss=[{"p": "mse", "q": "mae"}, "mse"],
        loss_weights=[{"p": 1.0, "q": 0.5}, 2.0],
        metrics=[{"p": ["mae"], "q": ["mse"]}, ["mae"]],
    )
    logs = []
    for lib in (shoal, keras):
        model = _model(lib, "list_of_dict", "list_of_dict")
        model.compile(optimizer=lib.optimizers.SGD(0.01), **compile_args)
        model.fit(x, y, epochs=1, batch_size=2, shuffle=False, verbose=0)
        logs.append(model.evaluate(x, y, verbose=0, return_dict=True))
    assert logs[0].keys() == logs[1].keys()
    assert {"0/p_loss", "0/q_loss", "o3_loss", "o1_mae", "o2_mse", "o3_mae"} <= set(logs[0])
    for key in logs[1]:
        np.testing.assert_allclose(logs[0][key], logs[1][key], rtol=1e-4)


def test_loss_for_some_outputs_only_and_one_loss_for_all():
    x, y = [A, [B, C]], {"p": [T1, T2], "q": T3}
    for loss in ({"p": ["mse", None], "q": "mse"}, "mse"):
        logs = []
        for lib in (shoal, keras):
            model = _model(lib, "list_nested", "dict_of_list")
            model.compile(optimizer="sgd", loss=loss)
            logs.append(model.evaluate(x, y, verbose=0, return_dict=True))
        assert logs[0].keys() == logs[1].keys()
        for key in logs[1]:
            np.testing.assert_allclose(logs[0][key], logs[1][key], rtol=1e-5)


def test_nested_loss_naming_an_unknown_output_is_an_error():
    model = _model(shoal, "list_nested", "dict_of_list")
    with pytest.raises(ValueError, match=r"`loss` has keys \['r'\].*outputs there are"):
        model.compile(optimizer="sgd", loss={"p": ["mse", "mse"], "r": "mse"})


@pytest.mark.parametrize("inputs_kind, outputs_kind", COMBINATIONS)
def test_config_round_trip_keeps_the_structures(inputs_kind, outputs_kind):
    ours, theirs = (
        _model(shoal, inputs_kind, outputs_kind),
        _model(keras, inputs_kind, outputs_kind),
    )
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert ours_config["input_layers"] == theirs_config["input_layers"]
    assert ours_config["output_layers"] == theirs_config["output_layers"]
    rebuilt = shoal.Model.from_config(ours_config)
    x = INPUTS[inputs_kind][1]
    _assert_same(rebuilt(x), theirs(x))
    assert type(rebuilt.output) is type(theirs.output)


def test_keras_file_round_trip_with_nested_compile(tmp_path):
    x, y = [A, {"b": B, "c": C}], [{"p": T1, "q": T2}, T3]
    model = _model(shoal, "list_of_dict", "list_of_dict")
    model.compile(optimizer="sgd", loss=[{"p": "mse", "q": "mae"}, "mse"])
    model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    path = str(tmp_path / "nested.keras")
    model.save(path)
    loaded = shoal.models.load_model(path)
    _assert_same(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' own warnings while loading
        theirs = keras.models.load_model(path)
    _assert_same(theirs.predict(x, verbose=0), model.predict(x, verbose=0))
