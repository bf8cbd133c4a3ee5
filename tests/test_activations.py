"""shoal.activations against keras.activations, and get/serialize/deserialize."""

import keras
import numpy as np
import pytest

from shoal import activations
from shoal.backend.symbolic import KerasTensor
from shoal.backend.variables import Variable

X = np.linspace(-3.0, 3.0, 24, dtype="float32").reshape(3, 8)
# sparsemax: Keras 3.15 is wrong when two or more entries are kept (tests/test_ops.py
# checks it against the simplex projection instead).
NAMES = [
    n for n in activations.__all__ if n not in ("get", "serialize", "deserialize", "sparsemax")
]
EXTRA_ARGS = {"threshold": (0.5, -1.0)}


@pytest.mark.parametrize("name", NAMES)
def test_matches_keras(name):
    args = EXTRA_ARGS.get(name, ())
    got = getattr(activations, name)(X, *args)
    want = getattr(keras.activations, name)(X, *args)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-6)
    assert got.dtype == want.dtype


@pytest.mark.parametrize(
    "kwargs",
    [
        {"negative_slope": 0.1},
        {"max_value": 2.0},
        {"max_value": 6},
        {"threshold": 1.0},
        {"threshold": -1.0},
        {"negative_slope": 0.2, "max_value": 1.5, "threshold": 0.5},
        {"negative_slope": 0.3, "threshold": -0.5},
    ],
)
def test_relu_options_match_keras(kwargs):
    got = activations.relu(X, **kwargs)
    want = keras.activations.relu(X, **kwargs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)


def test_argument_defaults_match_keras():
    assert activations.gelu(X).tolist() == keras.activations.gelu(X).tolist()  # exact, not tanh
    np.testing.assert_allclose(
        activations.softmax(X, axis=0), keras.activations.softmax(X, axis=0), rtol=1e-6
    )
    np.testing.assert_allclose(
        activations.elu(X, alpha=0.5), keras.activations.elu(X, alpha=0.5), rtol=1e-6
    )


def test_variables_and_symbolic_inputs():
    np.testing.assert_allclose(activations.relu(Variable(X)), np.maximum(X, 0))
    out = activations.relu(KerasTensor((None, 8)), max_value=1.0)
    assert isinstance(out, KerasTensor) and out.shape == (None, 8)
    assert activations.linear(X) is X


def test_get():
    assert activations.get(None) is activations.linear
    assert activations.get("relu") is activations.relu
    assert activations.get("swish") is activations.silu
    assert activations.get("hard_swish") is activations.hard_silu

    def custom(x):
        return x * 2

    assert activations.get(custom) is custom
    keras_config = keras.saving.serialize_keras_object(keras.activations.tanh)
    assert activations.get(keras_config) is activations.tanh


@pytest.mark.parametrize("name", NAMES)
def test_serialize_round_trip_matches_keras(name):
    fn = getattr(activations, name)
    assert activations.serialize(fn) == keras.activations.serialize(
        getattr(keras.activations, name)
    )
    assert activations.deserialize(activations.serialize(fn)) is fn


def test_serialize_custom_registered_function():
    from shoal.saving.serialization import register_keras_serializable

    @register_keras_serializable(package="test_activations")
    def doubled(x):
        return 2 * x

    config = activations.serialize(doubled)
    assert isinstance(config, dict) and config["class_name"] == "function"
    assert activations.deserialize(config) is doubled
    assert activations.get("test_activations>doubled") is doubled


@pytest.mark.parametrize("identifier", ["rellu", "Relu", 3, [1]])
def test_bad_identifiers_name_what_was_given(identifier):
    with pytest.raises(ValueError, match=repr(identifier).replace("[", r"\[").replace("]", r"\]")):
        activations.get(identifier)


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match=r"'rellu'.*Known names: .*relu, relu6"):
        activations.get("rellu")
