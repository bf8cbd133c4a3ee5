"""bincount, histogram, unique and adaptive pooling against keras.ops (JAX backend)."""

import jax
import keras
import numpy as np
import pytest
from harness import assert_same

import shoal.ops as ops

X1 = np.array([0, 3, 1, 1, 4, 3, 1], np.int32)
W1 = np.linspace(0.1, 1.3, 7).astype(np.float32)
X2 = np.array([[0, 2, 2, 4], [1, 1, 4, 3]], np.int32)
W2 = np.arange(8, dtype=np.float32).reshape(2, 4) / 4


@pytest.mark.parametrize(
    "x,kwargs",
    [
        (X1, {}),
        (X1, {"weights": W1}),
        (X1, {"minlength": 9}),
        (X1, {"weights": W1.astype(np.int32), "minlength": 2}),
        (X2, {}),
        (X2, {"weights": W2, "minlength": 7}),
    ],
)
def test_bincount_matches_keras(x, kwargs):
    assert_same(ops.bincount(x, **kwargs), keras.ops.bincount(x, **kwargs))


def test_bincount_counts_rows_independently():
    out = np.asarray(ops.bincount(np.array([[0, 0], [2, 1]], np.int32), minlength=4))
    np.testing.assert_array_equal(out, [[2, 0, 0, 0], [0, 1, 1, 0]])


@pytest.mark.parametrize(
    "kwargs", [{}, {"bins": 4}, {"bins": 3, "range": (-1.0, 0.5)}, {"bins": 1}]
)
def test_histogram_matches_keras(kwargs):
    x = np.random.default_rng(0).normal(size=20).astype(np.float32)
    assert_same(ops.histogram(x, **kwargs), keras.ops.histogram(x, **kwargs))


X_UNIQUE = np.array([[3, 1, 3], [2, 1, 0], [3, 1, 3]], np.int32)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"return_index": True, "return_inverse": True, "return_counts": True},
        {"axis": 0, "return_counts": True},
        {"axis": 1, "return_inverse": True},
        {"size": 6, "fill_value": -1, "return_counts": True},
        {"size": 2},
        {"sorted": False},
    ],
)
def test_unique_matches_keras(kwargs):
    assert_same(ops.unique(X_UNIQUE, **kwargs), keras.ops.unique(X_UNIQUE, **kwargs))


def test_unique_with_size_jits():
    fn = jax.jit(lambda x: ops.unique(x, size=5, fill_value=0))
    assert_same(fn(X_UNIQUE), keras.ops.unique(X_UNIQUE, size=5, fill_value=0))


POOL_CASES = [
    ((2, 7, 3), 3, "channels_last"),
    ((2, 3, 10), (4,), "channels_first"),
    ((1, 5, 7, 2), (2, 3), "channels_last"),
    ((1, 2, 6, 4), 4, "channels_first"),
    ((1, 3, 5, 2), (5, 7), "channels_last"),  # output larger than input
    ((1, 4, 5, 3, 2), (2, 3, 2), "channels_last"),
]


@pytest.mark.parametrize("op", ["adaptive_average_pool", "adaptive_max_pool"])
@pytest.mark.parametrize("shape,output_size,data_format", POOL_CASES)
def test_adaptive_pool_matches_keras(op, shape, output_size, data_format):
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    kwargs = {"output_size": output_size, "data_format": data_format}
    assert_same(getattr(ops, op)(x, **kwargs), getattr(keras.ops, op)(x, **kwargs))


def test_adaptive_pool_jits_and_differentiates():
    x = np.random.default_rng(2).normal(size=(1, 5, 5, 2)).astype(np.float32)
    fn = jax.jit(lambda v: ops.adaptive_average_pool(v, 2))
    assert_same(fn(x), ops.adaptive_average_pool(x, 2))
    grad = np.asarray(jax.grad(lambda v: ops.adaptive_average_pool(v, 2).sum())(x))
    # Each input's gradient is the sum of 1/size over the windows that cover it.
    ref = jax.grad(lambda v: keras.ops.adaptive_average_pool(v, 2).sum())(x)
    np.testing.assert_allclose(grad, np.asarray(ref), rtol=1e-5)


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda: ops.bincount(np.array([0.5, 1.0])), "`x`"),
        (lambda: ops.bincount(np.zeros((2, 2, 2), np.int32)), "`x`"),
        (lambda: ops.bincount(X1, minlength=-1), "`minlength`"),
        (lambda: ops.bincount(X1, weights=W1[:3]), "`weights`"),
        (lambda: ops.bincount(X1, sparse=True), "`sparse`"),
        (lambda: ops.histogram(W1, bins=2.5), "`bins`"),
        (lambda: ops.histogram(W1, range=(1.0, 0.0)), "`range`"),
        (lambda: ops.histogram(W1, range=[0.0, 1.0]), "`range`"),
        (lambda: ops.histogram(W2), "`x`"),
        (lambda: ops.unique(X1, size=-2), "`size`"),
        (lambda: ops.unique(X1, axis="rows"), "`axis`"),
        (lambda: ops.adaptive_max_pool(np.zeros((1, 4, 4, 1)), (2, 2, 2)), "`output_size`"),
        (lambda: ops.adaptive_max_pool(np.zeros((1, 4, 4, 1)), 0), "`output_size`"),
        (lambda: ops.adaptive_average_pool(np.zeros((4, 4)), 2), "`inputs`"),
        (lambda: ops.adaptive_average_pool(np.zeros((1, 4, 1)), 2, "NHWC"), "data_format"),
    ],
)
def test_bad_arguments_name_argument_and_value(call, argument):
    with pytest.raises(ValueError, match=argument) as info:
        call()
    assert "got" in str(info.value)


@pytest.mark.parametrize(
    "pattern, lengths",
    [
        ("b h w c -> b (h w) c", {}),
        ("b (h1 h2) w c -> b h1 h2 w c", {"h1": 2}),
        ("b h w c -> c b w h", {}),
        ("b (h p1) (w p2) c -> b (h w) (p1 p2 c)", {"p1": 2, "p2": 2}),
    ],
)
def test_rearrange_matches_keras(pattern, lengths):
    x = np.arange(2 * 6 * 4 * 3, dtype="float32").reshape(2, 6, 4, 3)
    np.testing.assert_array_equal(
        ops.rearrange(x, pattern, **lengths), keras.ops.rearrange(x, pattern, **lengths)
    )


def test_rearrange_errors_name_the_pattern():
    x = np.zeros((2, 6, 4))
    with pytest.raises(ValueError, match="names 2 input axes"):
        ops.rearrange(x, "b h -> (b h)")
    with pytest.raises(ValueError, match="once on each side"):
        ops.rearrange(x, "b h w -> b h")
    with pytest.raises(ValueError, match="need sizes"):
        ops.rearrange(x, "b (h1 h2) w -> b h1 h2 w")
