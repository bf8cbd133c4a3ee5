"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization."""

import jax
import numpy as np
import pytest
from harness import make_input, run_layer_test

import shoal
from shoal.layers.normalization import (
    BatchNormalization,
    GroupNormalization,
    LayerNormalization,
    UnitNormalization,
)

SHAPE = (4, 3, 5)
RMS_WARNING = "ignore:.*rms_scaling=True.*deprecated:UserWarning"


def _random_weights(layer, seed=1):
    """Non-trivial values for every weight (variances kept positive)."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.uniform(0.5, 1.5, w.shape)
            if "variance" in w.name or "stddev" in w.name
            else rng.standard_normal(w.shape)
        ).astype("float32")
        for w in layer.weights
    ]


# -- BatchNormalization ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, training",
    [
        ({}, False),
        ({}, True),
        ({"axis": 1, "momentum": 0.9, "epsilon": 1e-2}, True),
        ({"axis": -2}, False),
        ({"center": False, "scale": False}, True),
    ],
)
def test_batch_normalization(kwargs, training):
    run_layer_test(
        BatchNormalization,
        kwargs,
        input_shape=SHAPE,
        call_kwargs={"training": True} if training else None,
        expected_output_shape=SHAPE,
        # With batch statistics the input gradient nearly cancels (it is orthogonal to
        # shifts and scalings per channel), so float32 finite differences carry ~3e-3 of
        # noise on a ~1e-2 result.
        grad_atol=1e-2 if training else 2e-3,
    )


def test_batch_normalization_weight_order_and_shapes():
    layer = BatchNormalization(axis=1)
    layer(make_input(SHAPE))
    assert [w.name for w in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [w.shape for w in layer.weights] == [(3,)] * 4
    assert [w.name for w in layer.trainable_weights] == ["gamma", "beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["moving_mean", "moving_variance"]
    layer = BatchNormalization(center=False)
    layer(make_input(SHAPE))
    assert [w.name for w in layer.weights] == ["gamma", "moving_mean", "moving_variance"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": 1, "momentum": 0.8},
        {
            "renorm": True,
            "renorm_clipping": {"rmax": 1.2, "rmin": 0.8, "dmax": 0.1},
            "renorm_momentum": 0.7,
            "momentum": 0.5,
        },
    ],
)
def test_batch_normalization_training_matches_keras(kwargs):
    """Outputs and updated moving statistics after several training steps."""
    import keras

    ours = BatchNormalization(**kwargs)
    theirs = keras.layers.BatchNormalization(**kwargs)
    batches = [make_input(SHAPE, seed=s) * (s + 1) + s for s in range(3)]
    ours(batches[0])
    theirs(batches[0])
    weights = _random_weights(ours)
    ours.set_weights(weights)
    theirs.set_weights(weights)
    for x in batches:
        np.testing.assert_allclose(
            ours(x, training=True), theirs(x, training=True), rtol=1e-5, atol=1e-5
        )
        for a, b in zip(ours.weights, theirs.weights, strict=True):
            assert a.name == b.name
            np.testing.assert_allclose(
                a.numpy(), np.asarray(b.value), rtol=1e-5, atol=1e-6, err_msg=a.name
            )
    # inference after training uses the moving statistics
    np.testing.assert_allclose(ours(batches[0]), theirs(batches[0]), rtol=1e-5, atol=1e-5)


def test_batch_normalization_masked_training_matches_keras():
    import keras

    x = make_input(SHAPE)
    mask = np.random.default_rng(3).random(SHAPE[:-1]) > 0.4
    ours, theirs = BatchNormalization(momentum=0.5), keras.layers.BatchNormalization(momentum=0.5)
    np.testing.assert_allclose(
        ours(x, training=True, mask=mask),
        theirs(x, training=True, mask=mask),
        rtol=1e-5,
        atol=1e-5,
    )
    for a, b in zip(ours.weights, theirs.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), np.asarray(b.value), rtol=1e-5, atol=1e-6)


def test_batch_normalization_moving_statistics_formula():
    x = make_input((8, 2))
    layer = BatchNormalization(momentum=0.9)
    layer(x, training=True)
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * x.mean(0), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.9 + 0.1 * x.var(0), rtol=1e-5)


def test_batch_normalization_inference_leaves_statistics():
    layer = BatchNormalization()
    x = make_input(SHAPE)
    layer(x)
    layer(x, training=False)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), 1.0)


def test_frozen_batch_normalization_runs_in_inference_mode():
    layer = BatchNormalization(trainable=False)
    x = make_input(SHAPE) + 3
    out = layer(x, training=True)
    np.testing.assert_allclose(out, x / np.sqrt(1 + 1e-3), rtol=1e-6)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)


def test_batch_normalization_stateless_call_returns_new_statistics():
    layer = BatchNormalization(momentum=0.5)
    x = make_input(SHAPE)
    layer(x)
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    @jax.jit
    def step(trainable, non_trainable, x):
        return layer.stateless_call(trainable, non_trainable, x, training=True)

    out, (mean, var) = step(trainable, non_trainable, x)
    # the layer's own variables are untouched
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.0)
    axes = (0, 1)
    np.testing.assert_allclose(mean, 0.5 * x.mean(axes), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(var, 0.5 + 0.5 * x.var(axes), rtol=1e-5)
    np.testing.assert_allclose(out, layer(x, training=True), rtol=1e-6)


def test_batch_normalization_synchronized_is_accepted():
    layer = BatchNormalization(synchronized=True)
    assert layer.get_config()["synchronized"] is True
    layer(make_input(SHAPE), training=True)


def test_batch_normalization_keras2_axis_list():
    assert BatchNormalization(axis=[3]).axis == 3


def test_batch_normalization_half_precision_statistics():
    layer = BatchNormalization(dtype="mixed_float16")
    x = (make_input(SHAPE) * 300).astype("float16")
    out = layer(x, training=True)
    assert out.dtype == "float16"
    assert layer.moving_variance.dtype == "float32"
    assert np.all(np.isfinite(np.asarray(out, "float32")))


# -- LayerNormalization ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"axis": (-2, -1), "epsilon": 1e-5},
        {"axis": 1, "center": False},
        {"scale": False, "beta_initializer": "random_normal"},
    ],
)
def test_layer_normalization(kwargs):
    layer, _ = run_layer_test(
        LayerNormalization, kwargs, input_shape=SHAPE, expected_output_shape=SHAPE
    )
    axis = kwargs.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis)
    want = tuple(SHAPE[a] for a in sorted(a % 3 for a in axes))
    assert all(w.shape == want for w in layer.weights)


@pytest.mark.filterwarnings(RMS_WARNING)
def test_layer_normalization_rms_scaling():
    layer, out = run_layer_test(
        LayerNormalization, {"rms_scaling": True}, input_shape=SHAPE, expected_output_shape=SHAPE
    )
    assert [w.name for w in layer.weights] == ["gamma"]


def test_layer_normalization_rms_scaling_warns():
    with pytest.warns(UserWarning, match="rms_scaling=True is deprecated"):
        LayerNormalization(rms_scaling=True)


def test_layer_normalization_formula():
    x = make_input(SHAPE)
    out = LayerNormalization(epsilon=1e-5)(x)
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


# -- GroupNormalization ----------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"groups": 2}, (2, 3, 4)),
        ({"groups": -1, "center": False}, (2, 3, 4)),
        ({"groups": 3, "axis": 1}, (2, 6, 2, 2)),
        ({"groups": 2, "axis": -2, "scale": False}, (2, 3, 4, 2)),
    ],
)
def test_group_normalization(kwargs, shape):
    layer, _ = run_layer_test(
        GroupNormalization, kwargs, input_shape=shape, expected_output_shape=shape
    )
    channels = shape[kwargs.get("axis", -1)]
    assert all(w.shape == (channels,) for w in layer.weights)


def test_group_normalization_instance_norm_formula():
    x = make_input((2, 5, 3))
    out = GroupNormalization(groups=-1, epsilon=1e-5)(x)
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)


# -- UnitNormalization -----------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_unit_normalization(axis):
    _, out = run_layer_test(
        UnitNormalization, {"axis": axis}, input_shape=SHAPE, expected_output_shape=SHAPE
    )
    axes = tuple(axis) if isinstance(axis, list) else axis
    np.testing.assert_allclose(np.sum(np.square(out), axis=axes), 1.0, rtol=1e-5)


def test_unit_normalization_zero_input_stays_zero():
    np.testing.assert_array_equal(UnitNormalization()(np.zeros((2, 3), "float32")), 0.0)


# -- masks pass through; bad arguments -------------------------------------------------


@pytest.mark.parametrize(
    "layer",
    [BatchNormalization(), LayerNormalization(), GroupNormalization(groups=1), UnitNormalization()],
)
def test_masks_pass_through(layer):
    assert layer.compute_mask(None, "the-mask") == "the-mask"


X = np.zeros(SHAPE, "float32")


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: BatchNormalization(axis=3)(X),
            r"BatchNormalization '.*': argument 'axis' must name axes of the input \(between -3 "
            r"and 2\); got axis=3 for input shape \(4, 3, 5\)",
        ),
        (lambda: BatchNormalization(axis=-4)(X), r"argument 'axis' must name axes.*got axis=-4"),
        (
            lambda: BatchNormalization(axis="channels"),
            r"BatchNormalization '.*': argument 'axis' must be an integer, got 'channels'",
        ),
        (
            lambda: BatchNormalization(momentum=1.5),
            r"argument 'momentum' must be a number in \[0, 1\], got 1.5",
        ),
        (
            lambda: BatchNormalization(epsilon=-1e-3),
            r"argument 'epsilon' must be a number >= 0, got -0.001",
        ),
        (
            lambda: BatchNormalization(renorm=True, renorm_clipping={"rmax": 1, "rmin": 2}),
            r"argument 'renorm_clipping' must be a dict with rmax >= rmin",
        ),
        (
            lambda: BatchNormalization(renorm=True, renorm_clipping={"r_max": 1}),
            r"argument 'renorm_clipping' must be a dict with keys among",
        ),
        (
            lambda: BatchNormalization()(shoal.Input((3, None))),
            r"BatchNormalization '.*': the input dimension along axis 2 must be known",
        ),
        (
            lambda: BatchNormalization()(X, training=True, mask=np.ones(SHAPE, bool)),
            r"argument 'mask' must have one dimension less than the inputs; got "
            r"mask.shape=\(4, 3, 5\), inputs.shape=\(4, 3, 5\)",
        ),
        (
            lambda: LayerNormalization(axis=[1, 3])(X),
            r"LayerNormalization '.*': argument 'axis' must name axes.*got axis=\[1, 3\]",
        ),
        (
            lambda: LayerNormalization(axis=[1, -2])(X),
            r"argument 'axis' must be a list of distinct axes, got \[1, -2\]",
        ),
        (
            lambda: LayerNormalization(axis=None),
            r"argument 'axis' must be an integer or a non-empty list of integers, got None",
        ),
        (
            lambda: GroupNormalization(groups=0),
            r"GroupNormalization '.*': argument 'groups' must be a positive integer \(or -1 for "
            r"instance normalization\), got 0",
        ),
        (
            lambda: GroupNormalization(groups=2)(X),
            r"argument 'groups' must divide the number of channels evenly; got groups=2 for 5 "
            r"channels",
        ),
        (lambda: GroupNormalization(groups=8)(X), r"got groups=8 for 5 channels"),
        (
            lambda: GroupNormalization(groups=1, axis=[1, 2]),
            r"argument 'axis' must be an integer, got \[1, 2\]",
        ),
        (
            lambda: GroupNormalization(groups=1, axis=0)(X),
            r"argument 'axis' must be a non-batch axis, got 0",
        ),
        (
            lambda: UnitNormalization(axis=5)(X),
            r"UnitNormalization '.*': argument 'axis' must "
            r"name axes",
        ),
        (lambda: UnitNormalization(axis="x"), r"argument 'axis'.*got 'x'"),
    ],
)
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("BatchNormalization", {"axis": 1, "momentum": 0.9, "gamma_initializer": "random_normal"}),
        ("BatchNormalization", {"renorm": True, "renorm_clipping": {"rmax": 2.0}}),
        ("LayerNormalization", {"axis": [1, 2], "center": False}),
        ("GroupNormalization", {"groups": 2, "epsilon": 1e-5}),
        ("UnitNormalization", {"axis": [1]}),
    ],
)
def test_configs_interchange_with_keras(name, kwargs):
    import keras

    keras_config = getattr(keras.layers, name)(**kwargs).get_config()
    ours = getattr(shoal.layers, name).from_config(keras_config).get_config()
    getattr(keras.layers, name).from_config(ours)
    for key, value in keras_config.items():
        assert ours[key] == value, key


def test_fit_updates_moving_statistics():
    """The pure train step returns the recorded assigns; fit writes them back."""
    x = make_input((16, 5)) * 3 + 2
    model = shoal.Sequential([shoal.Input((5,)), BatchNormalization(momentum=0.5)])
    model.compile("sgd", "mse")
    model.fit(x, np.zeros_like(x), epochs=1, batch_size=16, verbose=0)
    layer = model.layers[0]
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), 0.5 + 0.5 * x.var(0), rtol=1e-5)
