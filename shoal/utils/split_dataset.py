"""`split_dataset`: a dataset cut into a left and a right part (e.g. train / test), as
`keras.utils.split_dataset`.

Sizes follow Keras' rules: an int is a number of samples (0 < size < n), a float a
fraction (0 < size < 1, rounded with Python's `round`), None the complement of the other
side; when both are given and add up to less than the whole, the samples between the two
parts are left out. With `shuffle`, the samples are permuted first by the same draw as
Keras' `random.seed(seed); random.shuffle(samples)`, so a seed puts the same samples on
each side as in Keras.

Arrays, tuples / lists of arrays and dicts of arrays give two `SampleDataset`s of single
samples (Keras gives unbatched `tf.data` datasets); call `.batch(n)` before `fit`. A
PyDataset of batches (what `image_dataset_from_directory` and the other `*_from_directory`
utilities return) is split sample by sample and each part comes back in batches of the
same size, as Keras does with a batched dataset; the `*_from_directory` datasets are split
by file, without reading the files.
"""

from __future__ import annotations

import numbers
import random

import jax
import numpy as np

from shoal.utils.dataset_files import FileBatches
from shoal.utils.py_dataset import PyDataset
from shoal.utils.sample_dataset import ArrayBatches, SampleDataset, num_samples, take_rows

_OWNER = "split_dataset"


def split_dataset(
    dataset, left_size=None, right_size=None, shuffle=False, seed=None, preferred_backend=None
):
    """Splits `dataset` into `(left, right)`.

    Args:
        dataset: a NumPy array, a tuple / list / dict of arrays of the same length, or a
            PyDataset of batches (e.g. from `image_dataset_from_directory`).
        left_size: int (number of samples), float in (0, 1) (fraction of the samples) or
            None (the complement of `right_size`).
        right_size: as `left_size`, for the right part.
        shuffle: whether to shuffle the samples before splitting.
        seed: random seed for the shuffle.
        preferred_backend: Keras' choice between tf.data and torch datasets; taken for
            compatibility (None, "tensorflow", "jax", "torch", ...): the parts are always
            shoal datasets, which `fit` takes on every backend.

    Returns:
        A tuple of two datasets: `SampleDataset`s of single samples for arrays, datasets of
        batches of the original batch size for a PyDataset of batches.

    Example:
        >>> data = np.random.random(size=(1000, 4))
        >>> left_ds, right_ds = split_dataset(data, left_size=0.8)
        >>> len(left_ds), len(right_ds)
        (800, 200)
    """
    if preferred_backend is not None and not isinstance(preferred_backend, str):
        raise ValueError(
            f"{_OWNER}: argument 'preferred_backend' must be None or a backend name "
            f"such as 'tensorflow'; got {preferred_backend!r}"
        )
    data = _as_data(dataset)
    if left_size is None and right_size is None:
        raise ValueError(
            f"{_OWNER}: at least one of the arguments 'left_size' and 'right_size' must be "
            "given; got left_size=None and right_size=None"
        )
    total = _length(data)
    order = list(range(total))
    if shuffle:
        random.Random(seed).shuffle(order)
    n_left, n_right = split_sizes(left_size, right_size, total)
    return _subset(dataset, data, order[:n_left]), _subset(dataset, data, order[-n_right:])


def _array(owner_kind, where, value):
    if isinstance(value, jax.Array):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        raise ValueError(
            f"{_OWNER}: argument 'dataset' must hold NumPy arrays when it is a "
            f"{owner_kind}; got {type(value).__name__} at {where}"
        )
    if value.ndim == 0:
        raise ValueError(
            f"{_OWNER}: argument 'dataset' must hold arrays with a sample axis; got a "
            f"0-d array at {where}"
        )
    return value


def _check_lengths(kind, arrays):
    if not arrays:
        raise ValueError(
            f"{_OWNER}: argument 'dataset' must be a non-empty {kind} of arrays; got an "
            f"empty {kind}"
        )
    lengths = {where: len(a) for where, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"{_OWNER}: argument 'dataset' must hold arrays of the same length (number of "
            f"samples); got lengths {lengths}"
        )


def _as_data(dataset):
    """The samples of `dataset`: an array, a tuple of arrays, a dict of arrays, the file
    datasets' own FileBatches, or a PyDataset's batches joined into arrays."""
    if isinstance(dataset, FileBatches):
        return dataset
    if isinstance(dataset, (np.ndarray, jax.Array)):
        return _array("array", "the top level", dataset)
    if isinstance(dataset, (list, tuple)):
        kind = type(dataset).__name__
        arrays = {f"index {i}": _array(kind, f"index {i}", v) for i, v in enumerate(dataset)}
        _check_lengths(kind, arrays)
        return tuple(arrays.values())
    if isinstance(dataset, dict):
        arrays = {repr(k): _array("dict", f"key {k!r}", v) for k, v in dataset.items()}
        _check_lengths("dict", arrays)
        return dict(zip(dataset, arrays.values(), strict=True))
    if isinstance(dataset, PyDataset):
        return _join_batches(dataset)
    raise TypeError(
        f"{_OWNER}: argument 'dataset' must be a NumPy array, a list/tuple/dict of NumPy "
        "arrays or a PyDataset of batches (such as image_dataset_from_directory returns); "
        f"got {type(dataset).__name__}"
    )


def _join_batches(dataset):
    batches = list(dataset)
    if not batches or not jax.tree_util.tree_leaves(batches[0]):
        raise ValueError(f"{_OWNER}: argument 'dataset' must not be empty; got 0 batches")
    first = batches[0]
    structure = jax.tree_util.tree_structure(first)
    for i, batch in enumerate(batches):
        if jax.tree_util.tree_structure(batch) != structure:
            raise ValueError(
                f"{_OWNER}: argument 'dataset' must give batches of one structure; batch {i} "
                f"is {jax.tree_util.tree_structure(batch)}, batch 0 is {structure}"
            )
    leaves = [jax.tree_util.tree_leaves(b) for b in batches]
    joined = []
    for j in range(len(leaves[0])):
        parts = [np.asarray(b[j]) for b in leaves]
        shapes = {p.shape[1:] for p in parts}
        if any(p.ndim == 0 for p in parts) or len(shapes) > 1:
            raise ValueError(
                f"{_OWNER}: argument 'dataset' must give batches whose samples all have one "
                f"shape; got batch shapes {[p.shape for p in parts]}"
            )
        joined.append(np.concatenate(parts))
    data = jax.tree_util.tree_unflatten(structure, joined)
    if isinstance(data, list):
        data = tuple(data)
    return _Joined(data, len(jax.tree_util.tree_leaves(first)[0]))


class _Joined:
    """A PyDataset's samples (`data`) and its batch size."""

    def __init__(self, data, batch_size):
        self.data, self.batch_size = data, batch_size


def _length(data) -> int:
    if isinstance(data, FileBatches):
        return len(data.file_paths)
    if isinstance(data, _Joined):
        return num_samples(data.data)
    return num_samples(data)


def _subset(dataset, data, indices):
    if isinstance(data, FileBatches):
        labels = None if data.labels is None else data.labels[np.asarray(indices, dtype=int)]
        subset = FileBatches(
            [data.file_paths[i] for i in indices],
            labels,
            data.class_names,
            data.batch_size,
            data._load,
        )
        return subset
    if isinstance(data, _Joined):
        return ArrayBatches(take_rows(data.data, indices), data.batch_size)
    return SampleDataset(take_rows(data, indices))


def _check_size_type(name, value):
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        f"{_OWNER}: argument '{name}' must be an int, a float or None; got "
        f"{value!r} of type {type(value).__name__}"
    )


def split_sizes(left_size, right_size, total):
    """`(left, right)` numbers of samples out of `total` from Keras' size arguments."""
    left_size = _check_size_type("left_size", left_size)
    right_size = _check_size_type("right_size", right_size)
    if left_size == 0 and right_size == 0:
        raise ValueError(
            f"{_OWNER}: arguments 'left_size' and 'right_size' are both zero; at least one "
            "must be positive"
        )
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (isinstance(size, int) and not 0 < size < total) or (
            isinstance(size, float) and not 0 < size < 1
        ):
            raise ValueError(
                f"{_OWNER}: argument '{name}' must be a positive integer smaller than the "
                f"dataset's {total} samples, or a float strictly between 0 and 1; got {size!r}"
            )
    if (
        isinstance(left_size, float)
        and isinstance(right_size, float)
        and left_size + right_size > 1
    ):
        raise ValueError(
            f"{_OWNER}: arguments 'left_size' and 'right_size' must add up to at most 1 as "
            f"fractions; got {left_size} + {right_size}"
        )
    left = round(left_size * total) if isinstance(left_size, float) else left_size
    right = round(right_size * total) if isinstance(right_size, float) else right_size
    if left is None:
        left = total - right
    if right is None:
        right = total - left
    if left + right > total:
        raise ValueError(
            f"{_OWNER}: arguments 'left_size' and 'right_size' must add up to at most the "
            f"dataset's {total} samples; got {left} + {right} samples"
        )
    for side, size in (("left", left), ("right", right)):
        if size == 0:
            raise ValueError(
                f"{_OWNER}: with {total} samples, left_size={left_size!r} and "
                f"right_size={right_size!r} leave the {side} part empty; adjust them"
            )
    return int(left), int(right)
