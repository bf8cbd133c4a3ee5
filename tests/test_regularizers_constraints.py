"""shoal.regularizers and shoal.constraints against Keras, and their lookup functions."""

import keras
import numpy as np
import pytest

from shoal import constraints, regularizers
from shoal.backend.variables import Variable

W = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
K = np.random.default_rng(1).normal(size=(3, 3, 2, 5)).astype("float32")

REGULARIZERS = [
    ("L1", {}),
    ("L1", {"l1": 0.3}),
    ("L2", {}),
    ("L2", {"l2": 1.5}),
    ("L1L2", {"l1": 0.1, "l2": 0.2}),
    ("L1L2", {"l2": 0.1}),
    ("L1L2", {}),
    ("OrthogonalRegularizer", {}),
    ("OrthogonalRegularizer", {"factor": 0.5, "mode": "columns"}),
]


@pytest.mark.parametrize("name,kwargs", REGULARIZERS)
def test_regularizer_values_match_keras(name, kwargs):
    got = getattr(regularizers, name)(**kwargs)(W)
    want = getattr(keras.regularizers, name)(**kwargs)(keras.ops.convert_to_tensor(W))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)
    assert np.asarray(got).dtype == np.float32 and np.ndim(got) == 0


@pytest.mark.parametrize("name,kwargs", REGULARIZERS)
def test_regularizer_config_round_trip(name, kwargs):
    reg = getattr(regularizers, name)(**kwargs)
    config = regularizers.serialize(reg)
    want = keras.regularizers.serialize(getattr(keras.regularizers, name)(**kwargs))
    assert config.keys() == want.keys() and config["class_name"] == want["class_name"]
    assert config["module"] == "keras.regularizers" and config["registered_name"] is None
    for key, value in want["config"].items():  # Keras stores some factors as float32
        if isinstance(value, str):
            assert config["config"][key] == value
        else:
            assert config["config"][key] == pytest.approx(value, rel=1e-6)
    restored = regularizers.deserialize(config)
    assert type(restored) is type(reg) and restored.get_config() == reg.get_config()
    assert type(keras.regularizers.deserialize(config)).__name__ == name


def test_regularizer_numerics_and_defaults():
    np.testing.assert_allclose(regularizers.L2()(W), 0.01 * np.sum(W**2), rtol=1e-6)
    np.testing.assert_allclose(
        regularizers.L1(0.5)(Variable(W)), 0.5 * np.sum(np.abs(W)), rtol=1e-6
    )
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1").get_config() == {"l1": 0.01}
    assert regularizers.get("L1L2").get_config() == {"l1": 0.0, "l2": 0.0}  # as Keras
    assert regularizers.get("l1_l2").get_config() == {"l1": 0.01, "l2": 0.01}  # as documented
    assert regularizers.get(None) is None
    reg = regularizers.L2(0.1)
    assert regularizers.get(reg) is reg
    assert isinstance(regularizers.get(regularizers.L1), regularizers.L1)
    assert regularizers.get({"class_name": "L2", "config": {"l2": 0.2}}).l2 == 0.2
    assert regularizers.L2(l2=None).l2 == 0.01


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: regularizers.L2(-1.0),
            r"L2: argument 'l2' must be a non-negative float, got -1\.0",
        ),
        (lambda: regularizers.L1(float("nan")), r"L1: argument 'l1'.*got nan"),
        (lambda: regularizers.L1L2(l1="big"), r"L1L2: argument 'l1'.*got 'big'"),
        (lambda: regularizers.OrthogonalRegularizer(mode="diag"), r"argument 'mode'.*got 'diag'"),
        (lambda: regularizers.OrthogonalRegularizer()(K), r"rank 2, got shape \(3, 3, 2, 5\)"),
        (
            lambda: regularizers.get("l3"),
            r"Unknown regularizer identifier 'l3'. Known names:.*l1_l2",
        ),
        (lambda: regularizers.get(0.01), r"regularizer identifier 0\.01 of type float"),
    ],
)
def test_regularizer_errors_name_what_was_given(call, message):
    with pytest.raises(ValueError, match=message):
        call()


CONSTRAINTS = [
    ("MaxNorm", {}, W),
    ("MaxNorm", {"max_value": 1.0, "axis": [0, 1, 2]}, K),
    ("MinMaxNorm", {}, W),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 2.0, "rate": 0.5, "axis": 1}, W),
    ("NonNeg", {}, W),
    ("UnitNorm", {}, W),
    ("UnitNorm", {"axis": [0, 1, 2]}, K),
]


@pytest.mark.parametrize("name,kwargs,w", CONSTRAINTS)
def test_constraint_values_match_keras(name, kwargs, w):
    got = getattr(constraints, name)(**kwargs)(Variable(w))
    want = getattr(keras.constraints, name)(**kwargs)(w)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name,kwargs,w", CONSTRAINTS)
def test_constraint_config_round_trip(name, kwargs, w):
    con = getattr(constraints, name)(**kwargs)
    config = constraints.serialize(con)
    assert config == keras.constraints.serialize(getattr(keras.constraints, name)(**kwargs))
    restored = constraints.deserialize(config)
    assert type(restored) is type(con) and restored.get_config() == con.get_config()


def test_constraint_get():
    assert constraints.get(None) is None
    for name in ("max_norm", "min_max_norm", "non_neg", "unit_norm", "MaxNorm", "NonNeg"):
        assert type(constraints.get(name)).__name__ == type(keras.constraints.get(name)).__name__
    con = constraints.NonNeg()
    assert constraints.get(con) is con

    def clip(w):
        return np.clip(w, -1, 1)

    assert constraints.get(clip) is clip
    assert constraints.Constraint()(W) is W
    with pytest.raises(
        ValueError, match=r"Unknown constraint identifier 'maxnorm'. Known names:.*max_norm"
    ):
        constraints.get("maxnorm")
    with pytest.raises(ValueError, match=r"constraint identifier 2 of type int"):
        constraints.get(2)
