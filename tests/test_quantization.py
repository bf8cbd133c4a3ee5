"""int8 post-training quantization (`quantize("int8")`) against Keras 3 as the reference."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

import shoal
from shoal import quantizers

keras = pytest.importorskip("keras")


def _x(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


@contextlib.contextmanager
def _quiet():
    """Keras' quantize warns about NumPy 2's `__array__(copy=)` (and skipped layers)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _pair(make, x):
    """The same float layer in shoal and Keras (equal weights), both quantized."""
    ours, theirs = make(shoal), make(keras)
    ours(x), theirs(x)
    weights = [_x(*w.shape, seed=i + 1) for i, w in enumerate(ours.get_weights())]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    ours.quantize("int8")
    with _quiet():
        theirs.quantize("int8")
    return ours, theirs


def _summary(layer):
    return [(v.name, tuple(v.shape), str(np.dtype(v.dtype)), v.trainable) for v in layer.weights]


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda k: k.layers.Dense(3, activation="relu"), (2, 4)),
        (lambda k: k.layers.Dense(3, use_bias=False), (2, 5, 4)),
        (lambda k: k.layers.EinsumDense("abc,cde->abde", (3, 2, 5), bias_axes="de"), (2, 3, 4)),
        (lambda k: k.layers.EinsumDense("abc,dbc->adb", (5, 3), bias_axes="d"), (2, 3, 4)),
    ],
)
def test_int8_matches_keras(make, shape):
    x = _x(*shape, seed=9)
    ours, theirs = _pair(make, x)
    assert _summary(ours) == _summary(theirs)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
    assert ours.dtype_policy.name == "int8_from_float32"
    assert ours.get_config()["dtype"] == theirs.get_config()["dtype"]


def test_embedding_int8_matches_keras():
    ids = np.array([[0, 3, 7], [9, 1, 1]], "int32")
    ours, theirs = _pair(lambda k: k.layers.Embedding(10, 4), ids)
    assert _summary(ours) == [
        ("embeddings", (10, 4), "int8", False),
        ("embeddings_scale", (10,), "float32", False),
    ]
    assert _summary(ours) == _summary(theirs)
    np.testing.assert_allclose(ours(ids), theirs(ids), rtol=1e-6)


def test_abs_max_quantize_matches_keras():
    x = _x(3, 5)
    for axis in (-1, 0, (0, 1)):
        for to_numpy in (False, True):
            q, s = quantizers.abs_max_quantize(x, axis, to_numpy=to_numpy)
            kq, ks = keras.quantizers.abs_max_quantize(x, axis, to_numpy=to_numpy)
            np.testing.assert_array_equal(q, kq)
            np.testing.assert_allclose(s, ks, rtol=1e-7)
            assert str(q.dtype) == "int8"
    q, s = quantizers.AbsMaxQuantizer(axis=0, value_range=(-8, 7))(x)
    kq, ks = keras.quantizers.AbsMaxQuantizer(axis=0, value_range=(-8, 7))(x)
    np.testing.assert_array_equal(q, kq)
    with pytest.raises(ValueError, match="value_range"):
        quantizers.AbsMaxQuantizer(value_range=(-300, 127))


def _model(k):
    i = k.Input((3,), dtype="int32")
    h = k.layers.Embedding(8, 4)(i)
    h = k.layers.EinsumDense("abc,cd->abd", (3, 5), bias_axes="d")(h)
    h = k.layers.Conv1D(2, 2)(h)
    return k.Model(i, k.layers.Dense(2)(h))


_IDS = np.array([[1, 2, 3], [7, 0, 5]], "int32")


def test_model_quantize_save_load_both_ways(tmp_path):
    theirs = _model(keras)
    with _quiet():
        theirs.quantize("int8")
    expected = theirs.predict(_IDS, verbose=0)
    path = str(tmp_path / "keras.keras")
    theirs.save(path)
    loaded = shoal.saving.load_model(path)
    assert loaded.layers[1].dtype_policy.name == "int8_from_float32"
    np.testing.assert_allclose(loaded.predict(_IDS, verbose=0), expected, rtol=1e-5, atol=1e-6)

    ours = _model(shoal)
    ours.set_weights(_model(keras).get_weights())  # any float weights
    with pytest.warns(UserWarning) as record:  # as Keras: layers it cannot quantize
        ours.quantize("int8")
    assert [str(w.message).split()[1] for w in record] == ["InputLayer", "Conv1D"]
    before = ours.predict(_IDS, verbose=0)
    mine = str(tmp_path / "shoal.keras")
    ours.save(mine)
    again = shoal.saving.load_model(mine)
    np.testing.assert_allclose(again.predict(_IDS, verbose=0), before, rtol=1e-6)
    assert _summary(again.layers[-1]) == [  # Keras' order: trainable first
        ("bias", (2,), "float32", True),
        ("kernel", (2, 2), "int8", False),
        ("kernel_scale", (2,), "float32", False),
    ]
    in_keras = keras.saving.load_model(mine)
    assert _summary(in_keras.layers[-1]) == _summary(again.layers[-1])
    assert in_keras.layers[-1].quantization_mode == "int8"
    np.testing.assert_allclose(in_keras.predict(_IDS, verbose=0), before, rtol=1e-5, atol=1e-6)


def test_quantized_matches_float_model_closely():
    model = shoal.Sequential([shoal.Input((6,)), shoal.layers.Dense(8), shoal.layers.Dense(2)])
    x = _x(4, 6)
    ref = model.predict(x, verbose=0)
    model.quantize("int8")
    out = model.predict(x, verbose=0)  # the compiled predict step is rebuilt
    np.testing.assert_allclose(out, ref, atol=0.05 * np.abs(ref).max())
    assert not np.array_equal(out, ref)


def test_fit_after_quantize_trains_float_weights_only():
    model = shoal.Sequential([shoal.Input((4,)), shoal.layers.Dense(3), shoal.layers.Dense(1)])
    model.quantize("int8")
    dense = model.layers[0]
    assert [v.name for v in model.trainable_weights] == ["bias", "bias"]
    kernel, scale, bias = (np.array(v) for v in (dense._kernel, dense.kernel_scale, dense.bias))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(_x(8, 4), _x(8, 1, seed=1), epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    np.testing.assert_array_equal(dense._kernel, kernel)
    np.testing.assert_array_equal(dense.kernel_scale, scale)
    assert not np.allclose(dense.bias, bias)  # gradients reach the first layer through int8


def test_inputs_gradient_is_the_dequantized_kernels():
    import jax

    layer = shoal.layers.Dense(3, kernel_initializer=shoal.initializers.GlorotUniform(seed=1))
    x = _x(2, 4)
    layer(x)
    layer.quantize("int8")
    grad = jax.grad(lambda v: layer(v).sum())(x)
    kernel = np.asarray(layer._kernel, "float32") / np.asarray(layer.kernel_scale)
    # Sums of three terms in another order: near-cancelling rows need an absolute bound.
    np.testing.assert_allclose(grad, np.tile(kernel.sum(1), (2, 1)), rtol=1e-6, atol=1e-6)


def test_lora_on_int8_dense_matches_keras(tmp_path):
    x = _x(2, 4)
    ours, theirs = _pair(lambda k: k.layers.Dense(3), x)
    ours.enable_lora(2)
    theirs.enable_lora(2)
    b = _x(2, 3, seed=5)
    for layer in (ours, theirs):
        layer.lora_kernel_a.assign(theirs.lora_kernel_a.numpy())
        layer.lora_kernel_b.assign(b)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
    assert [v.name for v in ours.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    path = str(tmp_path / "lora.weights.h5")
    shoal.Sequential([shoal.Input((4,)), ours]).save_weights(path)
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with _quiet():
        plain.quantize("int8")
        plain.load_weights(path)  # the update merged and quantized again
    np.testing.assert_allclose(plain(x), theirs(x), atol=0.05)


def test_build_under_quantized_policy():
    layer = shoal.layers.Dense(2, dtype="int8_from_mixed_bfloat16")
    layer.build((None, 3))
    assert layer.compute_dtype == "bfloat16" and layer.variable_dtype == "float32"
    assert _summary(layer)[1] == ("kernel", (3, 2), "int8", False)  # after the bias
    assert shoal.dtype_policies.get(
        "int8_from_float32"
    ) == shoal.dtype_policies.QuantizedDTypePolicy("int8", "float32")


def test_errors():
    layer = shoal.layers.Dense(2)
    with pytest.raises(ValueError, match="isn't yet built"):
        layer.quantize("int8")
    layer.build((None, 3))
    with pytest.raises(ValueError, match=r"argument 'mode'.*'int8'.*got 'int5'"):
        layer.quantize("int5")
    with pytest.raises(NotImplementedError, match=r"argument 'mode'.*got 'gptq'"):
        layer.quantize("gptq")
    with pytest.raises(ValueError, match="'mode'.*or 'config'"):
        layer.quantize()
    layer.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")
    with pytest.raises(NotImplementedError, match="Conv1D does not have a `quantize`"):
        conv = shoal.layers.Conv1D(2, 2)
        conv.build((None, 4, 3))
        conv.quantize("int8")
    with pytest.raises(ValueError, match="isn't yet built"):
        shoal.Sequential([shoal.layers.Dense(2)]).quantize("int8")
    with pytest.raises(ValueError, match="float16"):
        half = shoal.layers.Dense(2, dtype="mixed_float16")
        half.build((None, 3))
        half.quantize("int8")
    with pytest.raises(NotImplementedError, match="'gptq'"):
        shoal.dtype_policies.get("gptq_from_float32")


def test_weight_only_config_and_filters():
    model = shoal.Sequential(
        [shoal.Input((4,)), shoal.layers.Dense(3, name="a"), shoal.layers.Dense(2, name="b")]
    )
    config = quantizers.Int8QuantizationConfig(activation_quantizer=None)
    model.quantize(config=config, filters="^b$")
    a, b = model.layers
    assert a.quantization_mode is None and b.quantization_mode == "int8"
    assert b.inputs_quantizer is None
    x = _x(2, 4)
    dequant = np.asarray(b._kernel, "float32") / np.asarray(b.kernel_scale)
    np.testing.assert_allclose(model(x), a(x) @ dequant + np.asarray(b.bias), rtol=1e-5)
    rebuilt = shoal.layers.Dense.from_config(b.get_config())
    assert rebuilt.quantization_config.activation_quantizer is None


def _attention_model(k, layer):
    q, v = k.Input((3, 8)), k.Input((4, 8))
    return k.Model([q, v], layer(k)(q, v))


@pytest.mark.parametrize(
    "layer",
    [
        lambda k: k.layers.MultiHeadAttention(2, 4, use_gate=True),
        lambda k: k.layers.GroupQueryAttention(4, 2, 2),
    ],
    ids=["mha", "gqa"],
)
def test_attention_projections_quantize_as_keras(layer):
    # Keras' attention layers project through EinsumDense sub-layers, so quantize() and
    # enable_lora() reach them; shoal's are EinsumDense too.
    ours, theirs = _attention_model(shoal, layer), _attention_model(keras, layer)
    weights = [_x(*w.shape, seed=i + 1) for i, w in enumerate(theirs.get_weights())]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    inputs = [_x(2, 3, 8, seed=20), _x(2, 4, 8, seed=21)]
    with _quiet():  # both warn that the InputLayers have no quantize()
        ours.quantize("int8")
        theirs.quantize("int8")
    assert [(n, s, d) for n, s, d, _ in map(tuple, _summary(ours))] == [
        (n, s, d) for n, s, d, _ in map(tuple, _summary(theirs))
    ]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(
        ours.predict(inputs, verbose=0), theirs.predict(inputs, verbose=0), rtol=1e-5, atol=1e-5
    )
    attention = ours.layers[-1]
    projections = [sub for sub in attention._layers if isinstance(sub, shoal.layers.EinsumDense)]
    assert [p.quantization_mode for p in projections] == ["int8"] * len(projections)


def test_lora_on_an_attention_projection_matches_keras():
    def make(k):
        layer = k.layers.MultiHeadAttention(2, 4)
        q = _x(2, 3, 8, seed=3)
        layer(q, q)
        return layer, q

    (ours, q), (theirs, _) = make(shoal), make(keras)
    ours.set_weights(theirs.get_weights())
    ours.query_dense.enable_lora(2)
    theirs.query_dense.enable_lora(2)
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)
    assert [w.shape for w in ours.query_dense.trainable_weights] == [
        w.shape for w in theirs.query_dense.trainable_weights
    ]
    factors = [_x(*w.shape, seed=30 + i) for i, w in enumerate(theirs.query_dense.weights[-2:])]
    for layer in (ours, theirs):
        for w, value in zip(layer.query_dense.weights[-2:], factors, strict=True):
            w.assign(value)
    np.testing.assert_allclose(ours(q, q), theirs(q, q), rtol=1e-5, atol=1e-5)
