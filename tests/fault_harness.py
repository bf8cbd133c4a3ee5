"""Shared by the bad-input tests: a small trained classifier whose state every bad call must
leave as it was, and the checks that it did."""

from __future__ import annotations

import numpy as np
import pytest

import shoal as keras
from shoal import layers

X = np.random.default_rng(0).random((8, 4)).astype("float32")
Y = np.arange(8) % 3


def trained_classifier():
    """A small classifier, trained one epoch on `X`, `Y`."""
    i = keras.Input((4,))
    model = keras.Model(i, layers.Dense(3, activation="softmax")(layers.Dense(5)(i)))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, epochs=1, verbose=0)
    return model


def training_state(model):
    """Copies of the weights and the optimizer's step count."""
    return [w.copy() for w in model.get_weights()], int(model.optimizer.iterations.numpy())


def assert_unchanged(model, before):
    """The weights and step count equal `before` (a `training_state`)."""
    weights, iterations = training_state(model)
    assert iterations == before[1]
    for a, b in zip(weights, before[0], strict=True):
        np.testing.assert_array_equal(a, b)


def assert_refused_unchanged(model, call, words):
    """`call(model)` raises a ValueError or TypeError whose message holds each of `words`,
    and leaves the model's weights and step count as they were."""
    before = training_state(model)
    with pytest.raises((ValueError, TypeError)) as info:
        call(model)
    for word in words:
        assert word in str(info.value)
    assert_unchanged(model, before)
