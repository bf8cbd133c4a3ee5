"""RMSNormalization, AlphaDropout and EinsumDense against Keras 3 (JAX backend)."""

import os
import tempfile

import numpy as np
import pytest
from harness import keras_reference, make_input, run_layer_test

import shoal
from shoal.layers.alpha_dropout import AlphaDropout, alpha_dropout_affine, apply_alpha_dropout
from shoal.layers.einsum_dense import EinsumDense
from shoal.layers.rms_normalization import RMSNormalization


def _keras_layer(name, kwargs, x):
    import keras

    layer = getattr(keras.layers, name)(**kwargs)
    layer(x)
    return layer


def _random_weights(layer, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(w.shape).astype("float32") for w in layer.weights]


# -- EinsumDense -------------------------------------------------------------------------

EINSUM_CASES = [
    # (kwargs, input shape, output shape)
    ({"equation": "ab,bc->ac", "output_shape": 4}, (2, 3), (2, 4)),
    (
        {"equation": "abc,cd->abd", "output_shape": (3, 4), "bias_axes": "d"},
        (2, 3, 5),
        (2, 3, 4),
    ),
    (
        {
            "equation": "abc,cde->abde",
            "output_shape": (None, 3, 4),
            "bias_axes": "de",
            "activation": "tanh",
        },
        (2, 3, 5),
        (2, 3, 3, 4),
    ),
    (
        {"equation": "...b,bc->...c", "output_shape": 4, "bias_axes": "c"},
        (2, 3, 5),
        (2, 3, 4),
    ),
    ({"equation": "ab...,bc->ac...", "output_shape": 4, "bias_axes": "c"}, (2, 3, 5), (2, 4, 5)),
]


@pytest.mark.parametrize("kwargs, in_shape, out_shape", EINSUM_CASES)
def test_einsum_dense_matches_keras(kwargs, in_shape, out_shape):
    kwargs = {**kwargs, "bias_initializer": "random_normal"}
    run_layer_test(EinsumDense, kwargs, input_shape=in_shape, expected_output_shape=out_shape)


@pytest.mark.parametrize("kwargs, in_shape, out_shape", EINSUM_CASES)
def test_einsum_dense_weights_and_config_match_keras(kwargs, in_shape, out_shape):
    x = make_input(in_shape)
    ours = EinsumDense(**kwargs)
    ours(x)
    theirs = _keras_layer("EinsumDense", kwargs, x)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert set(ours.get_config()) == set(theirs.get_config())
    # A Keras config builds the same layer here, and Keras weights load.
    clone = EinsumDense.from_config(theirs.get_config())
    clone(x)
    clone.set_weights(theirs.get_weights())
    np.testing.assert_allclose(clone(x), np.asarray(theirs(x)), rtol=1e-5, atol=1e-6)


def test_einsum_dense_kernel_initializer_uses_einsum_fans():
    layer = EinsumDense(
        "abc,cde->abde", output_shape=(None, 6, 8), kernel_initializer="glorot_uniform"
    )
    layer(make_input((2, 3, 10)))
    kernel = np.asarray(layer.kernel)
    assert kernel.shape == (10, 6, 8)
    limit = np.sqrt(6.0 / (10 + 6 * 8))  # fan_in = c, fan_out = d * e
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit


def test_einsum_dense_lora_matches_keras_and_saves_merged():
    kwargs = {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c", "lora_rank": 2}
    x = make_input((2, 3))
    layer = EinsumDense(**kwargs)
    layer(x)
    assert [w.name for w in layer.weights] == ["kernel", "bias", "lora_kernel_a", "lora_kernel_b"]
    assert [w.name for w in layer.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    assert [w.shape for w in layer.weights] == [(3, 4), (4,), (3, 2), (2, 4)]
    weights = _random_weights(layer)
    layer.set_weights(weights)
    out = np.asarray(layer(x))
    ref = keras_reference("EinsumDense", kwargs, x, weights)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    merged = weights[0] + (2 / 2) * weights[2] @ weights[3]
    np.testing.assert_allclose(out, x @ merged + weights[1], rtol=1e-5, atol=1e-5)
    assert layer.get_config()["lora_rank"] == 2 and layer.get_config()["lora_alpha"] == 2

    inputs = shoal.Input(batch_shape=(None, 3))
    model = shoal.Model(inputs, layer(inputs))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), out, rtol=1e-5, atol=1e-5)
    reloaded = loaded.layers[-1]
    np.testing.assert_allclose(np.asarray(reloaded._kernel.value), merged, rtol=1e-5, atol=1e-6)
    assert not np.any(np.asarray(reloaded.lora_kernel_b.value))


def test_einsum_dense_lora_gradients():
    run_layer_test(
        EinsumDense,
        {"equation": "abc,cd->abd", "output_shape": (None, 4), "lora_rank": 1},
        input_shape=(2, 3, 5),
        expected_output_shape=(2, 3, 4),
        check_saving=False,
    )


@pytest.mark.parametrize(
    "kwargs, arg, expected",
    [
        ({"equation": "ab->b", "output_shape": 4}, "equation", "of the form"),
        ({"equation": 3, "output_shape": 4}, "equation", "of the form"),
        ({"equation": "ab,bc->ad", "output_shape": 4}, "equation", "output axis 'd'"),
        ({"equation": "ab,bcz->ac", "output_shape": 4}, "equation", "kernel axis 'z'"),
        ({"equation": "abc,cd->abd", "output_shape": 4}, "output_shape", "2 positive integers"),
        ({"equation": "ab,bc->ac", "output_shape": -1}, "output_shape", "1 positive integers"),
        ({"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "x"}, "bias_axes", "'ac'"),
        ({"equation": "ab,bc->ac", "output_shape": 4, "lora_rank": 0}, "lora_rank", "positive"),
    ],
)
def test_einsum_dense_bad_arguments(kwargs, arg, expected):
    given = kwargs[arg]
    with pytest.raises(ValueError) as info:
        EinsumDense(**kwargs)
    message = str(info.value)
    assert f"'{arg}'" in message and expected in message and repr(given) in message


def test_einsum_dense_shared_axis_mismatch_names_output_shape():
    layer = EinsumDense("abc,cd->abd", output_shape=(7, 4))
    with pytest.raises(ValueError, match=r"'output_shape'.*expected 3.*\(7, 4\)"):
        layer(make_input((2, 3, 5)))


# -- RMSNormalization --------------------------------------------------------------------


def _rms_numpy(axes):
    def ref(x, weights):
        (scale,) = weights
        x = np.asarray(x, np.float64)
        shape = [1] * x.ndim
        for a in axes:
            shape[a] = x.shape[a]
        rms = np.sqrt(np.mean(x**2, axis=tuple(axes), keepdims=True) + 1e-6)
        return x / rms * np.reshape(scale, shape)

    return ref


@pytest.mark.parametrize(
    "kwargs, axes", [({}, [2]), ({"axis": [1, 2]}, [1, 2]), ({"axis": -1, "epsilon": 1e-2}, None)]
)
def test_rms_normalization_matches_keras(kwargs, axes):
    run_layer_test(
        RMSNormalization,
        kwargs,
        input_shape=(2, 3, 4),
        expected_output_shape=(2, 3, 4),
        numpy_reference=_rms_numpy(axes) if axes else None,
    )


@pytest.mark.parametrize("axis", [-1, [1, 2], [-2, -1]])
def test_rms_normalization_scale_weight_matches_keras(axis):
    x = make_input((2, 3, 4))
    layer = RMSNormalization(axis=axis)
    layer(x)
    theirs = _keras_layer("RMSNormalization", {"axis": axis}, x)
    assert [w.name for w in layer.weights] == [w.name for w in theirs.weights] == ["scale"]
    assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in theirs.weights]
    assert set(layer.get_config()) == set(theirs.get_config())
    weights = _random_weights(layer)
    layer.set_weights(weights)
    ref = keras_reference("RMSNormalization", {"axis": axis}, x, weights)
    np.testing.assert_allclose(layer(x), ref, rtol=1e-5, atol=1e-6)


def test_rms_normalization_inner_axis():
    # Keras broadcasts `scale` against the last axis, which fails for an inner axis;
    # here it scales along the normalized axis.
    layer, _ = run_layer_test(
        RMSNormalization,
        {"axis": 1},
        input_shape=(2, 3, 4),
        compare_keras=False,
        numpy_reference=_rms_numpy([1]),
    )
    assert layer.weights[0].shape == (3,)


@pytest.mark.parametrize(
    "kwargs, arg, expected",
    [({"axis": "x"}, "axis", "integer"), ({"epsilon": -1.0}, "epsilon", ">= 0")],
)
def test_rms_normalization_bad_arguments(kwargs, arg, expected):
    with pytest.raises(ValueError) as info:
        RMSNormalization(**kwargs)
    message = str(info.value)
    assert f"'{arg}'" in message and expected in message and repr(kwargs[arg]) in message


def test_rms_normalization_bad_axis_for_input():
    with pytest.raises(ValueError, match="'axis'.*between -3 and 2.*axis=3"):
        RMSNormalization(axis=3)(make_input((2, 3, 4)))


# -- AlphaDropout ------------------------------------------------------------------------


@pytest.mark.parametrize("call_kwargs", [None, {"training": False}])
def test_alpha_dropout_is_identity_at_inference(call_kwargs):
    x = make_input((2, 3, 4))
    _, out = run_layer_test(
        AlphaDropout,
        {"rate": 0.3, "noise_shape": (None, 1, 4), "seed": 3},
        input_data=x,
        call_kwargs=call_kwargs,
        check_grad=False,
    )
    np.testing.assert_array_equal(out, x)


def test_alpha_dropout_config_keys_match_keras():
    x = make_input((2, 3))
    kwargs = {"rate": 0.2, "noise_shape": (None, 3), "seed": 1}
    ours = AlphaDropout(**kwargs)
    theirs = _keras_layer("AlphaDropout", kwargs, x)
    assert set(ours.get_config()) == set(theirs.get_config())
    assert AlphaDropout.from_config(theirs.get_config()).get_config() == ours.get_config() | {
        "name": theirs.name
    }


def test_alpha_dropout_formula_given_mask():
    rate = 0.25
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    saturation = -alpha * scale
    a = 1.0 / np.sqrt((1 - rate) * (1 + rate * saturation**2))
    b = -a * saturation * rate
    assert np.allclose(alpha_dropout_affine(rate), (a, b))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5)).astype("float32")
    keep = rng.uniform(size=(3, 5)) >= rate
    out = np.asarray(apply_alpha_dropout(x, keep, rate))
    np.testing.assert_allclose(out, np.where(keep, a * x + b, a * saturation + b), rtol=1e-6)


def test_alpha_dropout_training_statistics():
    rate = 0.2
    layer = AlphaDropout(rate, seed=7)
    x = make_input((200, 100))  # standard normal
    out = np.asarray(layer(x, training=True))
    a, b = alpha_dropout_affine(rate)
    dropped_value = a * (-1.6732632423543772 * 1.0507009873554805) + b
    dropped = np.isclose(out, dropped_value, atol=1e-6)
    # every entry is either the corrected input or the corrected saturation value
    np.testing.assert_allclose(out[~dropped], a * x[~dropped] + b, rtol=1e-5, atol=1e-6)
    assert abs(dropped.mean() - rate) < 0.02
    # self-normalizing: mean 0 and variance 1 are preserved
    assert abs(out.mean()) < 0.05 and abs(out.std() - 1) < 0.05
    assert not np.array_equal(out, np.asarray(layer(x, training=True)))  # fresh mask per call


def test_alpha_dropout_noise_shape_shares_mask():
    layer = AlphaDropout(0.5, noise_shape=(None, 1), seed=2)
    x = np.ones((50, 6), "float32")
    out = np.asarray(layer(x, training=True))
    assert (out == out[:, :1]).all()
    assert len(np.unique(out[:, 0])) == 2


def test_alpha_dropout_rate_zero_trains_as_identity():
    x = make_input((2, 3))
    np.testing.assert_array_equal(AlphaDropout(0.0)(x, training=True), x)


@pytest.mark.parametrize(
    "kwargs, arg, expected",
    [
        ({"rate": 1.5}, "rate", "between 0 and 1"),
        ({"rate": 1.0}, "rate", "[0, 1)"),
        ({"rate": 0.1, "noise_shape": "ab"}, "noise_shape", "tuple of positive integers"),
        ({"rate": 0.1, "seed": "x"}, "seed", "an integer or None"),
    ],
)
def test_alpha_dropout_bad_arguments(kwargs, arg, expected):
    with pytest.raises(ValueError) as info:
        AlphaDropout(**kwargs)
    message = str(info.value)
    assert f"'{arg}'" in message and expected in message and repr(kwargs[arg]) in message
