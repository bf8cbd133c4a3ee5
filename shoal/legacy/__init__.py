"""Keras 3's `keras.legacy` namespace: the Keras 2 (legacy) serialization helpers."""

from shoal.legacy import saving

__all__ = ["saving"]
