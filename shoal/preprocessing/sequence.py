"""`keras.preprocessing.sequence`: padding sequences to one length."""

from shoal.utils.sequences import pad_sequences

__all__ = ["pad_sequences"]
