"""Faults found by running Keras 3.15's own ops unit tests against shoal.ops: each case
calls the same op in shoal.ops and keras.ops (JAX backend) and compares values and dtypes."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from harness import assert_same  # noqa: E402

import shoal.ops as ops  # noqa: E402

I8 = np.arange(6, dtype=np.int8).reshape(2, 3)
X3 = np.array([[[3, 4], [2, 3]], [[1, 2], [0, 1]]], np.int32)

CASES = {
    "argpartition_axis_none": ("argpartition", (X3, 1), {"axis": None}),
    "matmul_int8": ("matmul", (I8, I8.T), {}),
    "einsum_int8": ("einsum", ("ij,kj->ik", I8, I8), {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_matches_keras(case):
    name, args, kwargs = CASES[case]
    assert_same(getattr(ops, name)(*args, **kwargs), getattr(keras.ops, name)(*args, **kwargs))


def test_cholesky_matches_keras_and_rejects_non_positive_definite():
    a = np.array([[4.0, 2.0], [2.0, 3.0]], np.float32)
    for upper in (False, True):
        assert_same(ops.cholesky(a, upper=upper), keras.ops.cholesky(a, upper=upper))
    bad = -np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError):
        keras.ops.cholesky(bad)
    with pytest.raises(ValueError, match="cholesky: argument 'x'"):
        ops.cholesky(bad)


def test_gaussian_blur_takes_array_kernel_size_and_sigma():
    x = np.random.default_rng(0).uniform(size=(6, 6, 2)).astype(np.float32)
    kernel_size, sigma = np.array([3, 5]), np.array([0.7, 1.3], np.float32)
    # data_format given: Keras' eager op reads data_format=None as channels_first
    assert_same(
        ops.image.gaussian_blur(x, kernel_size, sigma, data_format="channels_last"),
        keras.ops.image.gaussian_blur(x, kernel_size, sigma, data_format="channels_last"),
    )


def test_jvp_on_symbolic_inputs_gives_keras_shapes():
    from shoal.backend.symbolic import KerasTensor

    def fun_in(namespace):
        def fun(x):
            y = namespace.exp(x)
            return y, namespace.mean(y, axis=-1, keepdims=True)

        return fun

    x = KerasTensor((None, 7))
    out = ops.linalg.jvp(fun_in(ops), (x,), (x,), has_aux=True)
    kx = keras.KerasTensor((None, 7))
    expected = keras.ops.linalg.jvp(fun_in(keras.ops), (kx,), (kx,), has_aux=True)
    assert (
        [o.shape for o in out] == [e.shape for e in expected] == [(None, 7), (None, 7), (None, 1)]
    )


def _symbolic(shape, dtype="float32"):
    """A shoal and a Keras KerasTensor of `shape`."""
    from shoal.backend.symbolic import KerasTensor

    return KerasTensor(shape, dtype=dtype), keras.KerasTensor(shape, dtype=dtype)


X4 = np.ones((2, 3, 4, 5), np.float32)
IMG = np.ones((1, 2, 2, 4), np.float32)

# (op path, args builder given the namespace and a KerasTensor maker, what the message names)
BAD_ARGUMENTS = {
    "reshape_negative": ("reshape", lambda kt: (np.zeros(20), (-2, 5)), "newshape"),
    "reshape_two_unknown": ("reshape", lambda kt: (np.zeros(20), (-1, -1, 5)), "newshape"),
    "diagonal_same_axes": ("diagonal", lambda kt: (X4, 0, 0, 0), "axis1"),
    "diagonal_same_axes_negative": ("diagonal", lambda kt: (X4, 0, -1, 3), "axis1"),
    "argpartition_tuple_kth": ("argpartition", lambda kt: (kt((2, 3)), (1, 2)), "kth"),
    "depth_to_space_block_0": ("depth_to_space", lambda kt: (IMG, 0), "block_size"),
    "space_to_depth_block_0": ("space_to_depth", lambda kt: (IMG, 0), "block_size"),
    "cdist_last_axes_differ": ("cdist", lambda kt: (np.ones((3, 4)), np.ones((5, 5))), "'y'"),
    "convert_to_numpy_symbolic": ("convert_to_numpy", lambda kt: (kt((2,)),), "'x'"),
    "unstack_symbolic_axis": ("unstack", lambda kt: (kt((3, 4)), None, 10), "axis"),
    "unstack_symbolic_unknown": ("unstack", lambda kt: (kt((2, None)), None, 1), "num"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_arguments_raise_value_error_as_keras(case):
    name, build, names = BAD_ARGUMENTS[case]
    with pytest.raises(ValueError):
        getattr(keras.ops, name)(*build(lambda shape: _symbolic(shape)[1]))
    with pytest.raises(ValueError, match=f"{name}: argument.*{names}"):
        getattr(ops, name)(*build(lambda shape: _symbolic(shape)[0]))


SIGNED_ZEROS = {
    "subnormal_after_negative_zero": np.array([-1.0, -0.0, 1.4e-45], np.float32),
    "negative_then_positive_zero": np.array([-0.0, 0.0], np.float32),
    "zeros_last": np.array([1.0, 0.0, -0.0], np.float32),
    "rows": np.array([[-1.0, -0.0], [0.0, -0.0]], np.float32),
}


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("case", sorted(SIGNED_ZEROS))
def test_arg_reductions_order_signed_zeros_as_keras(name, case):
    x = SIGNED_ZEROS[case]
    assert_same(getattr(ops, name)(x, axis=-1), getattr(keras.ops, name)(x, axis=-1))


def test_softmax_over_an_axis_of_size_one_warns_as_keras():
    x = np.array([[1.0]], np.float32)
    message = "softmax over axis 1 of a tensor of shape \\(1, 1\\).*sigmoid"
    with pytest.warns(UserWarning, match=message):
        expected = keras.ops.softmax(x, 1)
    with pytest.warns(UserWarning, match=message):
        assert_same(ops.softmax(x, 1), expected)
