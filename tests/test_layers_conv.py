"""Convolution layers against Keras 3 (JAX backend) through the shared layer harness."""

import numpy as np
import pytest
from harness import make_input, run_layer_test

from shoal.layers.conv import Conv1D, Conv2D, Conv3D, Convolution2D
from shoal.layers.conv_depthwise import (
    DepthwiseConv1D,
    DepthwiseConv2D,
    SeparableConv1D,
    SeparableConv2D,
)
from shoal.layers.conv_transpose import (
    Conv1DTranspose,
    Conv2DTranspose,
    Conv3DTranspose,
)

# Few distinct shapes: every new shape is a new XLA compile on the 2-core CI box.
S1 = (2, 7, 4)  # (batch, steps, channels)
S1F = (2, 4, 7)  # channels_first
S2 = (2, 6, 7, 4)
S2F = (2, 4, 6, 7)
S3 = (2, 4, 5, 4, 3)
S3F = (2, 3, 4, 5, 4)
CF = {"data_format": "channels_first"}

# (layer class, init kwargs, input shape, expected output shape)
CASES = [
    # Conv1D
    (Conv1D, {"filters": 3, "kernel_size": 3}, S1, (2, 5, 3)),
    (
        Conv1D,
        {
            "filters": 6,
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "groups": 2,
            "activation": "tanh",
        },
        S1,
        (2, 4, 6),
    ),
    (
        Conv1D,
        {"filters": 3, "kernel_size": 3, "padding": "causal", "dilation_rate": 2},
        S1,
        (2, 7, 3),
    ),
    (
        Conv1D,
        {
            "filters": 3,
            "kernel_size": 2,
            "padding": "causal",
            "strides": 2,
            "use_bias": False,
            **CF,
        },
        S1F,
        (2, 3, 4),
    ),
    # Conv2D
    (
        Conv2D,
        {"filters": 3, "kernel_size": (2, 3), "strides": (2, 1), "padding": "same"},
        S2,
        (2, 3, 7, 3),
    ),
    (
        Conv2D,
        {
            "filters": 4,
            "kernel_size": 3,
            "dilation_rate": 2,
            "padding": "same",
            "groups": 4,
            "use_bias": False,
        },
        S2,
        (2, 6, 7, 4),
    ),
    (
        Conv2D,
        {"filters": 3, "kernel_size": 3, "strides": 2, "activation": "sigmoid", **CF},
        S2F,
        (2, 3, 2, 3),
    ),
    (
        Conv2D,
        {"filters": 2, "kernel_size": (3, 2), "dilation_rate": (1, 2), "groups": 2, **CF},
        S2F,
        (2, 2, 4, 5),
    ),
    # Conv3D
    (
        Conv3D,
        {"filters": 3, "kernel_size": (1, 2, 3), "strides": 2, "padding": "same", "groups": 3},
        S3,
        (2, 2, 3, 2, 3),
    ),
    (
        Conv3D,
        {"filters": 2, "kernel_size": 2, "dilation_rate": (2, 1, 1), **CF},
        S3F,
        (2, 2, 2, 4, 3),
    ),
    # Conv1DTranspose
    (
        Conv1DTranspose,
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
        S1,
        (2, 14, 3),
    ),
    (
        Conv1DTranspose,
        {"filters": 3, "kernel_size": 3, "strides": 2, "output_padding": 1},
        S1,
        (2, 16, 3),
    ),
    (
        Conv1DTranspose,
        {"filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same", "use_bias": False},
        S1,
        (2, 7, 3),
    ),
    (
        Conv1DTranspose,
        {
            "filters": 3,
            "kernel_size": 4,
            "strides": 2,
            "padding": "same",
            "output_padding": 1,
            **CF,
        },
        S1F,
        (2, 3, 13),
    ),
    # Conv2DTranspose (strides > kernel_size in the second case: Keras' extra valid padding)
    (
        Conv2DTranspose,
        {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
        S2,
        (2, 12, 14, 3),
    ),
    (Conv2DTranspose, {"filters": 3, "kernel_size": (3, 2), "strides": (2, 3)}, S2, (2, 13, 21, 3)),
    (
        Conv2DTranspose,
        {
            "filters": 2,
            "kernel_size": 4,
            "strides": 2,
            "padding": "same",
            "output_padding": (1, 0),
            "activation": "tanh",
        },
        S2,
        (2, 11, 12, 2),
    ),
    (
        Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "dilation_rate": 2, **CF},
        S2F,
        (2, 2, 10, 11),
    ),
    # Conv3DTranspose
    (
        Conv3DTranspose,
        {"filters": 2, "kernel_size": (2, 3, 2), "strides": 2, "padding": "same", **CF},
        S3F,
        (2, 2, 8, 10, 8),
    ),
    # DepthwiseConv1D
    (
        DepthwiseConv1D,
        {"kernel_size": 3, "depth_multiplier": 2, "strides": 2, "padding": "same"},
        S1,
        (2, 4, 8),
    ),
    (DepthwiseConv1D, {"kernel_size": 2, "dilation_rate": 2, **CF}, S1F, (2, 4, 5)),
    # DepthwiseConv2D
    (DepthwiseConv2D, {"kernel_size": 3}, S2, (2, 4, 5, 4)),
    (
        DepthwiseConv2D,
        {
            "kernel_size": (2, 3),
            "depth_multiplier": 2,
            "strides": 2,
            "padding": "same",
            "activation": "tanh",
        },
        S2,
        (2, 3, 4, 8),
    ),
    # Keras 3 lets depthwise layers combine strides and dilation.
    (
        DepthwiseConv2D,
        {"kernel_size": 2, "strides": 2, "dilation_rate": 2, "use_bias": False, **CF},
        S2F,
        (2, 4, 2, 3),
    ),
    # SeparableConv1D
    (
        SeparableConv1D,
        {
            "filters": 3,
            "kernel_size": 3,
            "depth_multiplier": 2,
            "strides": 2,
            "padding": "same",
            **CF,
        },
        S1F,
        (2, 3, 4),
    ),
    # SeparableConv2D
    (SeparableConv2D, {"filters": 3, "kernel_size": 3}, S2, (2, 4, 5, 3)),
    (
        SeparableConv2D,
        {
            "filters": 3,
            "kernel_size": 3,
            "depth_multiplier": 2,
            "dilation_rate": 2,
            "padding": "same",
        },
        S2,
        (2, 6, 7, 3),
    ),
    (
        SeparableConv2D,
        {"filters": 2, "kernel_size": 2, "strides": 2, "use_bias": False, **CF},
        S2F,
        (2, 2, 3, 3),
    ),
]


def _case_id(case):
    cls, kwargs, _, _ = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_conv_layer(case):
    cls, kwargs, shape, expected = case
    run_layer_test(cls, kwargs, input_shape=shape, expected_output_shape=expected)


# -- weights: shapes, names and order as in Keras -----------------------------------------

WEIGHT_CASES = [
    (
        Conv2D,
        {"filters": 6, "kernel_size": (2, 3), "groups": 2},
        S2,
        [("kernel", (2, 3, 2, 6)), ("bias", (6,))],
    ),
    (
        Conv1D,
        {"filters": 3, "kernel_size": 2, "use_bias": False, **CF},
        S1F,
        [("kernel", (2, 4, 3))],
    ),
    (
        Conv2DTranspose,
        {"filters": 5, "kernel_size": 3},
        S2,
        [("kernel", (3, 3, 5, 4)), ("bias", (5,))],
    ),
    (
        DepthwiseConv2D,
        {"kernel_size": 3, "depth_multiplier": 2},
        S2,
        [("kernel", (3, 3, 4, 2)), ("bias", (8,))],
    ),
    (
        SeparableConv1D,
        {"filters": 5, "kernel_size": 3, "depth_multiplier": 2},
        S1,
        [("depthwise_kernel", (3, 4, 2)), ("pointwise_kernel", (1, 8, 5)), ("bias", (5,))],
    ),
]


@pytest.mark.parametrize(
    "cls, kwargs, shape, expected", WEIGHT_CASES, ids=[c[0].__name__ for c in WEIGHT_CASES]
)
def test_weights_match_keras(cls, kwargs, shape, expected):
    import keras

    layer = cls(**kwargs)
    layer.build(shape)
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == expected
    ref = getattr(keras.layers, cls.__name__)(**kwargs)
    ref.build(shape)
    assert [(w.name, tuple(w.shape)) for w in ref.weights] == expected


# -- config: Keras' keys and values ---------------------------------------------------------


def _comparable(config):
    out = {}
    for key, value in config.items():
        if key in ("name", "dtype"):
            continue
        if isinstance(value, dict) and "class_name" in value:
            # Serialized initializers etc. belong to their own module's tests.
            value = (value.get("module"), value["class_name"])
        out[key] = value
    return out


CONFIG_CASES = [
    (
        Conv2D,
        {
            "filters": 4,
            "kernel_size": 3,
            "strides": 2,
            "padding": "same",
            "activation": "relu",
            "groups": 2,
        },
    ),
    (
        Conv1D,
        {
            "filters": 4,
            "kernel_size": 5,
            "padding": "causal",
            "dilation_rate": 2,
            "use_bias": False,
            "data_format": "channels_first",
        },
    ),
    (Conv3DTranspose, {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1}),
    (Conv2DTranspose, {"filters": 2, "kernel_size": (3, 2)}),
    (DepthwiseConv2D, {"kernel_size": 3, "depth_multiplier": 3}),
    (SeparableConv2D, {"filters": 4, "kernel_size": 3, "depth_multiplier": 2}),
]


@pytest.mark.parametrize("cls, kwargs", CONFIG_CASES, ids=[c[0].__name__ for c in CONFIG_CASES])
def test_config_matches_keras(cls, kwargs):
    import keras

    ours = cls(**kwargs).get_config()
    theirs = getattr(keras.layers, cls.__name__)(**kwargs).get_config()
    assert _comparable(ours) == _comparable(theirs)
    assert cls.from_config(ours).get_config() == ours


def test_aliases():
    from shoal.layers import conv, conv_depthwise, conv_transpose

    assert Convolution2D is Conv2D
    assert conv.Convolution1D is Conv1D and conv.Convolution3D is Conv3D
    assert conv_transpose.Convolution2DTranspose is Conv2DTranspose
    assert conv_depthwise.SeparableConvolution2D is SeparableConv2D


# -- shapes with unknown dimensions ----------------------------------------------------------


def test_unknown_spatial_dims():
    import shoal

    layer = Conv2D(3, 3, strides=2, padding="same")
    assert layer.compute_output_shape((None, None, 7, 4)) == (None, None, 4, 3)
    out = layer(shoal.Input(shape=(None, None, 4)))
    assert tuple(out.shape) == (None, None, None, 3)
    t = Conv1DTranspose(2, 3, strides=2)
    assert t.compute_output_shape((None, None, 4)) == (None, None, 2)
    assert t.compute_output_shape((None, 5, 4)) == (None, 11, 2)


def test_mixed_precision_computes_in_low_precision():
    layer = Conv2D(3, 3, dtype="mixed_bfloat16")
    out = layer(make_input(S2))
    assert layer.kernel.dtype == "float32"
    assert str(out.dtype) == "bfloat16"
    assert out.shape == (2, 4, 5, 3)


def test_causal_does_not_see_the_future():
    layer = Conv1D(2, 3, padding="causal", dilation_rate=2)
    x = make_input((1, 9, 2))
    y = np.asarray(layer(x))
    x2 = x.copy()
    x2[:, 5:] += 1.0
    y2 = np.asarray(layer(x2))
    np.testing.assert_array_equal(y[:, :5], y2[:, :5])
    assert not np.allclose(y[:, 5:], y2[:, 5:])


# -- user mistakes ---------------------------------------------------------------------------

CONSTRUCTION_ERRORS = [
    (
        Conv2D,
        {"filters": 0, "kernel_size": 3},
        r"Conv2D '.*': argument 'filters' must be a "
        r"positive integer, got 0",
    ),
    (Conv2D, {"filters": 2.5, "kernel_size": 3}, r"argument 'filters' .* got 2\.5"),
    (
        Conv2D,
        {"filters": 2, "kernel_size": (3, 3, 3)},
        r"Conv2D '.*': argument 'kernel_size' must be an integer or a tuple of 2 positive "
        r"integers, got \(3, 3, 3\)",
    ),
    (Conv1D, {"filters": 2, "kernel_size": 0}, r"argument 'kernel_size' .* got 0"),
    (Conv3D, {"filters": 2, "kernel_size": "3"}, r"argument 'kernel_size' .* got '3'"),
    (
        Conv2D,
        {"filters": 2, "kernel_size": 3, "strides": (1, -1)},
        r"argument 'strides' .* got \(1, -1\)",
    ),
    (
        Conv2D,
        {"filters": 2, "kernel_size": 3, "padding": "bogus"},
        r"Conv2D '.*': argument 'padding' must be one of 'valid', 'same', got 'bogus'",
    ),
    (
        Conv2D,
        {"filters": 2, "kernel_size": 3, "padding": "causal"},
        r"argument 'padding' must be one of 'valid', 'same', got 'causal'",
    ),
    (
        Conv1D,
        {"filters": 2, "kernel_size": 3, "padding": "full"},
        r"Conv1D '.*': argument 'padding' must be one of 'valid', 'same', 'causal', got 'full'",
    ),
    (
        Conv2D,
        {"filters": 2, "kernel_size": 3, "data_format": "NHWC"},
        r"argument 'data_format' must be 'channels_last' or 'channels_first', got 'NHWC'",
    ),
    (
        Conv2D,
        {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
        r"Conv2D '.*': arguments 'strides' and 'dilation_rate' cannot both be > 1; "
        r"got strides=\(2, 2\), dilation_rate=\(2, 2\)",
    ),
    (
        Conv1D,
        {"filters": 3, "kernel_size": 3, "groups": 2},
        r"argument 'filters' must be divisible by 'groups'; got filters=3, groups=2",
    ),
    (
        Conv2D,
        {"filters": 3, "kernel_size": 3, "groups": 0},
        r"argument 'groups' must be a positive integer, got 0",
    ),
    (
        Conv2DTranspose,
        {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 2},
        r"Conv2DTranspose '.*': argument 'output_padding' must be strictly less than 'strides' "
        r"in every dimension; got output_padding=\(2, 2\), strides=\(2, 2\)",
    ),
    (
        Conv1DTranspose,
        {"filters": 2, "kernel_size": 3, "output_padding": -1},
        r"argument 'output_padding' must be an integer or a tuple of 1 non-negative integers, "
        r"got -1",
    ),
    (
        Conv3DTranspose,
        {"filters": 2, "kernel_size": 3, "strides": 2, "dilation_rate": 2},
        r"arguments 'strides' and 'dilation_rate' cannot both be > 1",
    ),
    (
        Conv1DTranspose,
        {"filters": 2, "kernel_size": 3, "padding": "causal"},
        r"Conv1DTranspose '.*': argument 'padding' must be one of 'valid', 'same', got 'causal'",
    ),
    (
        DepthwiseConv2D,
        {"kernel_size": 3, "depth_multiplier": 0},
        r"DepthwiseConv2D '.*': argument 'depth_multiplier' must be a positive integer, got 0",
    ),
    (DepthwiseConv1D, {"kernel_size": 3, "padding": "causal"}, r"argument 'padding'"),
    (
        SeparableConv2D,
        {"filters": -1, "kernel_size": 3},
        r"SeparableConv2D '.*': argument 'filters' must be a positive integer, got -1",
    ),
    (
        SeparableConv1D,
        {"filters": 2, "kernel_size": (3, 3)},
        r"argument 'kernel_size' must be an integer or a tuple of 1 positive integers",
    ),
]


@pytest.mark.parametrize(
    "cls, kwargs, match",
    CONSTRUCTION_ERRORS,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CONSTRUCTION_ERRORS)],
)
def test_construction_errors(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)


def test_unknown_keyword_is_rejected():
    with pytest.raises(TypeError, match="kernel_sizes"):
        Conv2D(2, 3, kernel_sizes=3)


CALL_ERRORS = [
    (Conv2D(2, 3), (2, 6, 4), r"expected ndim=4, found ndim=3"),
    (Conv1D(2, 3), (2, 3, 6, 4), r"expected ndim=3, found ndim=4"),
    (Conv2DTranspose(2, 3), (2, 6, 4), r"expected ndim=4, found ndim=3"),
    (
        Conv2D(2, 5),
        (2, 4, 4, 3),
        r"Conv2D '.*': the input is too small .* input shape \(2, 4, 4, 3\) would give output "
        r"spatial shape \(0, 0\)",
    ),
    (
        Conv1D(4, 3, groups=2),
        (2, 7, 3),
        r"Conv1D '.*': the number of input channels must be divisible by 'groups'; got 3 channels",
    ),
    (SeparableConv1D(2, 9), (2, 7, 3), r"the input is too small"),
]


@pytest.mark.parametrize(
    "layer, shape, match",
    CALL_ERRORS,
    ids=[f"{c[0].__class__.__name__}-{i}" for i, c in enumerate(CALL_ERRORS)],
)
def test_call_errors(layer, shape, match):
    with pytest.raises(ValueError, match=match):
        layer(np.zeros(shape, "float32"))


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (Conv2D, {"filters": 2, "kernel_size": 3}),
        (Conv2DTranspose, {"filters": 2, "kernel_size": 3, "data_format": "channels_first"}),
        (DepthwiseConv2D, {"kernel_size": 3}),
        (SeparableConv2D, {"filters": 2, "kernel_size": 3}),
    ],
)
def test_channel_count_is_fixed_after_build(cls, kwargs):
    layer = cls(**kwargs)
    shape = (1, 4, 6, 6) if kwargs.get("data_format") == "channels_first" else (1, 6, 6, 4)
    layer(np.zeros(shape, "float32"))
    wrong = (1, 3, 6, 6) if kwargs.get("data_format") == "channels_first" else (1, 6, 6, 3)
    axis = 1 if kwargs.get("data_format") == "channels_first" else -1
    with pytest.raises(ValueError, match=rf"expected axis {axis} of input shape to have value 4"):
        layer(np.zeros(wrong, "float32"))


def test_unknown_channels_at_build():
    with pytest.raises(
        ValueError,
        match=r"Conv2D '.*': the channel dimension of the input must "
        r"be known",
    ):
        Conv2D(2, 3).build((None, 5, 5, None))


@pytest.mark.parametrize("cls", [Conv2D, Conv2DTranspose, SeparableConv2D, DepthwiseConv2D])
def test_wrong_rank_in_shape_methods(cls):
    layer = cls(2, 3) if cls is not DepthwiseConv2D else cls(3)
    name = cls.__name__
    with pytest.raises(
        ValueError,
        match=rf"{name} '.*': expected an input of rank 4 .* got "
        r"input shape \(2, 5, 5\)",
    ):
        layer.compute_output_shape((2, 5, 5))
    with pytest.raises(ValueError, match=rf"{name} '.*': expected an input of rank 4"):
        layer.build((2, 5, 5))
