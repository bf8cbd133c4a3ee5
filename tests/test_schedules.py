"""shoal.optimizers.schedules against Keras 3's learning-rate schedules."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

from shoal.optimizers import schedules as S

STEPS = [0, 1, 2, 3, 5, 9, 10, 11, 17, 30, 100]

CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5)),
    (
        "ExponentialDecay",
        dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.9, staircase=True),
    ),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5)),
    (
        "InverseTimeDecay",
        dict(initial_learning_rate=1.0, decay_steps=4, decay_rate=0.5, staircase=True),
    ),
    ("PiecewiseConstantDecay", dict(boundaries=[2, 10], values=[1.0, 0.5, 0.1])),
    ("PiecewiseConstantDecay", dict(boundaries=[5], values=[0.3, 0.03])),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10)),
    (
        "PolynomialDecay",
        dict(
            initial_learning_rate=0.1, decay_steps=7, end_learning_rate=0.01, power=2.0, cycle=True
        ),
    ),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20)),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1)),
    (
        "CosineDecay",
        dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.2, warmup_steps=5),
    ),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4)),
    (
        "CosineDecayRestarts",
        dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=1.0, m_mul=0.5, alpha=0.1),
    ),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=2, t_mul=3.0)),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_values_match_keras(name, kwargs):
    ours = getattr(S, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    # Keras' schedules use ops.cond, which recompiles on every eager call: jit it once.
    keras_at = jax.jit(theirs)
    expected = np.array([float(keras_at(jnp.int32(step))) for step in STEPS], "float32")
    eager = np.array([float(ours(step)) for step in STEPS], "float32")
    np.testing.assert_allclose(eager, expected, rtol=1e-6, atol=1e-8)
    # On a traced int32 step array, as inside a jitted train step.
    traced = jax.jit(jax.vmap(ours))(jnp.asarray(STEPS, "int32"))
    np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_config_round_trip_and_keras_serialization(name, kwargs):
    ours = getattr(S, name)(**kwargs)
    config = ours.get_config()
    assert type(ours).from_config(config).get_config() == config
    theirs = keras.optimizers.schedules.serialize(
        getattr(keras.optimizers.schedules, name)(**kwargs)
    )
    assert S.serialize(ours) == theirs
    assert S.deserialize(theirs).get_config() == config


@pytest.mark.parametrize(
    "make,pattern",
    [
        (lambda: S.ExponentialDecay(0.1, 0, 0.5), r"ExponentialDecay: argument 'decay_steps'.*0"),
        (lambda: S.PolynomialDecay(0.1, -5), r"PolynomialDecay: argument 'decay_steps'.*-5"),
        (lambda: S.CosineDecay(0.1, 10, warmup_steps=-1), r"'warmup_steps'.*-1"),
        (lambda: S.CosineDecayRestarts(0.1, 0), r"'first_decay_steps'.*0"),
        (lambda: S.PiecewiseConstantDecay([1, 2], [0.1, 0.2]), r"'boundaries'.*\[1, 2\]"),
        (lambda: S.deserialize({"class_name": "Nope", "config": {}}), r"'Nope'.*ExponentialDecay"),
    ],
)
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()
