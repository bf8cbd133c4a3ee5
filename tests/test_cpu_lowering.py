"""shoal.ops.cpu_lowering: pooling rewritten for XLA:CPU equals lax.reduce_window.

Values, gradients (reverse mode) and tangents (forward mode) are compared with
`lax.reduce_window` on inputs full of ties (ReLU zeros, repeated small integers), where
max pooling's gradient must go to the same single element select-and-scatter picks.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from shoal import ops
from shoal.ops import cpu_lowering

pytestmark = pytest.mark.skipif(jax.default_backend() != "cpu", reason="CPU-only lowering")

# (input shape, window, strides, padding, expected plan); batch and channel axes are 1s.
CASES = [
    ((2, 8, 6, 3), (1, 2, 2, 1), (1, 2, 2, 1), "VALID", "reshape"),
    ((2, 7, 9, 3), (1, 2, 2, 1), (1, 2, 2, 1), "VALID", "reshape"),  # ragged tail dropped
    ((2, 9, 7, 3), (1, 3, 3, 1), (1, 3, 3, 1), "VALID", "reshape"),
    ((2, 7, 8, 3), (1, 2, 3, 1), (1, 2, 3, 1), "SAME", "reshape"),  # padded
    ((2, 7, 9, 3), (1, 3, 3, 1), (1, 2, 2, 1), "VALID", "slices"),
    ((2, 8, 7, 3), (1, 3, 3, 1), (1, 2, 2, 1), "SAME", "slices"),
    ((2, 6, 7, 3), (1, 2, 2, 1), (1, 1, 1, 1), "VALID", "slices"),
    ((2, 3, 6, 7), (1, 1, 2, 2), (1, 1, 2, 2), "VALID", "reshape"),  # channels_first
    ((2, 9, 3), (1, 2, 1), (1, 2, 1), "VALID", "reshape"),  # 1-D
    ((2, 10, 3), (1, 3, 1), (1, 2, 1), "SAME", "slices"),
    ((2, 4, 5, 6, 2), (1, 2, 2, 2, 1), (1, 2, 2, 2, 1), "VALID", "reshape"),  # 3-D
    ((2, 6, 7, 3), (1, 3, 3, 1), (1, 1, 1, 1), "SAME", None),  # measured slower: lax
    ((2, 8, 8, 3), (1, 4, 4, 1), (1, 2, 2, 1), "VALID", None),
]


def _ties(shape, seed=0):
    """Small integers through ReLU: most windows hold several equal maxima."""
    values = np.random.default_rng(seed).integers(-2, 3, shape)
    return jnp.asarray(np.maximum(values, 0), jnp.float32)


def _pair(computation, window, strides, padding):
    init = np.array(-np.inf if computation is lax.max else 0, np.float32)

    def new(x):
        return cpu_lowering.reduce_window(x, init, computation, window, strides, padding)

    def old(x):
        return lax.reduce_window(x, init, computation, window, strides, padding)

    return new, old


def _primitives(fn, x):
    return {e.primitive.name for e in jax.make_jaxpr(fn)(x).eqns}


def _assert_same_function(new, old, x, exact):
    """Values, gradients and tangents of `new` equal `old`'s (one compiled comparison)."""
    rng = np.random.default_rng(1)
    cotangent = jnp.asarray(rng.standard_normal(jax.eval_shape(old, x).shape), jnp.float32)
    tangent = jnp.asarray(rng.standard_normal(x.shape), jnp.float32)

    @jax.jit
    def both(x):
        grads = [jax.grad(lambda v, f=f: jnp.sum(f(v) * cotangent))(x) for f in (new, old)]
        # Forward mode against lax's reverse-mode Jacobian: lax's own forward mode
        # (select-and-gather) may pick another of tied maxima in padded windows.
        jacobian = jax.jacrev(old)(x).reshape(cotangent.size, x.size)
        expected = (jacobian @ tangent.reshape(-1)).reshape(cotangent.shape)
        return (new(x), *grads[:1], jax.jvp(new, (x,), (tangent,))[1]), (old(x), grads[1], expected)

    for a, b in zip(*both(x), strict=True):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape,window,strides,padding,plan", CASES)
def test_max_pool_values_gradients_and_ties_equal_lax(shape, window, strides, padding, plan):
    x = _ties(shape)
    assert cpu_lowering._pool_plan(x, lax.max, -np.inf, window, strides, padding) == plan
    new, old = _pair(lax.max, window, strides, padding)
    if plan is None:
        assert "reduce_window_max" in _primitives(new, x)
        return
    assert "reduce_window_max" not in _primitives(new, x)
    assert "select_and_gather_add" not in _primitives(jax.grad(lambda v: new(v).sum()), x)
    _assert_same_function(new, old, x, exact=True)


@pytest.mark.parametrize("shape,window,strides,padding,plan", [c for c in CASES if c[1] == c[2]])
def test_sum_pool_values_and_gradients_equal_lax(shape, window, strides, padding, plan):
    x = jnp.asarray(np.random.default_rng(3).standard_normal(shape), jnp.float32)
    assert cpu_lowering._pool_plan(x, lax.add, 0.0, window, strides, padding) == plan
    new, old = _pair(lax.add, window, strides, padding)
    assert "reduce_window_sum" not in _primitives(new, x)
    _assert_same_function(new, old, x, exact=False)


def test_max_pool_gradient_goes_to_the_first_of_tied_maxima():
    # What select-and-scatter does (and jnp.max's gradient does not: it splits ties).
    x = jnp.array([[0.0, 1.0], [1.0, 1.0]]).reshape(1, 2, 2, 1)
    new, old = _pair(lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    expected = np.array([0.0, 1.0, 0.0, 0.0]).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(jax.grad(lambda v: new(v).sum())(x), expected)
    np.testing.assert_array_equal(jax.grad(lambda v: old(v).sum())(x), expected)
    np.testing.assert_allclose(jax.grad(lambda v: jnp.max(v))(x).ravel(), [0] + [1 / 3] * 3)


@pytest.mark.parametrize(
    "window,strides,padding",
    [((1, 2, 2, 1), (1, 2, 2, 1), "SAME"), ((1, 3, 3, 1), (1, 2, 2, 1), "SAME")],
)
def test_max_pool_nan_and_all_minus_inf_windows_match_lax(window, strides, padding):
    x = np.array(_ties((1, 5, 5, 2), seed=4))
    x[0, 0, 1, 0] = x[0, 2, 2, 1] = x[0, 3, 3, 1] = np.nan
    x[0, 3:, :, 0] = -np.inf  # windows holding only -inf (and padding)
    new, old = _pair(lax.max, window, strides, padding)
    _assert_same_function(new, old, jnp.asarray(x), exact=True)


def test_jit_and_second_order_gradients_match():
    x = jnp.asarray(np.random.default_rng(5).standard_normal((2, 6, 6, 2)), jnp.float32)
    new, old = _pair(lax.max, (1, 3, 3, 1), (1, 2, 2, 1), "VALID")
    np.testing.assert_array_equal(jax.jit(new)(x), old(x))
    hvp = [
        jax.jvp(jax.grad(lambda v, f=f: jnp.sum(f(v) ** 2)), (x,), (jnp.ones_like(x),))[1]
        for f in (new, old)
    ]
    np.testing.assert_allclose(*hvp, rtol=1e-6)


def test_keras_ops_pooling_use_the_lowering_and_match_lax():
    x = _ties((2, 6, 6, 3))
    assert "reduce_window_max" not in _primitives(lambda v: ops.max_pool(v, 2), x)
    assert "reduce_window_sum" not in _primitives(lambda v: ops.average_pool(v, 2), x)
    with cpu_lowering.lax_only():
        reference = ops.max_pool(x, 2), ops.average_pool(x, 3, 2, "same")
        assert "reduce_window_max" in _primitives(lambda v: ops.max_pool(v, 2), x)
    np.testing.assert_array_equal(ops.max_pool(x, 2), reference[0])
    np.testing.assert_allclose(ops.average_pool(x, 3, 2, "same"), reference[1], rtol=1e-6)


def test_falls_back_to_lax_where_not_applicable(monkeypatch):
    x = _ties((2, 6, 6, 3))
    window = (1, 2, 2, 1)
    plan = cpu_lowering._pool_plan
    assert plan(x, lax.max, -np.inf, window, window, "VALID") == "reshape"
    assert plan(x.astype(jnp.int32), lax.max, -np.inf, window, window, "VALID") is None
    assert plan(x, lax.max, 0.0, window, window, "VALID") is None  # not the identity
    assert plan(x, lax.add, 1.0, window, window, "VALID") is None
    assert plan(x, lax.min, np.inf, window, window, "VALID") is None
    assert plan(x, lax.max, -np.inf, window, window, [(0, 0)] * 4) is None
    assert plan(x, lax.max, -np.inf, (1, 2, 2, 1), (1, 3, 3, 1), "VALID") is None  # gaps
    assert plan(x, lax.max, -np.inf, (1, 1, 1, 1), (1, 1, 1, 1), "VALID") is None
    with cpu_lowering.lax_only():
        assert plan(x, lax.max, -np.inf, window, window, "VALID") is None
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert plan(x, lax.max, -np.inf, window, window, "VALID") is None
