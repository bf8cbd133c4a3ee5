"""User data for `FeatureSpace`: columns as NumPy arrays, and the batches `adapt` feeds.

Keras' FeatureSpace adapts each preprocessor on a tf.data pipeline: a dataset of unbatched
samples is batched by 32, and a rank-1 element becomes a column (`expand_dims(x, -1)`), so
a column of shape (n, 1) is adapted one row at a time. The batches built here follow the
same rules, so `Discretization`, whose learned boundaries depend on the batching, learns
Keras' boundaries. The data is read once (a generator cannot be rewound).
"""

from __future__ import annotations

import collections.abc

import jax
import numpy as np

from shoal.backend import dtypes
from shoal.utils.py_dataset import PyDataset

ADAPT_BATCH = 32  # Keras batches unbatched samples by 32 before adapting


def is_mapping(value) -> bool:
    """A dict, or a dict-like of columns (a pandas DataFrame)."""
    if isinstance(value, collections.abc.Mapping):
        return True
    return (
        callable(getattr(value, "keys", None))
        and hasattr(value, "__getitem__")
        and not isinstance(value, (PyDataset, np.ndarray, jax.Array, str, bytes))
    )


def lookup(space, data, key, where):
    """`data[key]`, or a ValueError naming the missing feature and the keys given."""
    try:
        return data[key]
    except (KeyError, IndexError, TypeError):
        keys = sorted(str(k) for k in data.keys())
        raise ValueError(
            f"{space._owner}: {where} has no value for feature '{key}'; expected a dict with "
            f"the keys {list(space.features)}; got keys {keys}"
        ) from None


def host_column(space, key, value) -> np.ndarray:
    """`value` as a NumPy array of feature `key`'s dtype (strings stay strings; integer
    features take integral floats, as pandas gives them)."""
    feature = space.features[key]
    array = np.asarray(value)
    if feature.dtype == "string":
        return array
    if array.dtype.kind not in "biuf":
        raise ValueError(
            f"{space._owner}: feature '{key}' holds {feature.dtype} values; got an array of "
            f"dtype {array.dtype}"
            + (f" (first value {array.reshape(-1)[0]!r})" if array.size else "")
        )
    if dtypes.is_int_dtype(feature.dtype):
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.trunc(array))):
            raise ValueError(
                f"{space._owner}: feature '{key}' holds integers; got non-integral values of "
                f"dtype {array.dtype}"
            )
        return array.astype(np.int64)
    return array.astype(feature.dtype)


def adapt_batches(space, dataset, names) -> dict:
    """{feature: [NumPy batches]} for the features `names`, batched as Keras' adapt sees them."""
    if is_mapping(dataset):
        return {key: _column_batches(space, key, dataset) for key in names}
    iterable = hasattr(dataset, "__iter__") and not isinstance(
        dataset, (str, bytes, np.ndarray, jax.Array)
    )
    if not iterable:
        raise ValueError(
            f"{space._owner}: adapt() takes a dict of columns (arrays or lists, one per "
            "feature) or an iterable (generator, list, PyDataset) of dict batches or "
            f"(dict, label) pairs; got {type(dataset).__name__}"
        )
    if isinstance(dataset, PyDataset) and dataset.num_batches is None:
        raise ValueError(
            f"{space._owner}: adapt() needs a finite dataset; got an endless PyDataset "
            "(num_batches is None)"
        )
    return _iterable_batches(space, dataset, names)


def _column_batches(space, key, columns) -> list:
    column = host_column(space, key, lookup(space, columns, key, "adapt() data"))
    if column.ndim == 0 or len(column) == 0:
        raise ValueError(
            f"{space._owner}: adapt() needs at least one value per feature; the column of "
            f"feature '{key}' has shape {column.shape}"
        )
    if column.ndim == 1:  # scalar samples: batches of 32, as one column
        return [column[i : i + ADAPT_BATCH, None] for i in range(0, len(column), ADAPT_BATCH)]
    if column.ndim == 2:  # rank-1 samples: each becomes a column of its own
        return [row[:, None] for row in column]
    return list(column)


def _iterable_batches(space, dataset, names) -> dict:
    out: dict = {key: [] for key in names}
    pending: dict = {key: [] for key in names}  # unbatched samples waiting for a batch
    ranks: dict = {}
    count = 0

    def flush(key):
        if pending[key]:
            out[key].append(np.stack(pending[key])[:, None])
            pending[key] = []

    for count, element in enumerate(dataset, start=1):
        if isinstance(element, (tuple, list)) and element and is_mapping(element[0]):
            element = element[0]  # (x, y) or (x, y, sample_weight)
        if not is_mapping(element):
            raise ValueError(
                f"{space._owner}: adapt() expects every element of the data to be a dict of "
                "feature batches (or an (x, y) pair whose x is one); got "
                f"{type(element).__name__} at position {count - 1}"
            )
        for key in names:
            value = host_column(space, key, lookup(space, element, key, "adapt() data"))
            rank = ranks.setdefault(key, value.ndim)  # the first element decides, as in Keras
            if value.ndim != rank:
                raise ValueError(
                    f"{space._owner}: adapt() got batches of feature '{key}' with different "
                    f"ranks: {rank}, then {value.ndim}"
                )
            if rank == 0:
                pending[key].append(value)
                if len(pending[key]) == ADAPT_BATCH:
                    flush(key)
            elif rank == 1:
                out[key].append(value[:, None])
            else:
                out[key].append(value)
    if count == 0:
        raise ValueError(f"{space._owner}: adapt() got no data (an empty iterable)")
    for key in names:
        flush(key)
    return out
