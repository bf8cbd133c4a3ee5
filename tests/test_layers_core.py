"""Core layers through the shared harness: Dense, Identity, Lambda, InputLayer."""

from __future__ import annotations

import numpy as np
import pytest
from harness import run_layer_test

import shoal
from shoal import layers

DENSE_CASES = [
    ({"units": 3}, (2, 4)),
    ({"units": 5, "activation": "relu", "use_bias": False}, (2, 4)),
    ({"units": 2, "activation": "softmax", "kernel_initializer": "he_normal"}, (2, 3, 4)),
    (
        {
            "units": 3,
            "kernel_regularizer": "l2",
            "bias_regularizer": "l1",
            "kernel_constraint": "max_norm",
        },
        (2, 4),
    ),
]


@pytest.mark.parametrize("kwargs,shape", DENSE_CASES)
def test_dense(kwargs, shape):
    run_layer_test(
        layers.Dense,
        kwargs,
        input_shape=shape,
        expected_output_shape=shape[:-1] + (kwargs["units"],),
    )


def test_dense_numpy_reference_and_weight_layout():
    layer, out = run_layer_test(
        layers.Dense,
        {"units": 3, "activation": "tanh"},
        input_shape=(2, 4),
        numpy_reference=lambda x, w: np.tanh(x @ w[0] + w[1]),
        compare_keras=False,
        check_saving=False,
    )
    assert [w.name for w in layer.weights] == ["kernel", "bias"]
    assert [w.shape for w in layer.weights] == [(4, 3), (3,)]


def test_identity():
    run_layer_test(
        layers.Identity, {}, input_shape=(2, 3), expected_output_shape=(2, 3), check_grad=False
    )


def test_lambda_runs_and_refuses_unsafe_loading():
    layer = layers.Lambda(lambda x: x * 2.0 + 1.0)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(layer(x), 3.0)
    inputs = shoal.Input((3,))
    assert layer(inputs).shape == (None, 3)
    config = layer.get_config()
    with pytest.raises(ValueError, match="safe_mode"):
        layers.Lambda.from_config(config)
    clone = layers.Lambda.from_config(config, safe_mode=False)
    np.testing.assert_allclose(clone(x), 3.0)


def test_lambda_output_shape_argument():
    layer = layers.Lambda(lambda x: x[:, :2], output_shape=(2,))
    assert layer(shoal.Input((5,))).shape == (None, 2)


def test_input_layer_shapes_and_dtypes():
    x = shoal.Input(shape=(3, 4), batch_size=8, dtype="int32", name="ids")
    assert x.shape == (8, 3, 4) and x.dtype == "int32" and x.name == "ids"
    y = shoal.Input(batch_shape=(None, 7))
    assert y.shape == (None, 7)
    with pytest.raises(ValueError, match=r"pass either `shape` or `batch_shape`"):
        shoal.Input(shape=(3,), batch_shape=(None, 3))


def test_dense_lora_matches_keras(tmp_path):
    """Dense(lora_rank=2): Keras' weight order, trainable set, outputs and weights file
    (the update merged into the kernel)."""
    import keras

    import shoal

    x = np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)
    ours, theirs = shoal.layers.Dense(3, lora_rank=2), keras.layers.Dense(3, lora_rank=2)
    ours(x), theirs(x)
    values = [np.full(w.shape, 0.1 * (i + 1), "float32") for i, w in enumerate(ours.get_weights())]
    ours.set_weights(values)
    theirs.set_weights(values)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-6)
    assert [v.name for v in ours.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    assert ours.get_config()["lora_rank"] == 2
    path = str(tmp_path / "lora.weights.h5")
    shoal.Sequential([shoal.Input((4,)), ours]).save_weights(path)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    plain.load_weights(path)
    np.testing.assert_allclose(plain(x), theirs(x), rtol=1e-6)
    with pytest.raises(ValueError, match="enable_lora needs a built layer without LoRA"):
        ours.enable_lora(2)


@pytest.mark.parametrize("mode", [None, "int8", "int4"])
def test_embedding_lora_matches_keras(mode, tmp_path):
    """Embedding LoRA (QLoRA over a quantized table too): Keras' weights, outputs, and the
    weights file (the update merged in, re-quantized), which a plain Keras layer loads."""
    import warnings

    import keras

    ids = np.array([[0, 3, 5], [2, 2, 1]])

    def make(k, **kwargs):
        layer = k.layers.Embedding(6, 4, **kwargs)
        layer(ids)
        return layer

    ours, theirs = make(shoal), make(keras)
    ours.set_weights(theirs.get_weights())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras' quantize warns about NumPy 2
        for layer in (ours, theirs):
            if mode:
                layer.quantize(mode)
            layer.enable_lora(2, lora_alpha=3.0)

    def summary(layer):
        return [(w.name, tuple(w.shape), str(w.dtype), w.trainable) for w in layer.weights]

    assert summary(ours) == summary(theirs)
    factors = [w for w in theirs.weights if "lora" in w.name]
    for i, w in enumerate(factors):
        w.assign(np.random.default_rng(i).standard_normal(w.shape).astype("float32"))
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(ids), theirs(ids), rtol=1e-6, atol=1e-6)
    path, their_path = str(tmp_path / "lora.weights.h5"), str(tmp_path / "k.weights.h5")
    shoal.Sequential([shoal.Input((3,), dtype="int32"), ours]).save_weights(path)
    keras.Sequential([keras.Input((3,), dtype="int32"), theirs]).save_weights(their_path)

    def plain_keras(weights_file):
        plain = keras.Sequential([keras.Input((3,), dtype="int32"), make(keras)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if mode:
                plain.quantize(mode)
        plain.load_weights(weights_file)
        return plain(ids)

    merged = plain_keras(path)
    np.testing.assert_allclose(merged, plain_keras(their_path), rtol=1e-6, atol=1e-6)
    if mode is None:
        np.testing.assert_allclose(merged, theirs(ids), rtol=1e-6, atol=1e-6)
    reloaded = shoal.Sequential([shoal.Input((3,), dtype="int32"), make(shoal)])
    if mode:
        reloaded.quantize(mode)
    reloaded.layers[-1].enable_lora(2)
    reloaded.load_weights(path)
    np.testing.assert_allclose(reloaded(ids), merged, rtol=1e-6, atol=1e-6)
    lora_layer = shoal.layers.Embedding(6, 4, lora_rank=2, lora_alpha=4)
    lora_layer(ids)
    assert lora_layer.get_config()["lora_rank"] == 2 and lora_layer.lora_alpha == 4
    lora_layer.quantize("int8")  # the base table; the factors are kept, as Keras
    assert lora_layer.lora_enabled and lora_layer.quantization_mode == "int8"
