"""Activation layers: Activation, ReLU, LeakyReLU, PReLU, ELU, Softmax."""

import jax
import numpy as np
import pytest
from harness import make_input, run_layer_test

import shoal
from shoal.layers.activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax

SHAPE = (2, 3, 4)


@pytest.mark.parametrize("activation", ["relu", "tanh", "softmax", "linear"])
def test_activation(activation):
    run_layer_test(
        Activation,
        {"activation": activation},
        input_shape=SHAPE,
        expected_output_shape=SHAPE,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_value": 6.0},
        {"negative_slope": 0.1},
        {"threshold": 0.5},
        {"max_value": 1.0, "negative_slope": 0.2, "threshold": 0.3},
    ],
)
def test_relu(kwargs):
    run_layer_test(ReLU, kwargs, input_shape=SHAPE, expected_output_shape=SHAPE)


def test_relu_formula():
    x = np.array([-2.0, -0.5, 0.2, 0.7, 3.0], "float32")
    out = ReLU(max_value=2.0, negative_slope=0.5, threshold=0.5)(x)
    want = np.where(x >= 2.0, 2.0, np.where(x > 0.5, x, 0.5 * (x - 0.5)))
    np.testing.assert_allclose(out, want, rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"negative_slope": 0.1}])
def test_leaky_relu(kwargs):
    _, out = run_layer_test(LeakyReLU, kwargs, input_shape=SHAPE, expected_output_shape=SHAPE)
    x = make_input(SHAPE)
    np.testing.assert_allclose(
        out, np.where(x > 0, x, kwargs.get("negative_slope", 0.3) * x), rtol=1e-6
    )


def test_leaky_relu_keras2_alpha():
    assert LeakyReLU(alpha=0.2).negative_slope == 0.2


@pytest.mark.parametrize(
    "kwargs, alpha_shape",
    [
        ({}, (3, 4)),
        ({"alpha_initializer": "random_uniform", "shared_axes": [1]}, (1, 4)),
        ({"alpha_initializer": "random_uniform", "shared_axes": 2}, (3, 1)),
    ],
)
def test_prelu(kwargs, alpha_shape):
    layer, _ = run_layer_test(PReLU, kwargs, input_shape=SHAPE, expected_output_shape=SHAPE)
    assert [w.name for w in layer.weights] == ["alpha"]
    assert layer.alpha.shape == alpha_shape


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu(alpha):
    layer, _ = run_layer_test(ELU, {"alpha": alpha}, input_shape=SHAPE, expected_output_shape=SHAPE)
    assert layer.get_config()["alpha"] == alpha


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_softmax(axis):
    _, out = run_layer_test(Softmax, {"axis": axis}, input_shape=SHAPE, expected_output_shape=SHAPE)
    sums = np.sum(out, axis=tuple(axis) if isinstance(axis, list) else axis)
    np.testing.assert_allclose(sums, 1.0, rtol=1e-5)


@pytest.mark.parametrize("mask_shape", [(2, 3, 4), (2, 1, 4), (4,)])
def test_softmax_mask(mask_shape):
    mask = np.random.default_rng(1).random(mask_shape) > 0.3
    _, out = run_layer_test(
        Softmax, {}, input_shape=SHAPE, call_kwargs={"mask": mask}, expected_output_shape=SHAPE
    )
    assert np.all(np.asarray(out)[np.broadcast_to(~mask, SHAPE)] == 0)


def test_softmax_fully_masked_row_is_zero():
    x = make_input((1, 2, 3))
    mask = np.array([[[True, True, False], [False, False, False]]])
    out = np.asarray(Softmax()(x, mask=mask))
    np.testing.assert_array_equal(out[0, 1], 0.0)
    np.testing.assert_allclose(out[0, 0].sum(), 1.0, rtol=1e-6)


def test_float_mask_thresholded_at_half():
    x = make_input((2, 3))
    float_mask = np.array([[0.9, 0.2, 1.0], [1.0, 1.0, 0.4]], "float32")
    np.testing.assert_allclose(
        Softmax()(x, mask=float_mask), Softmax()(x, mask=float_mask > 0.5), rtol=1e-6
    )


def test_activation_layers_in_jit_and_masks_pass_through():
    layer = ReLU(max_value=6.0)
    x = make_input(SHAPE)
    out = jax.jit(lambda v: layer(v))(x)
    np.testing.assert_allclose(out, np.clip(x, 0, 6))
    assert layer.compute_mask(x, "m") == "m"


def test_prelu_mismatched_input_raises():
    layer = PReLU()
    layer(make_input(SHAPE))
    with pytest.raises(ValueError, match="incompatible"):
        layer(make_input((2, 3, 5)))


@pytest.mark.parametrize(
    "build, match",
    [
        (
            lambda: ReLU(max_value=-1),
            r"ReLU '.*': argument 'max_value' must be a non-negative "
            r"number or None, got -1",
        ),
        (
            lambda: ReLU(negative_slope=-0.1),
            r"argument 'negative_slope' must be a non-negative "
            r"number, got -0.1",
        ),
        (
            lambda: ReLU(threshold=None),
            r"argument 'threshold' must be a non-negative number, "
            r"got None",
        ),
        (
            lambda: LeakyReLU(negative_slope=-1),
            r"LeakyReLU '.*': argument 'negative_slope'.*"
            r"got -1",
        ),
        (lambda: ELU(alpha="big"), r"ELU '.*': argument 'alpha' must be a number, got 'big'"),
        (
            lambda: Softmax(axis="last"),
            r"Softmax '.*': argument 'axis' must be an integer or a "
            r"non-empty list of integers, got 'last'",
        ),
        (lambda: Softmax(axis=[]), r"argument 'axis'.*got \[\]"),
        (
            lambda: PReLU(shared_axes=[0]),
            r"PReLU '.*': argument 'shared_axes' must be None or a "
            r"list of positive integers.*got \[0\]",
        ),
        (
            lambda: PReLU(shared_axes=[3])(np.zeros(SHAPE, "float32")),
            r"PReLU '.*': argument 'shared_axes' must name axes of the input \(1 to 2\); "
            r"got \[3\]",
        ),
        (
            lambda: PReLU()(shoal.Input((None, 4))),
            r"PReLU '.*': every non-batch input dimension must be known",
        ),
        (
            lambda: Softmax()(np.zeros((2, 3), "float32"), mask=np.ones((2, 4), bool)),
            r"Softmax '.*': argument 'mask' must be broadcastable to the inputs.*"
            r"inputs.shape=\(2, 3\), mask.shape=\(2, 4\)",
        ),
        (lambda: Activation("no_such_activation"), r"no_such_activation"),
        (lambda: ReLU(bogus=1), None),
    ],
)
def test_bad_arguments(build, match):
    if match is None:
        with pytest.raises(TypeError, match="bogus"):
            build()
        return
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("Activation", {"activation": "relu"}),
        ("ReLU", {"max_value": 6.0, "threshold": 0.5}),
        ("LeakyReLU", {"negative_slope": 0.1}),
        ("PReLU", {"shared_axes": [1]}),
        ("ELU", {"alpha": 0.5}),
        ("Softmax", {"axis": [1, 2]}),
    ],
)
def test_configs_interchange_with_keras(name, kwargs):
    import keras

    keras_config = getattr(keras.layers, name)(**kwargs).get_config()
    ours = getattr(shoal.layers, name).from_config(keras_config).get_config()
    getattr(keras.layers, name).from_config(ours)
    for key, value in keras_config.items():
        assert ours[key] == value, key
