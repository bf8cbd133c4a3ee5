"""One table of user mistakes and the message each must produce (issue: clear errors).

Each message names the layer or function, the argument, what was expected and what was given.
Saving/loading mistakes are tabled in test_saving.py, training-data mistakes in test_trainer.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import shoal as keras
from shoal import layers


def _dense_called_twice():
    dense = layers.Dense(3)
    dense(np.ones((2, 4), "float32"))
    dense(np.ones((2, 5), "float32"))


def _built_dense(weights):
    dense = layers.Dense(2)
    dense.build((None, 3))
    dense.set_weights(weights)


def _disconnected():
    a, b = keras.Input((3,)), keras.Input((3,))
    keras.Model(a, layers.Add()([layers.Dense(2)(a), layers.Dense(2)(b)]))


def _model_wrong_count():
    a, b = keras.Input((3,)), keras.Input((3,))
    keras.Model([a, b], layers.Concatenate()([a, b]))([np.ones((2, 3), "float32")])


def _model_wrong_shape():
    a = keras.Input((3,))
    keras.Model(a, layers.Dense(2)(a))(np.ones((2, 4), "float32"))


ERRORS = [
    (
        "wrong input size",
        _dense_called_twice,
        ValueError,
        r'Input 0 of layer "dense.*" is incompatible with the layer: expected axis -1 of input '
        r"shape to have value 4, but received input with shape \(2, 5\)",
    ),
    (
        "wrong input rank",
        lambda: layers.Conv2D(4, 3)(np.ones((2, 5), "float32")),
        ValueError,
        r'layer "conv2d.*" is incompatible with the layer: expected ndim=4, found ndim=2. Full shape received: \(2, 5\)',
    ),
    (
        "unknown activation",
        lambda: layers.Dense(3, activation="relux"),
        ValueError,
        r"Dense: Unknown activation .*'relux'",
    ),
    (
        "unknown initializer",
        lambda: layers.Dense(3, kernel_initializer="glorot_unifrm"),
        ValueError,
        r"Dense: Unknown initializer .*'glorot_unifrm'",
    ),
    (
        "unknown padding",
        lambda: layers.Conv2D(4, 3, padding="bogus"),
        ValueError,
        r"Conv2D '.*': argument 'padding' must be one of 'valid', 'same', got 'bogus'",
    ),
    (
        "bad units",
        lambda: layers.Dense(-3),
        ValueError,
        r"Dense: argument 'units' must be a positive integer, got -3",
    ),
    (
        "unknown keyword",
        lambda: layers.Dense(3, unit=4),
        TypeError,
        r"Dense: unrecognized keyword argument\(s\) \['unit'\]",
    ),
    (
        "incompatible merge",
        lambda: layers.Add()([keras.Input((3,)), keras.Input((4,))]),
        ValueError,
        r"Add '.*': inputs have incompatible shapes \(None, 3\) and \(None, 4\)",
    ),
    (
        "disconnected graph",
        _disconnected,
        ValueError,
        r"graph disconnected: cannot obtain value for tensor .* at layer 'dense.*'",
    ),
    (
        "non-tensor output",
        lambda: keras.Model(keras.Input((3,)), np.ones(3)),
        ValueError,
        r"all `outputs` must be symbolic tensors .* got array",
    ),
    (
        "set_weights count",
        lambda: _built_dense([np.ones((3, 2))]),
        ValueError,
        r"set_weights expected a list of 2 arrays \(shapes \[\(3, 2\), \(2,\)\]\), but received 1",
    ),
    (
        "set_weights shape",
        lambda: _built_dense([np.ones((3, 3)), np.ones(2)]),
        ValueError,
        r"weight 'kernel' has shape \(3, 2\), but set_weights received an array of shape \(3, 3\)",
    ),
    (
        "model input count",
        _model_wrong_count,
        ValueError,
        r"expects 2 input\(s\) .* but it received 1 input tensor",
    ),
    (
        "model input shape",
        _model_wrong_shape,
        ValueError,
        r"input '.*' expects shape \(None, 3\), but received an input of shape \(2, 4\)",
    ),
    (
        "reshape size",
        lambda: layers.Reshape((5, 5))(np.ones((2, 12), "float32")),
        ValueError,
        r"Reshape '.*': cannot reshape input of shape \(2, 12\).* to target_shape \(5, 5\)",
    ),
    (
        "negative Input shape",
        lambda: keras.Input(shape=(-1, 3)),
        ValueError,
        r"`shape` must be a non-negative integer or None; got \(None, -1, 3\)",
    ),
    (
        "dropout rate",
        lambda: layers.Dropout(1.5),
        ValueError,
        r"Dropout '.*': argument 'rate' must be a number between 0 and 1, got 1.5",
    ),
    (
        "get_layer",
        lambda: keras.Sequential([keras.Input((2,)), layers.Dense(1)]).get_layer("x"),
        ValueError,
        r"no layer named 'x'; layers are \['dense.*'\]",
    ),
    (
        "count_params unbuilt",
        lambda: layers.Dense(2).count_params(),
        ValueError,
        r"Layer 'dense.*' is not built yet",
    ),
]


@pytest.mark.parametrize("case,fn,exc,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_bad_input_messages(case, fn, exc, message):
    with pytest.raises(exc, match=message):
        fn()
