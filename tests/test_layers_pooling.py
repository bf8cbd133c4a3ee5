"""Pooling layers against Keras 3 (JAX backend) through the shared layer harness."""

import numpy as np
import pytest
from harness import make_input, run_layer_test

from shoal.layers import pooling as P
from shoal.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)

S1, S1F = (2, 7, 4), (2, 4, 7)
S2, S2F = (2, 6, 7, 4), (2, 4, 6, 7)
S3, S3F = (2, 4, 5, 4, 3), (2, 3, 4, 5, 4)
CF = {"data_format": "channels_first"}

# (layer class, init kwargs, input shape, expected output shape)
CASES = [
    (MaxPooling1D, {}, S1, (2, 3, 4)),
    (MaxPooling1D, {"pool_size": 3, "strides": 1, "padding": "same"}, S1, (2, 7, 4)),
    (MaxPooling1D, {"pool_size": 2, "strides": 3, **CF}, S1F, (2, 4, 2)),
    (MaxPooling2D, {}, S2, (2, 3, 3, 4)),
    (MaxPooling2D, {"pool_size": (3, 2), "strides": (2, 1), "padding": "same"}, S2, (2, 3, 7, 4)),
    (MaxPooling2D, {"pool_size": 2, "padding": "same", **CF}, S2F, (2, 4, 3, 4)),
    (MaxPooling3D, {}, S3, (2, 2, 2, 2, 3)),
    (MaxPooling3D, {"pool_size": 2, "strides": 1, "padding": "same", **CF}, S3F, (2, 3, 4, 5, 4)),
    (AveragePooling1D, {"pool_size": 2}, S1, (2, 3, 4)),
    (AveragePooling1D, {"pool_size": 3, "strides": 2, "padding": "same"}, S1, (2, 4, 4)),
    (AveragePooling1D, {"pool_size": 2, "strides": 1, "padding": "same", **CF}, S1F, (2, 4, 7)),
    (AveragePooling2D, {"pool_size": 2}, S2, (2, 3, 3, 4)),
    (AveragePooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}, S2, (2, 3, 4, 4)),
    (AveragePooling2D, {"pool_size": (2, 3), **CF}, S2F, (2, 4, 3, 2)),
    (AveragePooling3D, {"pool_size": 2}, S3, (2, 2, 2, 2, 3)),
    (
        AveragePooling3D,
        {"pool_size": 3, "strides": 2, "padding": "same", **CF},
        S3F,
        (2, 3, 2, 3, 2),
    ),
    (GlobalMaxPooling1D, {}, S1, (2, 4)),
    (GlobalMaxPooling1D, {"keepdims": True, **CF}, S1F, (2, 4, 1)),
    (GlobalMaxPooling2D, {}, S2, (2, 4)),
    (GlobalMaxPooling2D, {"keepdims": True}, S2, (2, 1, 1, 4)),
    (GlobalMaxPooling3D, {**CF}, S3F, (2, 3)),
    (GlobalAveragePooling1D, {}, S1, (2, 4)),
    (GlobalAveragePooling1D, {"keepdims": True}, S1, (2, 1, 4)),
    (GlobalAveragePooling2D, {**CF}, S2F, (2, 4)),
    (GlobalAveragePooling2D, {"keepdims": True, **CF}, S2F, (2, 4, 1, 1)),
    (GlobalAveragePooling3D, {"keepdims": True}, S3, (2, 1, 1, 1, 3)),
]


def _case_id(case):
    cls, kwargs, _, _ = case
    return cls.__name__ + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_pooling_layer(case):
    cls, kwargs, shape, expected = case
    run_layer_test(cls, kwargs, input_shape=shape, expected_output_shape=expected)


def test_average_same_divides_by_valid_elements():
    x = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    out = np.asarray(AveragePooling1D(pool_size=2, padding="same")(x))
    # Windows [1, 2], [3, 4], [5, <pad>]: the last one averages one real element.
    np.testing.assert_allclose(out[0, :, 0], [1.5, 3.5, 5.0])
    x2 = np.ones((1, 5, 5, 1), "float32")
    out2 = np.asarray(AveragePooling2D(pool_size=3, strides=2, padding="same")(x2))
    np.testing.assert_allclose(out2, np.ones((1, 3, 3, 1)))


def test_max_pooling_same_ignores_padding():
    x = -np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    out = np.asarray(MaxPooling1D(pool_size=2, padding="same")(x))
    np.testing.assert_allclose(out[0, :, 0], [-1.0, -3.0, -5.0])


def test_global_average_1d_mask_matches_keras():
    import keras

    x = make_input((2, 5, 3))
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    for kwargs, data in (({}, x), ({"data_format": "channels_first"}, x.transpose(0, 2, 1))):
        for keepdims in (False, True):
            ours = GlobalAveragePooling1D(keepdims=keepdims, **kwargs)(data, mask=mask)
            theirs = keras.layers.GlobalAveragePooling1D(keepdims=keepdims, **kwargs)(
                data, mask=mask
            )
            np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-6)


def test_unknown_dims():
    assert MaxPooling2D().compute_output_shape((None, None, 7, 3)) == (None, None, 3, 3)
    assert AveragePooling1D(3, strides=2, padding="same").compute_output_shape((None, 7, 2)) == (
        None,
        4,
        2,
    )
    assert GlobalMaxPooling2D(keepdims=True).compute_output_shape((None, None, None, 5)) == (
        None,
        1,
        1,
        5,
    )


CONFIG_CASES = [
    (MaxPooling2D, {"pool_size": 3, "strides": 2, "padding": "same"}),
    (AveragePooling1D, {"pool_size": 2, "data_format": "channels_first"}),
    (MaxPooling3D, {}),
    (GlobalAveragePooling2D, {"keepdims": True}),
    (GlobalMaxPooling1D, {"data_format": "channels_first"}),
]


@pytest.mark.parametrize("cls, kwargs", CONFIG_CASES, ids=[c[0].__name__ for c in CONFIG_CASES])
def test_config_matches_keras(cls, kwargs):
    import keras

    ours = {k: v for k, v in cls(**kwargs).get_config().items() if k not in ("name", "dtype")}
    theirs = getattr(keras.layers, cls.__name__)(**kwargs).get_config()
    theirs = {k: v for k, v in theirs.items() if k not in ("name", "dtype")}
    assert ours == theirs


def test_aliases():
    pairs = {
        "MaxPool1D": MaxPooling1D,
        "MaxPool2D": MaxPooling2D,
        "MaxPool3D": MaxPooling3D,
        "AvgPool1D": AveragePooling1D,
        "AvgPool2D": AveragePooling2D,
        "AvgPool3D": AveragePooling3D,
        "GlobalMaxPool1D": GlobalMaxPooling1D,
        "GlobalMaxPool2D": GlobalMaxPooling2D,
        "GlobalMaxPool3D": GlobalMaxPooling3D,
        "GlobalAvgPool1D": GlobalAveragePooling1D,
        "GlobalAvgPool2D": GlobalAveragePooling2D,
        "GlobalAvgPool3D": GlobalAveragePooling3D,
    }
    for alias, cls in pairs.items():
        assert getattr(P, alias) is cls


CONSTRUCTION_ERRORS = [
    (
        MaxPooling2D,
        {"pool_size": 0},
        r"MaxPooling2D '.*': argument 'pool_size' must be an integer or a tuple of 2 positive "
        r"integers, got 0",
    ),
    (
        AveragePooling1D,
        {"pool_size": (2, 2)},
        r"argument 'pool_size' must be an integer or a tuple of 1 positive integers, got \(2, 2\)",
    ),
    (MaxPooling3D, {"strides": (1, 0, 1)}, r"argument 'strides' .* got \(1, 0, 1\)"),
    (
        AveragePooling2D,
        {"pool_size": 2, "padding": "causal"},
        r"AveragePooling2D '.*': argument 'padding' must be one of 'valid', 'same', got 'causal'",
    ),
    (
        MaxPooling1D,
        {"data_format": "NWC"},
        r"argument 'data_format' must be 'channels_last' or 'channels_first', got 'NWC'",
    ),
    (
        GlobalAveragePooling3D,
        {"data_format": "last"},
        r"GlobalAveragePooling3D '.*': argument 'data_format' .* got 'last'",
    ),
    (
        GlobalMaxPooling2D,
        {"keepdims": "yes"},
        r"GlobalMaxPooling2D '.*': argument 'keepdims' must be a bool, got 'yes'",
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


CALL_ERRORS = [
    (MaxPooling2D, {}, (2, 6, 4), r"expected ndim=4, found ndim=3"),
    (GlobalAveragePooling1D, {}, (2, 6, 6, 4), r"expected ndim=3, found ndim=4"),
    (
        AveragePooling2D,
        {"pool_size": 3},
        (1, 2, 5, 1),
        r"AveragePooling2D '.*': the input is too small .* input shape \(1, 2, 5, 1\) would give "
        r"output spatial shape \(0, 1\)",
    ),
]


@pytest.mark.parametrize(
    "cls, kwargs, shape, match",
    CALL_ERRORS,
    ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CALL_ERRORS)],
)
def test_call_errors(cls, kwargs, shape, match):
    with pytest.raises(ValueError, match=match):
        cls(**kwargs)(np.zeros(shape, "float32"))


@pytest.mark.parametrize("cls", [MaxPooling2D, GlobalAveragePooling2D])
def test_wrong_rank_in_compute_output_shape(cls):
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__} '.*': expected an input of rank 4 "
        r".* got input shape \(2, 5, 5\)",
    ):
        cls().compute_output_shape((2, 5, 5))
