"""Masks carried by arrays between eager layer calls (Keras' `_keras_mask`).

A layer called on arrays (eagerly or inside a traced function) attaches the mask it
computes to its outputs, and the next layer that takes a `mask` argument receives it when
none is given, as in Keras: `Embedding(mask_zero=True)` then an LSTM in a subclassed model
masks without passing masks by hand. Concrete arrays carry the mask as an attribute;
tracers, which refuse attributes, in a table keyed by object identity that forgets an
entry when its array is collected.
"""

from __future__ import annotations

import weakref

_TABLE: dict = {}


def _forget(key) -> None:
    _TABLE.pop(key, None)


def set_keras_mask(x, mask) -> None:
    try:
        x._keras_mask = mask
        return
    except AttributeError:
        pass
    key = id(x)
    if mask is None:
        _TABLE.pop(key, None)
        return
    try:
        weakref.finalize(x, _forget, key)
    except TypeError:  # not weak-referenceable: an id could be reused, so keep nothing
        return
    _TABLE[key] = mask


def get_keras_mask(x):
    mask = getattr(x, "_keras_mask", None)
    if mask is None:
        mask = _TABLE.get(id(x))
    return mask
