"""One test harness for every layer (Keras' run_layer_test, stax's shape rule).

`run_layer_test` checks, for one layer configuration:
1. eager output shape == compute_output_shape / symbolic output shape;
2. outputs equal Keras 3's (JAX backend) given the same weights via set_weights(get_weights())
   (or a NumPy reference function);
3. gradients (w.r.t. float inputs and trainable weights) match finite differences;
4. get_config / from_config round trip gives the same config and outputs;
5. a model holding the layer survives model.save / load_model with identical outputs.
"""

from __future__ import annotations

import os
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

import shoal


def make_input(shape, dtype="float32", seed=0, low=None, high=None):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(low or 0, high or 10, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _to_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _assert_close(a, b, rtol, atol, what):
    a_leaves = jax.tree_util.tree_leaves(a)
    b_leaves = jax.tree_util.tree_leaves(b)
    assert len(a_leaves) == len(b_leaves), f"{what}: {len(a_leaves)} vs {len(b_leaves)} outputs"
    for x, y in zip(a_leaves, b_leaves, strict=True):
        np.testing.assert_allclose(
            np.asarray(x, dtype=np.float64),
            np.asarray(y, dtype=np.float64),
            rtol=rtol,
            atol=atol,
            err_msg=what,
        )


def normal(*shape, seed=0):
    """float32 standard normal samples of `shape`."""
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def assert_outputs_close(a, b, rtol=1e-5, atol=1e-6):
    """Two model outputs (an array, or lists / tuples of arrays) equal within tolerance."""
    a = a if isinstance(a, (list, tuple)) else [a]
    b = b if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(p), np.asarray(q), rtol=rtol, atol=atol)


def save_load_round_trip(model, data):
    """`model` saved to `.keras` and loaded back; asserts the loaded model predicts as it
    did. Returns the loaded model."""
    before = model.predict(data, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
    _assert_close(loaded.predict(data, verbose=0), before, 1e-6, 1e-6, "save/load round trip")
    return loaded


def keras_reference(keras_cls_name, init_kwargs, inputs, weights, call_kwargs=None):
    import keras

    cls = getattr(keras.layers, keras_cls_name)
    layer = cls(**init_kwargs)
    call_kwargs = call_kwargs or {}
    layer(inputs, **call_kwargs)  # builds the weights
    layer.set_weights(weights)
    return jax.tree_util.tree_map(np.asarray, layer(inputs, **call_kwargs))


def check_gradients(layer, inputs, call_kwargs=None, eps=1e-3, rtol=2e-2, atol=2e-3, seed=0):
    """Directional finite differences of a random projection of the output."""
    call_kwargs = call_kwargs or {}
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    flat_inputs = _to_list(inputs)
    float_idx = [i for i, x in enumerate(flat_inputs) if np.asarray(x).dtype.kind == "f"]
    probe = None

    def f(params, float_inputs):
        xs = list(flat_inputs)
        for i, v in zip(float_idx, float_inputs, strict=True):
            xs[i] = v
        args = (xs,) if isinstance(inputs, list) else tuple(xs)
        out, _ = layer.stateless_call(params, non_trainable, *args, **call_kwargs)
        leaves = jax.tree_util.tree_leaves(out)
        return sum(jnp.sum(leaf * p) for leaf, p in zip(leaves, probe, strict=True))

    f = jax.jit(f)
    args0 = (flat_inputs,) if isinstance(inputs, list) else tuple(flat_inputs)
    out, _ = layer.stateless_call(trainable, non_trainable, *args0, **call_kwargs)
    rng = np.random.default_rng(seed)
    probe = [
        jnp.asarray(rng.standard_normal(np.shape(o)), jnp.float32)
        for o in jax.tree_util.tree_leaves(out)
    ]
    primals = (trainable, [jnp.asarray(flat_inputs[i]) for i in float_idx])
    grads = jax.grad(f, argnums=(0, 1))(*primals)
    direction = jax.tree_util.tree_map(
        lambda p: jnp.asarray(rng.standard_normal(np.shape(p)), jnp.float32), primals
    )
    analytic = sum(
        float(jnp.vdot(g, d))
        for g, d in zip(
            jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(direction), strict=True
        )
    )
    plus = jax.tree_util.tree_map(lambda p, d: p + eps * d, primals, direction)
    minus = jax.tree_util.tree_map(lambda p, d: p - eps * d, primals, direction)
    numeric = (float(f(*plus)) - float(f(*minus))) / (2 * eps)
    assert np.isfinite(analytic), "gradient is not finite"
    np.testing.assert_allclose(
        analytic,
        numeric,
        rtol=rtol,
        atol=atol,
        err_msg=f"{layer.name}: gradient vs finite differences",
    )


def run_layer_test(
    layer_cls,
    init_kwargs=None,
    input_shape=None,
    input_data=None,
    input_dtype="float32",
    expected_output_shape=None,
    call_kwargs=None,
    keras_name=None,
    compare_keras=True,
    numpy_reference=None,
    check_grad=True,
    check_config=True,
    check_saving=True,
    rtol=1e-5,
    atol=1e-6,
    grad_rtol=2e-2,
    grad_atol=2e-3,
):
    init_kwargs = dict(init_kwargs or {})
    call_kwargs = dict(call_kwargs or {})
    if input_data is None:
        if isinstance(input_shape, list):
            input_data = [make_input(s, input_dtype, seed=i) for i, s in enumerate(input_shape)]
        else:
            input_data = make_input(input_shape, input_dtype)
    layer = layer_cls(**init_kwargs)
    out = layer(input_data, **call_kwargs)
    out_shapes = [tuple(o.shape) for o in jax.tree_util.tree_leaves(out)]

    # 1. shapes: eager == compute_output_shape == symbolic
    if expected_output_shape is not None:
        want = (
            _to_list(expected_output_shape)
            if isinstance(expected_output_shape, list)
            else [expected_output_shape]
        )
        assert out_shapes == [tuple(s) for s in want], (out_shapes, want)
    in_shapes = (
        [tuple(np.shape(x)) for x in input_data]
        if isinstance(input_data, list)
        else tuple(np.shape(input_data))
    )
    try:
        predicted = layer.compute_output_shape(in_shapes)
    except NotImplementedError:
        predicted = None
    if predicted is not None:
        pred_list = predicted if isinstance(predicted, list) else [predicted]
        assert [tuple(p) for p in pred_list] == out_shapes, (
            f"compute_output_shape {predicted} != output shape {out_shapes}"
        )
    symbolic_in = (
        [
            shoal.Input(batch_shape=s, dtype=np.asarray(x).dtype.name)
            for s, x in zip(in_shapes, input_data, strict=True)
        ]
        if isinstance(input_data, list)
        else shoal.Input(batch_shape=in_shapes, dtype=np.asarray(input_data).dtype.name)
    )
    sym_out = layer(symbolic_in, **{k: v for k, v in call_kwargs.items() if k != "training"})
    sym_shapes = [
        tuple(t.shape)
        for t in jax.tree_util.tree_leaves(sym_out, is_leaf=shoal.backend.is_keras_tensor)
    ]
    assert sym_shapes == out_shapes, f"symbolic {sym_shapes} != eager {out_shapes}"

    # 2. numerics
    weights = layer.get_weights()
    if numpy_reference is not None:
        _assert_close(out, numpy_reference(input_data, weights), rtol, atol, "numpy reference")
    if compare_keras:
        ref = keras_reference(
            keras_name or layer_cls.__name__, init_kwargs, input_data, weights, call_kwargs
        )
        _assert_close(out, ref, rtol, atol, f"{layer_cls.__name__} vs Keras")

    # 3. gradients
    if check_grad:
        check_gradients(layer, input_data, call_kwargs, rtol=grad_rtol, atol=grad_atol)

    # 4. config round trip
    if check_config:
        config = layer.get_config()
        clone = layer_cls.from_config(config)
        assert clone.get_config() == config
        clone(input_data, **call_kwargs)
        clone.set_weights(weights)
        _assert_close(clone(input_data, **call_kwargs), out, 1e-6, 1e-6, "config round trip")

    # 5. save / load round trip inside a functional model
    if check_saving:
        inputs = (
            shoal.Input(
                batch_shape=(None,) + tuple(in_shapes[1:]), dtype=np.asarray(input_data).dtype.name
            )
            if not isinstance(input_data, list)
            else [
                shoal.Input(batch_shape=(None,) + tuple(s[1:]), dtype=np.asarray(x).dtype.name)
                for s, x in zip(in_shapes, input_data, strict=True)
            ]
        )
        fresh = layer_cls.from_config(layer.get_config())
        model = shoal.Model(inputs, fresh(inputs))
        fresh.set_weights(weights)
        before = model.predict(input_data, verbose=0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.keras")
            model.save(path)
            loaded = shoal.models.load_model(path)
        after = loaded.predict(input_data, verbose=0)
        _assert_close(after, before, 1e-6, 1e-6, "save/load round trip")
    return layer, out


def assert_same(actual, expected):
    """Equal values, shapes and dtypes (nested tuples and lists allowed)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_same(a, e)
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
