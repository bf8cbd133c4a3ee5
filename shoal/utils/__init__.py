"""Keras-named utilities (`keras.utils`)."""

from shoal.utils.file_utils import get_file
from shoal.utils.numerical import normalize, to_categorical
from shoal.utils.py_dataset import PyDataset, Sequence
from shoal.utils.seeding import set_random_seed
from shoal.utils.sequences import pad_sequences

__all__ = [
    "PyDataset",
    "Sequence",
    "get_file",
    "normalize",
    "pad_sequences",
    "set_random_seed",
    "to_categorical",
]
