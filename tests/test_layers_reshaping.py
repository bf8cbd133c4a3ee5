"""Reshaping, padding, cropping and up-sampling layers against Keras 3 (JAX backend)."""

import keras
import numpy as np
import pytest
from harness import make_input, run_layer_test

import shoal
from shoal.layers import padding_cropping as P
from shoal.layers import reshaping as R

CF = {"data_format": "channels_first"}

# (layer class, init kwargs, input shape, expected output shape)
CASES = [
    (R.Flatten, {}, (2, 3, 4), (2, 12)),
    (R.Flatten, CF, (2, 3, 2, 2), (2, 12)),
    (R.Flatten, {}, (2,), (2, 1)),
    (R.Reshape, {"target_shape": (4, 3)}, (2, 3, 4), (2, 4, 3)),
    (R.Reshape, {"target_shape": (2, -1, 3)}, (2, 3, 4), (2, 2, 2, 3)),
    (R.Permute, {"dims": (2, 1)}, (2, 3, 4), (2, 4, 3)),
    (R.Permute, {"dims": (3, 1, 2)}, (2, 3, 4, 2), (2, 2, 3, 4)),
    (R.RepeatVector, {"n": 3}, (2, 4), (2, 3, 4)),
    (R.UpSampling1D, {"size": 3}, (2, 3, 2), (2, 9, 2)),
    (R.UpSampling2D, {}, (2, 3, 4, 2), (2, 6, 8, 2)),
    (R.UpSampling2D, {"size": (2, 3), **CF}, (2, 2, 3, 4), (2, 2, 6, 12)),
    (R.UpSampling2D, {"size": (2, 3), "interpolation": "bilinear"}, (2, 3, 4, 2), (2, 6, 12, 2)),
    (R.UpSampling2D, {"interpolation": "bilinear", **CF}, (2, 2, 3, 4), (2, 2, 6, 8)),
    (R.UpSampling2D, {"size": 3, "interpolation": "bicubic"}, (1, 3, 3, 1), (1, 9, 9, 1)),
    (R.UpSampling3D, {"size": (1, 2, 3)}, (1, 2, 2, 2, 2), (1, 2, 4, 6, 2)),
    (R.UpSampling3D, {"size": 2, **CF}, (1, 2, 2, 2, 2), (1, 2, 4, 4, 4)),
    (P.ZeroPadding1D, {}, (2, 3, 2), (2, 5, 2)),
    (P.ZeroPadding1D, {"padding": (1, 2), **CF}, (2, 3, 2), (2, 3, 5)),
    (P.ZeroPadding2D, {"padding": 2}, (2, 3, 3, 2), (2, 7, 7, 2)),
    (P.ZeroPadding2D, {"padding": (1, 2)}, (2, 3, 3, 2), (2, 5, 7, 2)),
    (P.ZeroPadding2D, {"padding": ((1, 0), (2, 3)), **CF}, (2, 2, 3, 3), (2, 2, 4, 8)),
    (P.ZeroPadding3D, {}, (1, 2, 2, 2, 2), (1, 4, 4, 4, 2)),
    (P.ZeroPadding3D, {"padding": ((1, 0), (0, 2), 1), **CF}, (1, 2, 2, 2, 2), (1, 2, 3, 4, 4)),
    (P.Cropping1D, {}, (2, 5, 2), (2, 3, 2)),
    (P.Cropping1D, {"cropping": (0, 2)}, (2, 5, 2), (2, 3, 2)),
    (P.Cropping2D, {"cropping": ((1, 0), (0, 2))}, (2, 4, 5, 2), (2, 3, 3, 2)),
    (P.Cropping2D, {"cropping": 1, **CF}, (2, 2, 4, 5), (2, 2, 2, 3)),
    (P.Cropping3D, {}, (1, 4, 3, 5, 2), (1, 2, 1, 3, 2)),
    (P.Cropping3D, {"cropping": ((1, 0), (0, 1), 0), **CF}, (1, 2, 3, 3, 3), (1, 2, 2, 2, 3)),
]


def _case_id(case):
    cls, kwargs, shape, _ = case
    args = ",".join(f"{k}={v}" for k, v in kwargs.items())
    return f"{cls.__name__}({args})-{shape}"


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_layer_matches_keras(case):
    cls, kwargs, shape, expected = case
    run_layer_test(cls, kwargs, input_shape=shape, expected_output_shape=expected)


def _jsonish(config):
    """Config with tuples as lists, as it reads back from a .keras archive."""
    if isinstance(config, dict):
        return {k: _jsonish(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [_jsonish(v) for v in config]
    return config


@pytest.mark.parametrize("case", CASES[::2], ids=[_case_id(c) for c in CASES[::2]])
def test_config_matches_keras(case):
    cls, kwargs, _, _ = case
    ours = cls(name="x", **kwargs).get_config()
    theirs = getattr(keras.layers, cls.__name__)(name="x", **kwargs).get_config()
    assert _jsonish(ours) == _jsonish(theirs)
    # A Keras config loads into shoal and gives the same layer.
    clone = cls.from_config(theirs)
    assert _jsonish(clone.get_config()) == _jsonish(ours)


def test_symbolic_outputs_keep_dtype_and_unknown_dims():
    x = shoal.Input(shape=(None, 4), dtype="int32")
    y = R.Reshape((-1, 2))(x)
    assert y.shape == (None, None, 2) and y.dtype == "int32"
    assert R.Flatten()(x).shape == (None, None)
    assert R.Permute((2, 1))(x).shape == (None, 4, None)
    assert P.ZeroPadding1D(2)(x).shape == (None, None, 4)
    assert P.Cropping1D(1)(x).shape == (None, None, 4)
    assert R.UpSampling1D(2)(x).shape == (None, None, 4)
    img = shoal.Input(shape=(4, 4, 3))
    assert R.Reshape((-1,))(img).shape == (None, 48)
    assert R.UpSampling2D(interpolation="bilinear")(img).dtype == "float32"


def test_reshape_int_input_eager():
    x = np.arange(24, dtype="int32").reshape(2, 12)
    out = R.Reshape((3, -1))(x)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(out), x.reshape(2, 3, 4))


def test_default_data_format_follows_config():
    old = shoal.backend.image_data_format()
    shoal.backend.set_image_data_format("channels_first")
    try:
        layer = P.ZeroPadding2D(1)
        assert layer.data_format == "channels_first"
        assert layer(np.zeros((1, 2, 3, 3), "float32")).shape == (1, 2, 5, 5)
        # Cropping1D has no data_format: always crops axis 1.
        assert P.Cropping1D(1)(np.zeros((1, 4, 2), "float32")).shape == (1, 2, 2)
    finally:
        shoal.backend.set_image_data_format(old)


def test_flatten_channels_first_order_matches_channels_last():
    x = make_input((2, 3, 2, 2))
    first = R.Flatten(data_format="channels_first")(x)
    last = R.Flatten(data_format="channels_last")(np.moveaxis(x, 1, -1))
    np.testing.assert_array_equal(np.asarray(first), np.asarray(last))


BAD_CONSTRUCTION = [
    (
        lambda: R.Reshape((-1, -1)),
        r"Reshape '.*': argument 'target_shape' .*at most one -1.*\(-1, -1\)",
    ),
    (lambda: R.Reshape((2, -2)), r"argument 'target_shape' must be a tuple of non-negative"),
    (lambda: R.Reshape(6), r"argument 'target_shape' must be a tuple.*got 6"),
    (lambda: R.Reshape((2, None)), r"argument 'target_shape'.*got \(2, None\)"),
    (lambda: R.Permute((1, 1)), r"Permute '.*': argument 'dims' must be a permutation.*\(1, 1\)"),
    (lambda: R.Permute((0, 1)), r"argument 'dims' must be a permutation of 1..n.*\(0, 1\)"),
    (lambda: R.Permute(2), r"argument 'dims'.*got 2"),
    (
        lambda: R.RepeatVector(0),
        r"RepeatVector '.*': argument 'n' must be a positive integer, got 0",
    ),
    (lambda: R.RepeatVector(2.5), r"argument 'n' must be a positive integer, got 2.5"),
    (
        lambda: R.Flatten(data_format="nchw"),
        r"Flatten '.*': argument 'data_format' must be "
        r"'channels_last' or 'channels_first', got 'nchw'",
    ),
    (lambda: R.UpSampling1D(size=(2,)), r"UpSampling1D '.*': argument 'size' must be a positive"),
    (lambda: R.UpSampling2D(size=(2, 0)), r"UpSampling2D '.*': argument 'size' .*got \(2, 0\)"),
    (
        lambda: R.UpSampling2D(interpolation="area"),
        r"argument 'interpolation' must be one of 'nearest', 'bilinear'.*got 'area'",
    ),
    (lambda: R.UpSampling3D(size=(2, 2)), r"UpSampling3D '.*': argument 'size'.*3.*got \(2, 2\)"),
    (lambda: P.ZeroPadding1D(padding=-1), r"ZeroPadding1D '.*': argument 'padding'.*got -1"),
    (lambda: P.ZeroPadding1D(padding=(1, 2, 3)), r"argument 'padding'.*got \(1, 2, 3\)"),
    (
        lambda: P.ZeroPadding2D(padding=(1, 2, 3)),
        r"ZeroPadding2D '.*': argument 'padding' must be an integer, a tuple of 2 integers or a "
        r"tuple of 2 \(before, after\) integer pairs.*got \(1, 2, 3\)",
    ),
    (lambda: P.ZeroPadding2D(padding=((1, 2), (3,))), r"argument 'padding'.*\(\(1, 2\), \(3,\)\)"),
    (lambda: P.ZeroPadding3D(padding=((1, -1), 1, 1)), r"ZeroPadding3D '.*': argument 'padding'"),
    (lambda: P.ZeroPadding2D(padding=1.5), r"argument 'padding'.*got 1.5"),
    (lambda: P.Cropping1D(cropping="1"), r"Cropping1D '.*': argument 'cropping'.*got '1'"),
    (lambda: P.Cropping2D(cropping=(1, 2, 3)), r"Cropping2D '.*': argument 'cropping'"),
    (lambda: P.Cropping3D(cropping=-1), r"Cropping3D '.*': argument 'cropping'.*got -1"),
    (lambda: P.Cropping2D(data_format="NHWC"), r"argument 'data_format'.*got 'NHWC'"),
]


@pytest.mark.parametrize("make, match", BAD_CONSTRUCTION)
def test_bad_arguments_raise_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


BAD_CALLS = [
    (
        lambda: R.Reshape((5,)),
        (2, 3, 4),
        r"Reshape '.*': cannot reshape input of shape \(2, 3, 4\) \(12 values per sample\) to "
        r"target_shape \(5,\)",
    ),
    (lambda: R.Reshape((-1, 5)), (2, 3, 4), r"cannot reshape .*a multiple of 5 values"),
    (
        lambda: P.Cropping1D((2, 2)),
        (2, 4, 2),
        r"Cropping1D '.*': argument 'cropping' \(2, 2\) must leave at least one element.*"
        r"input shape \(2, 4, 2\)",
    ),
    (lambda: P.Cropping2D(((0, 0), (3, 0))), (1, 4, 3, 1), r"Cropping2D '.*'.*axis 2"),
    (lambda: P.Cropping3D(2), (1, 5, 5, 4, 1), r"Cropping3D '.*'.*crops 4 of the 4 on axis 3"),
    (lambda: R.Permute((2, 1)), (2, 3), r"Input 0 of layer .*expected ndim=3"),
    (lambda: R.RepeatVector(2), (2, 3, 4), r"expected ndim=2"),
    (lambda: P.ZeroPadding2D(), (2, 3, 4), r"expected ndim=4"),
]


@pytest.mark.parametrize("make, shape, match", BAD_CALLS)
def test_bad_inputs_raise_at_build(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(np.zeros(shape, "float32"))
    # Symbolic inputs fail the same way, before any model runs.
    with pytest.raises(ValueError, match=match):
        make()(shoal.Input(batch_shape=shape))
