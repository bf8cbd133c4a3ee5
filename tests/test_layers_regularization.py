"""Regularization layers: Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout,
ActivityRegularization."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import make_input, run_layer_test

from shoal.backend import random as shoal_random
from shoal.layers.regularization import (
    ActivityRegularization,
    Dropout,
    GaussianDropout,
    GaussianNoise,
    SpatialDropout1D,
    SpatialDropout2D,
    SpatialDropout3D,
)
from shoal.utils import set_random_seed

ONES = np.ones((200, 50), "float32")


# -- inference: the identity, checked through the full harness -------------------------


@pytest.mark.parametrize(
    "cls, kwargs, shape",
    [
        (Dropout, {"rate": 0.5}, (2, 3, 4)),
        (Dropout, {"rate": 0.3, "noise_shape": (None, 1, 4), "seed": 7}, (2, 3, 4)),
        (SpatialDropout1D, {"rate": 0.5}, (2, 3, 4)),
        (SpatialDropout2D, {"rate": 0.5, "data_format": "channels_first"}, (2, 3, 4, 2)),
        (SpatialDropout3D, {"rate": 0.5}, (2, 2, 2, 2, 3)),
        (GaussianNoise, {"stddev": 0.5, "seed": 1}, (2, 3, 4)),
        (GaussianDropout, {"rate": 0.4}, (2, 3, 4)),
        (ActivityRegularization, {"l1": 0.1, "l2": 0.01}, (2, 3, 4)),
    ],
)
def test_inference_is_identity(cls, kwargs, shape):
    layer, out = run_layer_test(cls, kwargs, input_shape=shape, expected_output_shape=shape)
    x = make_input(shape)
    np.testing.assert_array_equal(out, x)
    if cls is not ActivityRegularization:
        np.testing.assert_array_equal(layer(x, training=False), x)


# -- training: statistics of the noise -------------------------------------------------


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_dropout_training_statistics(rate):
    set_random_seed(0)
    out = np.asarray(Dropout(rate)(ONES, training=True))
    zero_fraction = np.mean(out == 0)
    assert abs(zero_fraction - rate) < 0.03, zero_fraction
    np.testing.assert_allclose(out[out != 0], 1 / (1 - rate), rtol=1e-6)


def test_dropout_extreme_rates():
    np.testing.assert_array_equal(Dropout(0.0)(ONES, training=True), ONES)
    np.testing.assert_array_equal(Dropout(1.0)(ONES, training=True), 0.0)


def test_dropout_same_seed_same_mask():
    # As in Keras: a seeded layer owns a SeedGenerator; layers with the same seed draw
    # the same sequence of masks, each call the next one.
    layer = Dropout(0.5, seed=3)
    a = np.asarray(layer(ONES, training=True))
    b = np.asarray(layer(ONES, training=True))
    twin = Dropout(0.5, seed=3)
    np.testing.assert_array_equal(a, np.asarray(twin(ONES, training=True)))
    np.testing.assert_array_equal(b, np.asarray(twin(ONES, training=True)))
    assert not np.array_equal(a, b), "successive calls must draw fresh masks"
    d = np.asarray(Dropout(0.5, seed=4)(ONES, training=True))
    assert not np.array_equal(a, d), "a different seed gives a different mask"


def test_unseeded_dropout_repeats_under_set_random_seed():
    set_random_seed(11)
    a = np.asarray(Dropout(0.5)(ONES, training=True))
    set_random_seed(11)
    np.testing.assert_array_equal(a, np.asarray(Dropout(0.5)(ONES, training=True)))


def test_dropout_state_threads_through_a_jitted_stateless_call():
    """A hand-written JAX loop threading non_trainable_variables gets new masks per step
    (the layer's SeedGenerator state is one of them), and the same state gives the same
    mask (a pure function)."""
    layer = Dropout(0.5, seed=1)
    assert [v.name for v in layer.non_trainable_variables] == ["seed_generator_state"]
    assert layer.weights == []
    step = jax.jit(lambda state, x: layer.stateless_call([], state, x, training=True))
    state = [v.value for v in layer.non_trainable_variables]
    first, state1 = step(state, ONES)
    second, _ = step(state1, ONES)
    again, _ = step(state, ONES)
    assert not np.array_equal(np.asarray(first), np.asarray(second))
    np.testing.assert_array_equal(np.asarray(first), np.asarray(again))
    assert int(state1[0][1]) == int(state[0][1]) + 1
    # the layer's own state did not move (stateless)
    np.testing.assert_array_equal(np.asarray(layer.non_trainable_variables[0].value), state[0])


def test_dropout_noise_shape_shares_mask():
    set_random_seed(0)
    x = np.ones((4, 6, 5), "float32")
    out = np.asarray(Dropout(0.5, noise_shape=(None, 1, 5))(x, training=True))
    assert np.all(out == out[:, :1, :])
    assert 0 < np.mean(out == 0) < 1


def test_dropout_inside_jit_uses_the_rng_scope():
    layer = Dropout(0.5)
    state = [v.value for v in layer.non_trainable_variables]

    @jax.jit
    def f(x, key):
        with shoal_random.RngScope(key):
            out, _ = layer.stateless_call([], state, x, training=True)
        return out

    key = jax.random.key(5)
    a, b = f(ONES, key), f(ONES, key)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, f(ONES, jax.random.key(6)))
    assert abs(float(jnp.mean(a == 0)) - 0.5) < 0.05


def test_training_flag_propagates_from_outer_call():
    set_random_seed(0)
    out = np.asarray(Dropout(0.5)(ONES, training=True))
    assert np.any(out == 0)
    np.testing.assert_array_equal(Dropout(0.5)(ONES), ONES)


@pytest.mark.parametrize(
    "cls, kwargs, shape, channel_axes",
    [
        (SpatialDropout1D, {}, (8, 5, 6), (0, 2)),
        (SpatialDropout2D, {}, (8, 3, 3, 6), (0, 3)),
        (SpatialDropout2D, {"data_format": "channels_first"}, (8, 6, 3, 3), (0, 1)),
        (SpatialDropout3D, {}, (8, 2, 2, 2, 6), (0, 4)),
        (SpatialDropout3D, {"data_format": "channels_first"}, (8, 6, 2, 2, 2), (0, 1)),
    ],
)
def test_spatial_dropout_drops_whole_channels(cls, kwargs, shape, channel_axes):
    set_random_seed(0)
    out = np.asarray(cls(0.5, **kwargs)(np.ones(shape, "float32"), training=True))
    other = tuple(a for a in range(len(shape)) if a not in channel_axes)
    per_channel = out.max(axis=other) == out.min(axis=other)
    assert per_channel.all(), "every (sample, channel) map is dropped or kept whole"
    assert 0 < np.mean(out == 0) < 1
    np.testing.assert_allclose(out[out != 0], 2.0)


def test_spatial_dropout_config_matches_keras_keys():
    import keras

    config = SpatialDropout2D(0.3, data_format="channels_first", seed=2).get_config()
    assert set(config) == {"rate", "seed", "name", "dtype", "data_format"}
    restored = keras.layers.SpatialDropout2D.from_config(config)
    assert restored.rate == 0.3 and restored.data_format == "channels_first"
    assert set(SpatialDropout1D(0.3).get_config()) == {"rate", "seed", "name", "dtype"}


def test_gaussian_noise_training_statistics():
    set_random_seed(0)
    out = np.asarray(GaussianNoise(0.5)(ONES, training=True))
    noise = out - 1
    assert abs(noise.mean()) < 0.02 and abs(noise.std() - 0.5) < 0.02


def test_gaussian_dropout_training_statistics():
    set_random_seed(0)
    x = 2 * ONES
    out = np.asarray(GaussianDropout(0.2)(x, training=True))
    factor = out / x
    assert abs(factor.mean() - 1) < 0.02
    assert abs(factor.std() - np.sqrt(0.2 / 0.8)) < 0.02


@pytest.mark.parametrize(
    "cls, kwargs", [(GaussianNoise, {"stddev": 0.3}), (GaussianDropout, {"rate": 0.3})]
)
def test_gaussian_layers_seeded(cls, kwargs):
    a = np.asarray(cls(**kwargs, seed=1)(ONES, training=True))
    b = np.asarray(cls(**kwargs, seed=1)(ONES, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, np.asarray(cls(**kwargs, seed=2)(ONES, training=True)))


def test_activity_regularization_adds_loss():
    x = make_input((2, 3))
    layer = ActivityRegularization(l1=0.1, l2=0.01)
    np.testing.assert_array_equal(layer(x), x)
    (loss,) = layer.losses
    # Keras 3 averages activity losses over the batch (2 samples here).
    want = (0.1 * np.abs(x).sum() + 0.01 * np.square(x).sum()) / 2
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    import keras

    reference = keras.layers.ActivityRegularization(l1=0.1, l2=0.01)
    reference(x)
    np.testing.assert_allclose(loss, float(reference.losses[0]), rtol=1e-5)
    config = layer.get_config()
    assert "activity_regularizer" not in config
    assert (config["l1"], config["l2"]) == (0.1, 0.01)


def test_activity_regularization_loss_in_stateless_call():
    x = make_input((2, 3))
    layer = ActivityRegularization(l2=0.5)
    _, _, losses = layer.stateless_call([], [], x, return_losses=True)
    np.testing.assert_allclose(sum(losses), 0.5 * np.square(x).sum() / 2, rtol=1e-5)


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: Dropout(rate=1.5),
            r"Dropout '.*': argument 'rate' must be a number between 0 "
            r"and 1, got 1.5",
        ),
        (
            lambda: Dropout(rate=-0.1),
            r"argument 'rate' must be a number between 0 and 1, "
            r"got -0.1",
        ),
        (lambda: Dropout(rate="half"), r"argument 'rate'.*got 'half'"),
        (
            lambda: Dropout(0.5, noise_shape="batch"),
            r"Dropout '.*': argument 'noise_shape' must "
            r"be None or a tuple of positive integers",
        ),
        (lambda: Dropout(0.5, noise_shape=(None, 0)), r"argument 'noise_shape'.*got \(None, 0\)"),
        (
            lambda: Dropout(0.5, seed=1.5),
            r"Dropout '.*': argument 'seed' must be an integer or "
            r"None, got 1.5",
        ),
        (
            lambda: Dropout(0.5, noise_shape=(None, 1))(
                np.ones((2, 3, 4), "float32"), training=True
            ),
            r"argument 'noise_shape' must have one entry per input dimension; got "
            r"noise_shape=\(None, 1\) for input shape \(2, 3, 4\)",
        ),
        (lambda: SpatialDropout2D(0.5, data_format="NHWC"), r"data_format.*'NHWC'"),
        (lambda: SpatialDropout2D(2.0), r"SpatialDropout2D '.*': argument 'rate'.*got 2.0"),
        (
            lambda: SpatialDropout1D(0.5)(np.ones((2, 3), "float32")),
            r"expected ndim=3, found ndim=2",
        ),
        (
            lambda: GaussianNoise(stddev=-1),
            r"GaussianNoise '.*': argument 'stddev' must be a "
            r"number between 0 and 1, got -1",
        ),
        (
            lambda: GaussianDropout(rate=1.0),
            r"GaussianDropout '.*': argument 'rate' must be a "
            r"number in \[0, 1\)",
        ),
        (
            lambda: ActivityRegularization(l1=-1),
            r"ActivityRegularization '.*': argument 'l1' "
            r"must be a non-negative number, got -1",
        ),
    ],
)
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_training_flag_reaches_dropout_inside_a_model():
    import shoal

    inputs = shoal.Input((50,))
    model = shoal.Model(inputs, Dropout(0.5)(inputs))
    set_random_seed(0)
    assert np.any(np.asarray(model(ONES, training=True)) == 0)
    np.testing.assert_array_equal(model(ONES), ONES)


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Dropout", {"rate": 0.3, "noise_shape": (None, 1, 4), "seed": 2}),
        ("SpatialDropout1D", {"rate": 0.2}),
        ("SpatialDropout2D", {"rate": 0.2, "data_format": "channels_first"}),
        ("GaussianNoise", {"stddev": 0.1, "seed": 3}),
        ("GaussianDropout", {"rate": 0.2}),
        ("ActivityRegularization", {"l1": 0.1, "l2": 0.2}),
    ],
)
def test_configs_interchange_with_keras(name, kwargs):
    import keras

    import shoal

    keras_config = getattr(keras.layers, name)(**kwargs).get_config()
    ours = getattr(shoal.layers, name).from_config(keras_config).get_config()
    getattr(keras.layers, name).from_config(ours)
    # Keras writes a spatial dropout's dtype as a bare string; we keep the policy dict.
    for key in set(keras_config) - {"dtype"}:
        assert ours[key] == keras_config[key], key
