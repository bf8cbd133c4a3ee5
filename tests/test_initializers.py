"""shoal.initializers: shapes, statistics, seeds, Keras parity and config round trips."""

import jax
import keras
import numpy as np
import pytest
from keras.src.initializers.random_initializers import compute_fans as keras_compute_fans

from shoal import initializers

RANDOM = [
    "RandomNormal", "TruncatedNormal", "RandomUniform", "VarianceScaling", "GlorotUniform",
    "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal",
]  # fmt: skip
ALL = RANDOM + ["Zeros", "Ones", "Constant", "Identity"]


@pytest.mark.parametrize("name", ALL)
def test_shape_and_dtype(name):
    init = getattr(initializers, name)()
    shape = (3, 5)
    value = init(shape)
    assert isinstance(value, jax.Array) and value.shape == shape and value.dtype == np.float32
    assert init(shape, dtype="bfloat16").dtype == jax.numpy.bfloat16


@pytest.mark.parametrize(
    "name,shape",
    [(n, (2, 2, 4, 3)) for n in RANDOM] + [("Orthogonal", (3, 5)), ("GlorotNormal", (3, 5))],
)
def test_seeded_values_equal_keras(name, shape):
    mine = getattr(initializers, name)(seed=42)(shape)
    theirs = getattr(keras.initializers, name)(seed=42)(shape)
    np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
        {"scale": 0.5, "mode": "fan_avg", "distribution": "untruncated_normal"},
        {"mode": "fan_in", "distribution": "normal"},
        {"input_axes": [0, 1], "output_axes": [3]},
    ],
)
def test_variance_scaling_options_equal_keras(kwargs):
    mine = initializers.VarianceScaling(seed=3, **kwargs)((2, 2, 4, 3))
    theirs = keras.initializers.VarianceScaling(seed=3, **kwargs)((2, 2, 4, 3))
    np.testing.assert_allclose(np.asarray(mine), np.asarray(theirs), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape", [(7,), (4, 6), (3, 3, 8, 16), (2, 2, 2, 4, 5), ()])
def test_compute_fans_match_keras(shape):
    assert initializers.compute_fans(shape) == keras_compute_fans(shape)


@pytest.mark.parametrize(
    "name,scale,mode,distribution",
    [
        ("GlorotUniform", 1.0, "fan_avg", "uniform"),
        ("GlorotNormal", 1.0, "fan_avg", "truncated_normal"),
        ("HeNormal", 2.0, "fan_in", "truncated_normal"),
        ("LecunUniform", 1.0, "fan_in", "uniform"),
    ],
)
def test_variance_scaling_statistics(name, scale, mode, distribution):
    shape = (3, 3, 32, 64)  # conv kernel: fans include the receptive field
    fan_in, fan_out = 3 * 3 * 32, 3 * 3 * 64
    fan = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    expected_std = np.sqrt(scale / fan)
    mine = np.asarray(getattr(initializers, name)()(shape))
    theirs = np.asarray(getattr(keras.initializers, name)()(shape))
    for sample in (mine, theirs):
        assert abs(sample.mean()) < 0.05 * expected_std * 10
        np.testing.assert_allclose(sample.std(), expected_std, rtol=0.03)
    np.testing.assert_allclose(mine.std(), theirs.std(), rtol=0.05)
    bound = np.sqrt(3) * expected_std if distribution == "uniform" else 2 * expected_std / 0.8796
    assert np.abs(mine).max() <= bound * (1 + 1e-6)


def test_orthogonal_is_orthogonal():
    for shape in [(4, 6), (6, 4), (3, 2, 5)]:
        q = np.asarray(initializers.Orthogonal(gain=2.0)(shape)).reshape(-1, shape[-1])
        small = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(small, 4.0 * np.eye(small.shape[0]), atol=1e-4)


def test_seeds():
    seeded = initializers.GlorotUniform(seed=1)
    np.testing.assert_array_equal(seeded((3, 4)), seeded((3, 4)))  # deterministic per instance
    np.testing.assert_array_equal(seeded((3, 4)), initializers.GlorotUniform(seed=1)((3, 4)))
    assert not np.allclose(seeded((3, 4)), initializers.GlorotUniform(seed=2)((3, 4)))
    unseeded = initializers.RandomNormal()
    assert not np.allclose(unseeded((3, 4)), unseeded((3, 4)))  # a fresh key per call
    from shoal.random import SeedGenerator

    streamed = initializers.RandomUniform(seed=SeedGenerator(3))
    assert not np.allclose(streamed((3, 4)), streamed((3, 4)))  # a generator: new values per call
    assert streamed.get_config()["seed"] == 3
    again = initializers.RandomUniform(seed=SeedGenerator(3))
    np.testing.assert_array_equal(
        again((2,)), initializers.RandomUniform(seed=SeedGenerator(3))((2,))
    )


def test_unseeded_seed_comes_from_set_random_seed_as_in_keras():
    """As Keras: an unseeded initializer takes its seed from Python's `random` when made,
    so the same `set_random_seed` gives Keras' very values."""
    import keras

    from shoal.utils import set_random_seed

    set_random_seed(123)
    first = initializers.HeUniform()((5,))
    set_random_seed(123)
    np.testing.assert_array_equal(initializers.HeUniform()((5,)), first)
    keras.utils.set_random_seed(123)
    np.testing.assert_array_equal(keras.initializers.HeUniform()((5,)), first)
    shared = initializers.HeUniform()  # one instance for several weights: new values
    assert not np.array_equal(shared((5,)), shared((5,)))
    assert shared.get_config()["seed"] is None


def test_constants():
    np.testing.assert_array_equal(initializers.Zeros()((2,), dtype="int32"), [0, 0])
    np.testing.assert_array_equal(initializers.Ones()((2, 1)), [[1.0], [1.0]])
    np.testing.assert_array_equal(initializers.Constant(3)((2,), dtype="float16"), [3.0, 3.0])
    np.testing.assert_array_equal(initializers.Constant([1.0, 2.0])((2, 2)), [[1, 2], [1, 2]])
    np.testing.assert_array_equal(initializers.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3))


@pytest.mark.parametrize("name", ALL)
def test_config_round_trip_and_keras_format(name):
    kwargs = {"seed": 5} if name in RANDOM else {}
    if name == "Constant":
        kwargs = {"value": 2.5}
    init = getattr(initializers, name)(**kwargs)
    clone = type(init).from_config(init.get_config())
    assert clone.get_config() == init.get_config()
    config = initializers.serialize(init)
    keras_config = keras.initializers.serialize(getattr(keras.initializers, name)(**kwargs))
    if name == "Identity":  # Keras forgets `gain` in Identity's config; shoal keeps it
        keras_config["config"]["gain"] = 1.0
    assert config == keras_config
    restored = initializers.deserialize(config)
    assert type(restored) is type(init) and restored.get_config() == init.get_config()
    # and Keras reads what shoal writes
    assert type(keras.initializers.deserialize(config)).__name__ == name


@pytest.mark.parametrize(
    "identifier",
    ["glorot_uniform", "he_normal", "zeros", "ones", "orthogonal", "identity",
     "random_normal", "normal", "uniform", "truncated_normal", "variance_scaling", "lecun_uniform",
     "GlorotNormal", "zero", "one"],
)  # fmt: skip
def test_get_by_name_matches_keras(identifier):
    assert (
        type(initializers.get(identifier)).__name__
        == type(keras.initializers.get(identifier)).__name__
    )


def test_get_other_identifiers():
    assert initializers.get(None) is None
    assert initializers.get("constant").get_config() == {"value": 0.0}  # Keras fails on this one
    init = initializers.Zeros()
    assert initializers.get(init) is init
    assert isinstance(initializers.get(initializers.HeNormal), initializers.HeNormal)
    config = {"class_name": "RandomNormal", "config": {"mean": 1.0, "stddev": 2.0, "seed": None}}
    assert initializers.get(config).get_config() == {"seed": None, "mean": 1.0, "stddev": 2.0}
    from_array = initializers.get(np.arange(4.0).reshape(2, 2))
    np.testing.assert_array_equal(from_array((2, 2), dtype="int32"), [[0, 1], [2, 3]])
    with pytest.raises(ValueError, match=r"expected shape \(2, 2\), got \(3,\)"):
        from_array((3,))


@pytest.mark.parametrize(
    "call,message",
    [
        (
            lambda: initializers.get("glorot_uniformm"),
            r"'glorot_uniformm'.*Known names:.*glorot_uniform",
        ),
        (lambda: initializers.get(3.5), r"identifier 3\.5 of type float"),
        (lambda: initializers.get({"class_name": "Nope", "config": {}}), r"'Nope'"),
        (
            lambda: initializers.VarianceScaling(scale=-1),
            r"VarianceScaling: argument 'scale'.*got -1",
        ),
        (lambda: initializers.VarianceScaling(mode="fan"), r"argument 'mode'.*got 'fan'"),
        (
            lambda: initializers.VarianceScaling(distribution="cauchy"),
            r"'distribution'.*got 'cauchy'",
        ),
        (lambda: initializers.HeNormal(seed="abc"), r"HeNormal: argument 'seed'.*got 'abc'"),
        (
            lambda: initializers.Identity()((2, 2, 2)),
            r"Identity initializer: 'shape' must be 2-D, got \(2, 2, 2\)",
        ),
        (
            lambda: initializers.Orthogonal()((4,)),
            r"Orthogonal initializer: 'shape' must have rank >= 2, got \(4,\)",
        ),
    ],
)
def test_errors_name_what_was_given(call, message):
    with pytest.raises(ValueError, match=message):
        call()
