"""float8 training and inference (`quantize("float8")`) against Keras 3 as the reference."""

from __future__ import annotations

import contextlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import shoal
from shoal import quantizers

keras = pytest.importorskip("keras")


def _x(*shape, seed=0, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


@contextlib.contextmanager
def _quiet():
    """Keras' quantize warns about layers it skips (and NumPy 2's `__array__`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _model(lib):
    """A tiny Transformer-style block: EinsumDense then Dense, as the keras.io recipe."""
    inputs = lib.Input((5, 4))
    h = lib.layers.EinsumDense("abc,cd->abd", output_shape=(None, 6), bias_axes="d")(inputs)
    h = lib.layers.Activation("relu")(h)
    outputs = lib.layers.Dense(3)(h)
    return lib.Model(inputs, outputs)


def _summary(model):
    return [(v.name, tuple(v.shape), str(np.dtype(v.dtype)), v.trainable) for v in model.weights]


X, Y = _x(8, 5, 4, seed=1, scale=3.0), _x(8, 5, 3, seed=2)


def _fit(model, lib, epochs=2):
    model.compile(optimizer=lib.optimizers.Adam(1e-2), loss="mse")
    model.fit(X, Y, batch_size=4, epochs=epochs, verbose=0, shuffle=False)


@pytest.fixture(scope="module")
def pair():
    """The same model in shoal and Keras (equal weights), quantized to float8 and fitted for
    4 steps."""
    theirs = _model(keras)
    ours = _model(shoal)
    ours.set_weights(theirs.get_weights())
    with _quiet():
        theirs.quantize("float8")
        ours.quantize("float8")
    before = (ours.predict(X, verbose=0), theirs.predict(X, verbose=0))
    _fit(ours, shoal)
    _fit(theirs, keras)
    return ours, theirs, before


def _assert_close(a, b, rtol=1e-5):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * (np.abs(b).max() + 1e-12))


# -- functions ----------------------------------------------------------------------------
def test_float8_functions_match_keras():
    x = _x(6, 7, scale=40.0)
    for dtype in ("float8_e4m3fn", "float8_e5m2"):
        for scale in (1.0, 0.0157, 3e-4):
            ours = quantizers.quantize_and_dequantize(x, np.float32(scale), dtype, "float32")
            theirs = keras.quantizers.quantize_and_dequantize(
                x, np.float32(scale), dtype, "float32"
            )
            np.testing.assert_array_equal(ours, theirs)
    history = np.abs(_x(16, seed=3))
    for amax in (history.max(), 0.0, np.inf):
        args = (np.float32(amax), np.float32(0.25), np.float32(448.0))
        np.testing.assert_array_equal(
            quantizers.compute_float8_scale(*args, margin=1),
            keras.quantizers.compute_float8_scale(*args, margin=1),
        )
    np.testing.assert_array_equal(
        quantizers.compute_float8_amax_history(x, history),
        keras.quantizers.compute_float8_amax_history(x, history),
    )


@pytest.mark.parametrize("axis, narrow", [(None, False), (-1, True)])
def test_fake_quant_matches_keras_values_and_gradients(axis, narrow):
    x = _x(4, 3, seed=4, scale=2.0)
    lo, hi = (
        (np.float32(-1.3), np.float32(1.7))
        if axis is None
        else (
            np.array([-1.0, -0.4, -2.0], "float32"),
            np.array([1.0, 0.9, 0.5], "float32"),
        )
    )

    def run(fn):
        def f(x, lo, hi):
            return jnp.sum(fn(x, lo, hi, num_bits=4, narrow_range=narrow, axis=axis) * x)

        return fn(x, lo, hi, 4, narrow, axis), jax.grad(f, argnums=(0, 1, 2))(x, lo, hi)

    (ours, ours_g), (theirs, theirs_g) = (
        run(quantizers.fake_quant_with_min_max_vars),
        run(keras.quantizers.fake_quant_with_min_max_vars),
    )
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    for a, b in zip(ours_g, theirs_g, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# -- policy and config ---------------------------------------------------------------------
def test_policy_and_config_serialize_as_keras():
    ours = shoal.dtype_policies.QuantizedFloat8DTypePolicy("float8", "float32", 16)
    theirs = keras.dtype_policies.QuantizedFloat8DTypePolicy("float8", "float32", 16)
    assert shoal.dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    got = shoal.dtype_policies.deserialize(keras.dtype_policies.serialize(theirs))
    assert got == ours and got.amax_history_length == 16
    policy = shoal.dtype_policies.get("float8_from_mixed_bfloat16")
    assert type(policy).__name__ == "QuantizedFloat8DTypePolicy"
    assert (policy.compute_dtype, policy.amax_history_length) == ("bfloat16", 1024)
    config = quantizers.Float8QuantizationConfig()
    assert quantizers.serialize(config) == keras.quantizers.serialize(
        keras.quantizers.Float8QuantizationConfig()
    )
    assert quantizers.deserialize(quantizers.serialize(config)).mode == "float8"


def test_bad_arguments_name_argument_expected_and_given():
    with pytest.raises(TypeError, match=r"'amax_history_length' must be an integer; got.*'16'"):
        shoal.dtype_policies.QuantizedFloat8DTypePolicy("float8", "float32", "16")
    with pytest.raises(ValueError, match=r"'amax_history_length' must be positive; got.*0"):
        shoal.dtype_policies.QuantizedFloat8DTypePolicy("float8", "float32", 0)
    with pytest.raises(ValueError, match=r"argument 'mode' must be 'float8'; got 'int8'"):
        shoal.dtype_policies.QuantizedFloat8DTypePolicy("int8", "float32")
    layer = shoal.layers.Dense(2)
    layer.build((None, 3))
    layer.quantize("float8")
    with pytest.raises(ValueError, match=r"already quantized.*float8_from_float32.*got mode"):
        layer.quantize("float8")
    lora = shoal.layers.Dense(2, lora_rank=2)
    lora.build((None, 3))
    with pytest.raises(NotImplementedError, match=r"float8.*LoRA.*got lora_rank=2"):
        lora.quantize("float8")
    embedding = shoal.layers.Embedding(4, 2)
    embedding.build((None,))
    with pytest.raises(NotImplementedError, match=r"'mode' must be 'int8' or 'int4'.*got 'float8'"):
        embedding.quantize("float8")
    assert layer.kernel is layer._kernel  # float8 keeps the float kernel Variable


# -- layers: variables, forward, training -------------------------------------------------
def test_quantized_variables_match_keras(pair):
    ours, theirs, _ = pair
    assert _summary(ours) == _summary(theirs)
    assert ours.layers[1].dtype_policy.name == "float8_from_float32"
    ours_config, theirs_config = (m.get_layer(index=3).get_config() for m in (ours, theirs))
    assert {**ours_config, "name": None} == {**theirs_config, "name": None}
    # The scales are differentiated but never updated by the rule: no optimizer slots.
    assert [v.shape for v in ours.optimizer.variables] == [
        v.shape for v in theirs.optimizer.variables
    ]


def test_layers_built_under_the_policy_match_keras():
    for lib in (shoal, keras):
        policy = lib.dtype_policies.QuantizedFloat8DTypePolicy("float8", "float32", 16)
        layer = lib.layers.EinsumDense("ab,bc->ac", output_shape=3, bias_axes="c", dtype=policy)
        layer.build((None, 4))
        if lib is shoal:
            ours = [(v.path.split("/")[-1], tuple(v.shape)) for v in layer.weights]
        else:
            theirs = [(v.path.split("/")[-1], tuple(v.shape)) for v in layer.weights]
    assert ours == theirs and ours[1] == ("inputs_amax_history", (16,))


def test_forward_matches_keras(pair):
    _, _, (ours, theirs) = pair
    np.testing.assert_array_equal(ours, theirs)


def test_fit_matches_keras_weights_scales_and_histories(pair):
    ours, theirs, _ = pair
    for v, a, b in zip(theirs.weights, ours.get_weights(), theirs.get_weights(), strict=True):
        _assert_close(a, b)
        if "history" in v.path:
            assert np.count_nonzero(b) == 4  # one abs-max per step
    _assert_close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))


def test_inference_leaves_scales_unchanged(pair):
    ours, _, _ = pair
    before = [w.copy() for w in ours.get_weights()]
    ours.evaluate(X, Y, verbose=0)
    for a, b in zip(before, ours.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


# -- .keras files ---------------------------------------------------------------------------
def test_keras_files_load_both_ways(pair, tmp_path):
    ours, theirs, _ = pair
    theirs.save(tmp_path / "theirs.keras")
    ours.save(tmp_path / "ours.keras")
    with _quiet():
        loaded_ours = shoal.saving.load_model(tmp_path / "theirs.keras")
        loaded_theirs = keras.saving.load_model(tmp_path / "ours.keras")
    np.testing.assert_array_equal(loaded_ours.predict(X, verbose=0), theirs.predict(X, verbose=0))
    np.testing.assert_array_equal(loaded_theirs.predict(X, verbose=0), ours.predict(X, verbose=0))
    assert _summary(loaded_ours) == _summary(loaded_theirs)
    # Training resumes alike from the loaded optimizer state.
    for model in (loaded_ours, loaded_theirs):
        model.fit(X, Y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(loaded_ours.get_weights(), loaded_theirs.get_weights(), strict=True):
        _assert_close(a, b)
