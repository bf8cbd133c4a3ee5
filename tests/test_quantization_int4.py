"""int4 post-training quantization (`quantize("int4")`) against Keras 3 as the reference."""

from __future__ import annotations

import contextlib
import warnings

import jax
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


def _config(lib, spec):
    """An Int4QuantizationConfig from `spec`: None (the default), a block size, or "act"
    (per-channel with inputs quantized too)."""
    if spec == "default":
        return None
    if spec == "act":
        act = lib.quantizers.AbsMaxQuantizer()
        return lib.quantizers.Int4QuantizationConfig(block_size=None, activation_quantizer=act)
    return lib.quantizers.Int4QuantizationConfig(block_size=spec)


def _pair(make, x, spec="default"):
    """The same float layer in shoal and Keras (equal weights), both quantized to int4."""
    ours, theirs = make(shoal), make(keras)
    ours(x), theirs(x)
    weights = [_x(*w.shape, seed=i + 1) for i, w in enumerate(ours.get_weights())]
    ours.set_weights(weights)
    theirs.set_weights(weights)
    ours.quantize("int4", config=_config(shoal, spec))
    with _quiet():
        theirs.quantize("int4", config=_config(keras, spec))
    return ours, theirs


def _summary(layer):
    return [(v.name, tuple(v.shape), str(np.dtype(v.dtype)), v.trainable) for v in layer.weights]


def _assert_same(ours, theirs, x, rtol=1e-5):
    assert _summary(ours) == _summary(theirs)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    out, ref = ours(x), theirs(x)
    assert str(out.dtype) == str(ref.dtype)
    out, ref = np.asarray(out, "float32"), np.asarray(ref, "float32")
    np.testing.assert_allclose(out, ref, rtol=rtol, atol=rtol * np.abs(ref).max())
    assert ours.dtype_policy.name == theirs.dtype_policy.name
    config, keras_config = ours.get_config(), theirs.get_config()
    assert config["dtype"] == keras_config["dtype"]
    assert config["quantization_config"] == keras_config["quantization_config"]


def _dense(k):
    return k.layers.Dense(5, activation="relu")


def _einsum(k):
    return k.layers.EinsumDense("abc,cde->abde", (3, 2, 5), bias_axes="de")


def _einsum_last(k):  # the contracted axis last in the kernel: Keras' plain 2-D reshape
    return k.layers.EinsumDense("abc,dbc->adb", (5, 3), bias_axes="d")


@pytest.mark.parametrize(
    "make, shape, spec",
    [
        (_dense, (2, 7), "default"),
        (lambda k: k.layers.Dense(6, dtype="mixed_bfloat16"), (3, 9), None),
        (_dense, (2, 7), "act"),
        (lambda k: k.layers.Dense(3, use_bias=False), (2, 5, 4), 2),
        (_einsum, (2, 3, 4), -1),
        (_einsum_last, (2, 3, 4), None),
        (_einsum_last, (2, 3, 4), 3),
        (_einsum_last, (2, 3, 4), "act"),
    ],
)
def test_int4_matches_keras(make, shape, spec):
    x = _x(*shape, seed=9)
    ours, theirs = _pair(make, x, spec)
    _assert_same(ours, theirs, x)
    np.testing.assert_array_equal(ours.kernel, theirs.kernel)  # the unpacked values


def test_int4_layouts():
    ours, _ = _pair(_dense, _x(2, 7))  # default: block_size=128, one group of 7 rows
    assert ours.dtype_policy.name == "int4/128_from_float32"
    assert _summary(ours) == [
        ("bias", (5,), "float32", True),
        ("kernel", (7, 3), "int8", False),
        ("kernel_scale", (1, 5), "float32", False),
        ("kernel_zero", (1, 5), "int8", False),
        ("g_idx", (7,), "float32", False),
    ]
    ours, _ = _pair(_einsum_last, _x(2, 3, 4), spec=None)
    assert ours.dtype_policy.name == "int4/-1_from_float32"
    assert [tuple(v.shape) for v in ours.weights] == [(5, 1), (4, 8), (15,)]


@pytest.mark.parametrize("spec, output_dim, dtype", [(None, 4, "mixed_bfloat16"), (3, 5, None)])
def test_embedding_int4_matches_keras(spec, output_dim, dtype):
    ids = np.array([[0, 3, 7], [9, 1, 1]], "int32")
    ours, theirs = _pair(lambda k: k.layers.Embedding(10, output_dim, dtype=dtype), ids, spec)
    _assert_same(ours, theirs, ids)
    assert str(ours.weights[0].dtype) == "int8"
    assert tuple(ours.weights[0].shape) == (10, (output_dim + 1) // 2)


@pytest.mark.parametrize("make, x, spec", [(_dense, _x(2, 7), None), (_einsum, _x(2, 3, 4), 3)])
def test_lora_on_int4_matches_keras(make, x, spec):
    ours, theirs = _pair(make, x, spec)
    ours.enable_lora(2)
    theirs.enable_lora(2)
    b = _x(*theirs.lora_kernel_b.shape, seed=5)
    for layer in (ours, theirs):
        layer.lora_kernel_a.assign(theirs.lora_kernel_a.numpy())
        layer.lora_kernel_b.assign(b)
    assert _summary(ours) == _summary(theirs)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.kernel, theirs.kernel, rtol=1e-6, atol=1e-6)
    assert [v.name for v in ours.trainable_weights] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    saved, keras_saved = {}, {}
    ours.save_own_variables(saved)  # the update merged in and quantized again
    theirs.save_own_variables(keras_saved)
    assert list(saved) == list(keras_saved)
    for key, value in saved.items():
        np.testing.assert_allclose(value, keras_saved[key], rtol=1e-6)
    ours.load_own_variables(saved)
    assert not np.asarray(ours.lora_kernel_b).any()


def _model(k):
    i = k.Input((3,), dtype="int32")
    h = k.layers.Embedding(8, 5)(i)
    h = k.layers.EinsumDense("abc,cd->abd", (3, 6), bias_axes="d")(h)
    return k.Model(i, k.layers.Dense(3)(h))


_IDS = np.array([[1, 2, 3], [7, 0, 5]], "int32")


@pytest.mark.parametrize("block_size", [2, None])
def test_model_quantize_save_load_both_ways(tmp_path, block_size):
    theirs = _model(keras)
    with _quiet():
        theirs.quantize(
            "int4", config=keras.quantizers.Int4QuantizationConfig(block_size=block_size)
        )
    expected = theirs.predict(_IDS, verbose=0)
    path = str(tmp_path / "keras.keras")
    theirs.save(path)
    loaded = shoal.saving.load_model(path)
    for layer, keras_layer in zip(loaded.layers[1:], theirs.layers[1:], strict=True):
        assert _summary(layer) == _summary(keras_layer)
        assert layer.dtype_policy.name == keras_layer.dtype_policy.name
    np.testing.assert_allclose(loaded.predict(_IDS, verbose=0), expected, rtol=1e-5, atol=1e-6)

    ours = _model(shoal)
    ours.set_weights(_model(keras).get_weights())  # any float weights
    with pytest.warns(UserWarning):  # InputLayer cannot be quantized, as Keras
        ours.quantize(config=quantizers.Int4QuantizationConfig(block_size=block_size))
    before = ours.predict(_IDS, verbose=0)
    mine = str(tmp_path / "shoal.keras")
    ours.save(mine)
    np.testing.assert_allclose(
        shoal.saving.load_model(mine).predict(_IDS, verbose=0), before, rtol=1e-6
    )
    in_keras = keras.saving.load_model(mine)
    for layer, keras_layer in zip(ours.layers, in_keras.layers, strict=True):
        assert _summary(layer) == _summary(keras_layer)
    np.testing.assert_allclose(in_keras.predict(_IDS, verbose=0), before, rtol=1e-5, atol=1e-6)


def test_fit_after_quantize_trains_float_weights_only():
    model = shoal.Sequential([shoal.Input((4,)), shoal.layers.Dense(3), shoal.layers.Dense(1)])
    model.quantize(config=quantizers.Int4QuantizationConfig(block_size=2))
    dense = model.layers[0]
    assert [v.name for v in model.trainable_weights] == ["bias", "bias"]
    frozen = [np.array(v) for v in dense.weights[1:]]
    bias = np.array(dense.bias)
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(_x(8, 4), _x(8, 1, seed=1), epochs=2, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    for variable, value in zip(dense.weights[1:], frozen, strict=True):
        np.testing.assert_array_equal(variable, value)
    assert not np.allclose(dense.bias, bias)  # gradients reach the first layer through int4
    x = _x(2, 4)
    grad = jax.grad(lambda v: dense(v).sum())(x)
    np.testing.assert_allclose(grad, np.tile(dense._kernel_value().sum(1), (2, 1)), rtol=1e-6)


def test_pack_unpack_match_keras():
    rng = np.random.default_rng(0)
    for shape, axis in [((3, 5), 0), ((3, 5), -1), ((2, 3, 4), 1), ((4,), 0)]:
        values = rng.integers(-8, 8, shape).astype("int8")
        packed, packed_shape, n = quantizers.pack_int4(values, axis=axis)
        keras_packed, keras_shape, keras_n = keras.quantizers.pack_int4(values, axis=axis)
        np.testing.assert_array_equal(packed, keras_packed)
        assert (packed_shape, n) == (keras_shape, keras_n) and str(packed.dtype) == "int8"
        np.testing.assert_array_equal(quantizers.unpack_int4(packed, n, axis=axis), values)
    unsigned = rng.integers(0, 16, (3, 2)).astype("uint8")
    packed, _, n = quantizers.pack_int4(unsigned, dtype="uint8")
    np.testing.assert_array_equal(packed, keras.quantizers.pack_int4(unsigned, dtype="uint8")[0])
    np.testing.assert_array_equal(quantizers.unpack_int4(packed, n, dtype="uint8"), unsigned)
    with pytest.raises(TypeError, match="'arr' must be a int8 tensor; got float32"):
        quantizers.pack_int4(np.zeros(2, "float32"))
    with pytest.raises(ValueError, match="'dtype' must be 'int8' or 'uint8'; got 'int4'"):
        quantizers.unpack_int4(packed, n, dtype="int4")


def test_grouped_quantize_matches_keras():
    x = _x(7, 3)
    x[:3, 0] = 0.5  # a constant group: Keras' tensor path widens its range
    for to_numpy in (True, False):
        for block_size in (3, 128):
            ours = quantizers.abs_max_quantize_grouped_with_zero_point(
                x, block_size, to_numpy=to_numpy
            )
            theirs = keras.quantizers.abs_max_quantize_grouped_with_zero_point(
                x, block_size, to_numpy=to_numpy
            )
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-6)
                assert str(a.dtype) == str(b.dtype)


def test_policies_match_keras():
    get = shoal.dtype_policies.get
    for name in ("int4/128_from_float32", "int4/-1_from_mixed_bfloat16", "int4_from_float32"):
        policy, keras_policy = get(name), keras.dtype_policies.get(name)
        assert type(policy).__name__ == type(keras_policy).__name__
        assert policy.name == keras_policy.name and policy.quantization_mode == "int4"
        assert policy.get_config() == keras_policy.get_config()
        assert shoal.dtype_policies.serialize(policy) == keras.dtype_policies.serialize(
            keras_policy
        )
        assert get(keras.dtype_policies.serialize(keras_policy)) == policy
    assert get("int4/64_from_float32").block_size == 64
    assert get("int4/64_from_float32") != get("int4/32_from_float32")
    for dtype in ("int4_from_float32", "int4/2_from_float32"):  # a loaded model's build
        layers = [k.layers.Dense(3, dtype=dtype) for k in (shoal, keras)]
        for layer in layers:
            layer.build((None, 5))
        assert _summary(layers[0]) == _summary(layers[1])
    config = quantizers.Int4QuantizationConfig(block_size=64)
    restored = quantizers.deserialize(quantizers.serialize(config))
    assert restored.block_size == 64 and restored.activation_quantizer is None
    assert quantizers.Int4QuantizationConfig.from_config({}).block_size is None  # as Keras


def test_errors():
    for bad in (0, -2, 1.5, "64", True):
        with pytest.raises(ValueError, match=rf"'block_size' must be None, -1.*got block_size={bad!r}"):  # fmt: skip
            quantizers.Int4QuantizationConfig(block_size=bad)
    with pytest.raises(ValueError, match="'weight_quantizer' and 'activation_quantizer' must be"):
        quantizers.Int4QuantizationConfig(activation_quantizer=quantizers.AbsMaxQuantizer())
    with pytest.raises(ValueError, match=r"value_range=\(-8, 7\).*got value_range=\(-127, 127\)"):
        quantizers.Int4QuantizationConfig(quantizers.AbsMaxQuantizer(), block_size=None)
    with pytest.raises(ValueError, match="'mode' must read 'int4/<block_size>'.*got 'int4/0'"):
        shoal.dtype_policies.get("int4/0_from_float32")
    with pytest.raises(ValueError, match="'mode' must read 'int4/<block_size>'.*got 'int4/x'"):
        shoal.dtype_policies.Int4DTypePolicy("int4/x", "float32")
    layer = shoal.layers.Dense(2)
    layer.build((None, 3))
    with pytest.raises(ValueError, match="argument 'mode' must match the config's mode 'int4'"):
        layer.quantize("int8", config=quantizers.Int4QuantizationConfig())
    half = shoal.layers.Dense(2, dtype="float16")  # allowed for int4, as Keras
    half.build((None, 3))
    half.quantize("int4")
    assert half.dtype_policy.name == "int4/128_from_float16"
    with pytest.raises(ValueError, match="already quantized"):
        half.quantize("int4")
