"""Functional models: graph building, errors, and configs in Keras 3's format."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

import shoal
from shoal import layers
from shoal.models import Functional, Model, Sequential
from shoal.saving import model_from_json

keras = pytest.importorskip("keras")


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def _dense(layer, x):
    w, b = (np.asarray(v.value) for v in layer.weights)
    return x @ w + b


# -- building and running -----------------------------------------------------------------------


def test_multi_input_multi_output():
    a, b = shoal.Input((3,), name="a"), shoal.Input((2,), name="b")
    da, db = layers.Dense(4, name="da"), layers.Dense(4, name="db")
    merged = layers.Add(name="add")([da(a), db(b)])
    out1 = layers.Dense(1, name="o1")(merged)
    out2 = layers.Dense(2, name="o2")(merged)
    model = Model([a, b], [out1, out2])
    assert isinstance(model, Functional)
    assert model.input_names == ["a", "b"] and model.output_names == ["o1", "o2"]
    xa, xb = _x(5, 3), _x(5, 2, seed=1)
    y1, y2 = model([xa, xb])
    m = _dense(da, xa) + _dense(db, xb)
    _close(y1, _dense(model.get_layer("o1"), m))
    _close(y2, _dense(model.get_layer("o2"), m))
    assert [layer.name for layer in model.layers] == ["a", "b", "da", "db", "add", "o1", "o2"]


def test_dict_inputs_and_outputs():
    a, b = shoal.Input((3,), name="a"), shoal.Input((3,), name="b")
    model = Model({"a": a, "b": b}, {"sum": layers.Add()([a, b]), "neg": layers.Dense(2)(a)})
    xa, xb = _x(2, 3), _x(2, 3, seed=1)
    out = model({"a": xa, "b": xb})
    assert set(out) == {"sum", "neg"}
    _close(out["sum"], xa + xb)
    with pytest.raises(ValueError, match="keys"):
        model({"a": xa})


def test_shared_layer_branches_and_merge():
    inp = shoal.Input((4,))
    shared = layers.Dense(4, name="shared")
    left = shared(inp)
    right = shared(layers.Dense(4, name="pre")(inp))
    twice = shared(left)
    out = layers.Concatenate()([left, right, twice])
    model = Model(inp, out)
    assert len(shared._inbound_nodes) == 3
    x = _x(2, 4)
    l1 = _dense(shared, x)
    r1 = _dense(shared, _dense(model.get_layer("pre"), x))
    _close(model(x), np.concatenate([l1, r1, _dense(shared, l1)], axis=-1))
    assert len(model.weights) == 4  # the shared layer's weights count once


def test_nested_models_as_layers():
    inner_in = shoal.Input((3,))
    inner = Model(inner_in, layers.Dense(2, name="inner_d")(inner_in), name="inner")
    seq = Sequential([shoal.Input((2,)), layers.Dense(2, name="seq_d")], name="seq")
    inp = shoal.Input((3,))
    out = seq(inner(inp))
    model = Model(inp, out)
    x = _x(4, 3)
    _close(model(x), seq(inner(x)))
    assert [layer.name for layer in model.layers][1:] == ["inner", "seq"]
    assert len(model.weights) == 4


def test_disconnected_graph_is_an_error():
    a, b = shoal.Input((3,), name="a"), shoal.Input((3,), name="b")
    out = layers.Add()([a, b])
    with pytest.raises(ValueError, match="disconnected.*'b'"):
        Model(a, out)


def test_non_tensor_inputs_or_outputs_are_errors():
    inp = shoal.Input((3,))
    with pytest.raises(ValueError, match="outputs.*ndarray"):
        Model(inp, np.zeros((1, 3)))
    with pytest.raises(ValueError, match="inputs"):
        Model([inp, 3], layers.Dense(1)(inp))
    hidden = layers.Dense(2)(inp)
    # An intermediate tensor is a valid input (see test_intermediate_tensors_as_inputs_...),
    # but the outputs must be computable from the inputs given.
    with pytest.raises(ValueError, match="graph disconnected"):
        Model(hidden, layers.Dense(1)(inp))


# -- configs -----------------------------------------------------------------------------------


def _build_reference(lib):
    L = lib.layers
    a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    shared = L.Dense(4, name="shared")
    inner_in = lib.Input((4,), name="inner_in")
    inner = lib.Model(inner_in, L.Dense(3, name="inner_d")(inner_in), name="inner")
    h = shared(shared(a))
    cat = L.Concatenate(name="cat")([inner(h), b])
    return lib.Model({"a": a, "b": b}, [L.Dense(1, name="o1")(cat), inner(a)], name="ref")


def _strip(config):
    """The parts of a functional config both libraries must agree on."""
    out = {k: config[k] for k in ("name", "trainable", "input_layers", "output_layers")}
    out["layers"] = [
        {
            "class_name": entry["class_name"],
            "module": entry["module"],
            "name": entry["name"],
            "inbound_nodes": entry["inbound_nodes"],
        }
        for entry in config["layers"]
    ]
    return json.loads(json.dumps(out))


def test_config_matches_keras_format():
    ours = _build_reference(shoal).get_config()
    theirs = _build_reference(keras).get_config()
    assert _strip(ours) == _strip(theirs)


@pytest.mark.parametrize("kind", ["single", "list", "dict"])
def test_input_and_output_layers_formats_match_keras(kind):
    def build(lib):
        a = lib.Input((2,), name="a")
        out = lib.layers.Dense(1, name="d")(a)
        if kind == "single":
            return lib.Model(a, out)
        if kind == "list":
            return lib.Model([a], [out])
        return lib.Model({"a": a}, {"d": out})

    ours, theirs = build(shoal).get_config(), build(keras).get_config()
    assert json.loads(json.dumps(ours["input_layers"])) == theirs["input_layers"]
    assert json.loads(json.dumps(ours["output_layers"])) == theirs["output_layers"]


def test_get_config_from_config_round_trip():
    model = _build_reference(shoal)
    config = model.get_config()
    rebuilt = Functional.from_config(copy.deepcopy(config))
    assert json.loads(json.dumps(rebuilt.get_config())) == json.loads(json.dumps(config))
    rebuilt.set_weights(model.get_weights())
    x = {"a": _x(2, 4), "b": _x(2, 3, seed=1)}
    for p, q in zip(rebuilt(x), model(x), strict=True):
        _close(p, q)
    # Model.from_config dispatches to Functional for functional configs.
    assert isinstance(Model.from_config(copy.deepcopy(config)), Functional)


def test_from_keras_config():
    kmodel = _build_reference(keras)
    ours = Functional.from_config(kmodel.get_config())
    assert [layer.name for layer in ours.layers] == [layer.name for layer in kmodel.layers]
    ours.set_weights([np.asarray(w) for w in kmodel.get_weights()])
    x = {"a": _x(2, 4), "b": _x(2, 3, seed=1)}
    for p, q in zip(ours(x), kmodel(x), strict=True):
        _close(p, q)


def test_shared_layer_at_different_depths_from_config():
    # A(B(A(x))): the second node of A needs B's node, which needs A's first node.
    inp = shoal.Input((3,))
    dense_a, dense_b = layers.Dense(3, name="A"), layers.Dense(3, name="B")
    model = Model(inp, dense_a(dense_b(dense_a(inp))))
    config = model.get_config()
    config["layers"] = list(reversed(config["layers"]))  # order must not matter
    rebuilt = Functional.from_config(config)
    rebuilt.set_weights(model.get_weights())
    x = _x(2, 3)
    _close(rebuilt(x), model(x))


def test_to_json_model_from_json():
    model = _build_reference(shoal)
    text = model.to_json()
    assert json.loads(text)["class_name"] == "Functional"
    rebuilt = model_from_json(text)
    assert isinstance(rebuilt, Functional)
    assert rebuilt.to_json() == text
    seq = Sequential([shoal.Input((3,)), layers.Dense(2)])
    assert isinstance(model_from_json(seq.to_json()), Sequential)


def test_bad_configs_name_the_problem():
    inp = shoal.Input((3,), name="inp")
    hidden = layers.Dense(3, name="hidden")(inp)
    model = Model(inp, layers.Dense(2, name="out")(hidden))
    config = model.get_config()

    unknown_layer = copy.deepcopy(config)
    history = unknown_layer["layers"][2]["inbound_nodes"][0]["args"][0]["config"]
    history["keras_history"] = ["ghost", 0, 0]
    with pytest.raises(ValueError, match="'out'.*unknown layer 'ghost'"):
        Functional.from_config(unknown_layer)

    unknown_node = copy.deepcopy(config)
    history = unknown_node["layers"][2]["inbound_nodes"][0]["args"][0]["config"]
    history["keras_history"] = ["hidden", 5, 0]
    with pytest.raises(ValueError, match="node 5 of layer 'hidden'"):
        Functional.from_config(unknown_node)

    cycle = copy.deepcopy(config)
    hidden_in = cycle["layers"][1]["inbound_nodes"][0]["args"][0]["config"]
    hidden_in["keras_history"] = ["out", 0, 0]
    with pytest.raises(ValueError, match="cycle"):
        Functional.from_config(cycle)

    bad_output = copy.deepcopy(config)
    bad_output["output_layers"] = ["nowhere", 0, 0]
    with pytest.raises(ValueError, match="'nowhere'"):
        Functional.from_config(bad_output)

    missing = {k: v for k, v in config.items() if k != "input_layers"}
    with pytest.raises(ValueError, match="input_layers"):
        Functional.from_config(missing)

    unknown_class = copy.deepcopy(config)
    unknown_class["layers"][1]["class_name"] = "Mystery"
    with pytest.raises(ValueError, match="'Mystery'.*register_keras_serializable"):
        Functional.from_config(unknown_class)


def test_keras_graph_ops_config_rebuilds():
    a = keras.Input((4,), name="a")
    h = keras.layers.Dense(3, name="d")(a)
    kmodel = keras.Model(a, keras.ops.reshape(h * 2.0 + a[:, :3], (-1, 3, 1)))
    ours = Functional.from_config(kmodel.get_config())
    assert ours.output.shape == (None, 3, 1)
    assert [entry["class_name"] for entry in ours.get_config()["layers"]] == [
        entry["class_name"] for entry in kmodel.get_config()["layers"]
    ]


def test_layer_input_and_output_build_feature_extractors():
    """`layer.input` / `layer.output` are the tensors of its first symbolic call, as in
    Keras: a sub-model from any layer's output, in Functional and Sequential models."""
    inputs = shoal.Input((4,), name="x")
    hidden = layers.Dense(3, name="hidden")
    h = hidden(inputs)
    shared_out = hidden(layers.Dense(4)(h))  # a second call: `output` stays the first's
    model = shoal.Model(inputs, layers.Dense(2)(shared_out))
    assert hidden.input is inputs and hidden.output is h
    assert model.get_layer("x").output is inputs
    x = np.random.default_rng(0).standard_normal((5, 4)).astype("float32")
    features = shoal.Model(model.input, model.get_layer("hidden").output)
    np.testing.assert_allclose(
        features.predict(x, verbose=0),
        x @ hidden.kernel.numpy() + hidden.bias.numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    merged = layers.Concatenate()([h, inputs])
    assert merged._keras_history[0].input == [h, inputs]

    sequential = shoal.Sequential([shoal.Input((4,)), layers.Dense(3, name="a"), layers.Dense(2)])
    assert sequential.output.shape == (None, 2)
    extractor = shoal.Model(sequential.input, sequential.get_layer("a").output)
    assert extractor.predict(x, verbose=0).shape == (5, 3)

    with pytest.raises(AttributeError, match="never been called on symbolic tensors"):
        getattr(layers.Dense(2), "output")  # noqa: B009
    with pytest.raises(AttributeError, match="has no input yet"):
        getattr(shoal.Sequential([layers.Dense(2)]), "input")  # noqa: B009


def test_intermediate_tensors_as_inputs_share_the_layers():
    """Keras: an intermediate tensor given as an input becomes a new Input, and the layers
    after it are reused (weights shared with the larger model)."""
    a = shoal.Input((4,), name="a")
    b = shoal.Input((2,), name="b")
    h = shoal.layers.Dense(3, name="h")(a)
    joined = shoal.layers.concatenate([h, b], name="joined")
    out = shoal.layers.Dense(1, name="out")(joined)
    full = shoal.Model([a, b], out)
    head = shoal.Model([h, b], out)
    assert [layer.name for layer in head.layers][-2:] == ["joined", "out"]
    assert head.input_shape == [(None, 3), (None, 2)]
    assert len(head.weights) == 2 and head.weights[0] is full.get_layer("out").kernel
    rng = np.random.default_rng(0)
    x_a, x_b = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 2)).astype("float32")
    hidden = np.asarray(full.get_layer("h")(x_a))
    np.testing.assert_allclose(
        head.predict([hidden, x_b], verbose=0),
        full.predict([x_a, x_b], verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    head.compile("sgd", "mse")
    head.fit([hidden, x_b], np.zeros((5, 1)), epochs=1, verbose=0)
    np.testing.assert_allclose(
        head.predict([hidden, x_b], verbose=0),
        full.predict([x_a, x_b], verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="graph disconnected"):
        shoal.Model(h, out)  # `b` is needed too
