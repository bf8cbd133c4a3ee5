"""Turn what users pass to fit/evaluate/predict into batches of arrays.

Accepted: NumPy / JAX arrays (and nested lists / dicts of them), Python
generators or iterators yielding `x`, `(x, y)` or `(x, y, sample_weight)`,
`shoal.utils.PyDataset`, and any iterable of batches (a `tf.data.Dataset` or
a `torch.utils.data.DataLoader` work this way when those packages are
installed). Bad data raises ValueError/TypeError naming the argument before
anything is compiled.
"""

from __future__ import annotations

import math
import random

import jax
import numpy as np

from shoal.backend import run_settings


def _leaves(structure):
    return jax.tree_util.tree_leaves(structure)


def _to_numpy(value, argument):
    if isinstance(value, jax.Array):
        return value
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        raise TypeError(
            f"Argument `{argument}` must hold numbers; got an array of dtype {array.dtype}"
            + (f" (first element {array.flat[0]!r})" if array.size else "")
        )
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    return array


def is_array_data(x) -> bool:
    if _is_iterator_like(x):
        return False
    leaves = _leaves(x)
    return (
        bool(leaves)
        and all(isinstance(v, (np.ndarray, jax.Array, list, tuple, int, float)) for v in leaves)
        and not _is_iterator_like(x)
    )


def _is_iterator_like(x) -> bool:
    if isinstance(x, (np.ndarray, jax.Array, list, tuple, dict)):
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__") or hasattr(x, "__getitem__")


def standardize_arrays(x, y=None, sample_weight=None):
    """Convert nested array data to NumPy, check sample counts; returns (x, y, sw, n)."""
    if x is None:
        raise ValueError("Argument `x` is required; got None.")
    x = jax.tree_util.tree_map(lambda v: _to_numpy(v, "x"), x)
    y = None if y is None else jax.tree_util.tree_map(lambda v: _to_numpy(v, "y"), y)
    if sample_weight is not None:
        sample_weight = jax.tree_util.tree_map(
            lambda v: _to_numpy(v, "sample_weight"), sample_weight
        )
    sizes = {}
    for name, value in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        if value is None:
            continue
        for leaf in _leaves(value):
            if np.ndim(leaf) == 0 and isinstance(value, (list, tuple)):
                raise ValueError(
                    f"Argument `{name}` is a {type(value).__name__} holding numbers: a list is "
                    "read as one array per model input (or output). For a single array, pass "
                    f"np.asarray({name})."
                )
            if np.ndim(leaf) == 0:
                raise ValueError(
                    f"Argument `{name}` must have a leading sample dimension; got a scalar."
                )
            sizes.setdefault(name, []).append(int(leaf.shape[0]))
    counts = {n for v in sizes.values() for n in v}
    if len(counts) > 1:
        detail = ", ".join(f"'{k}' sizes: {v}" for k, v in sizes.items())
        raise ValueError(
            "Data cardinality is ambiguous: x, y and sample_weight must all have the same "
            f"number of samples. Got {detail}"
        )
    n = counts.pop() if counts else 0
    if n == 0:
        raise ValueError("Argument `x` is empty: it has 0 samples; fit/evaluate need data.")
    return x, y, sample_weight, n


def check_batch_size(batch_size, argument="batch_size"):
    if batch_size is None:
        return None
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size <= 0)
    ):
        raise ValueError(f"Argument `{argument}` must be a positive integer; got {batch_size!r}")
    return int(batch_size)


def split_validation(x, y, sample_weight, validation_split):
    """Hold out the last `validation_split` fraction (before shuffling), as Keras does."""
    if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
        raise ValueError(
            f"Argument `validation_split` must be a float in [0, 1); got {validation_split!r}"
        )
    x, y, sample_weight, n = standardize_arrays(x, y, sample_weight)
    split = int(math.floor(n * (1.0 - validation_split)))
    if split == 0 or split == n:
        raise ValueError(
            f"Argument `validation_split`={validation_split} leaves an empty training or "
            f"validation set for {n} samples."
        )

    def take(value, lo, hi):
        return None if value is None else jax.tree_util.tree_map(lambda v: v[lo:hi], value)

    train = (take(x, 0, split), take(y, 0, split), take(sample_weight, 0, split))
    val = (take(x, split, n), take(y, split, n), take(sample_weight, split, n))
    return train, val


def class_weight_to_sample_weight(y, class_weight):
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"Argument `class_weight` must be a dict mapping class index to weight; got "
            f"{type(class_weight).__name__}"
        )
    if isinstance(y, (list, tuple, dict)):
        raise ValueError("Argument `class_weight` is only supported for single-output models.")
    for key in class_weight:
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 0:
            raise ValueError(
                "Argument `class_weight` must map class indices (non-negative integers) to "
                f"weights; got the key {key!r}"
            )
        weight = class_weight[key]
        try:
            float(weight)
        except (TypeError, ValueError):
            raise TypeError(
                "Argument `class_weight` must map class indices to numeric weights; got "
                f"{key!r}: {weight!r} of type {type(weight).__name__}"
            ) from None
    y = np.asarray(y)
    labels = (
        np.argmax(y, axis=-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y), -1)[:, 0]
    )
    labels = np.rint(labels).astype(np.int64)
    table = np.ones(int(max(max(class_weight), labels.max())) + 1, np.float32)
    for k, w in class_weight.items():
        table[int(k)] = w
    return table[labels]


class _Pass:
    """Where an epoch stands in one pass over array data: its row order and the batches
    already taken (kept across epochs when `steps_per_epoch` is given)."""

    def __init__(self, order=None):
        self.order, self.seen = order, 0


class ArrayData:
    """In-memory arrays, batched with optional per-epoch shuffling."""

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        batch_size=32,
        shuffle=False,
        steps=None,
        class_weight=None,
    ):
        self.x, self.y, self.sample_weight, self.num_samples = standardize_arrays(
            x, y, sample_weight
        )
        if class_weight is not None:
            check_class_weight_with(self.y, self.sample_weight)
            self.sample_weight = class_weight_to_sample_weight(self.y, class_weight)
        # Without `batch_size`, `steps` batches cover the data once (Keras' rule), else 32.
        if batch_size is None:
            batch_size = math.ceil(self.num_samples / steps) if steps else 32
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.full_batches = math.ceil(self.num_samples / self.batch_size)
        # `steps` per epoch: each epoch goes on where the last one stopped, and a pass that
        # reaches the end of the data ends the epoch early (Keras warns: `ran_out`).
        self.steps = None if steps is None else int(steps)
        self.num_batches = self.full_batches if steps is None else self.steps
        self.ran_out = False
        self._pass = _Pass()
        # Pad the last batch to full size (predict: outputs of padded rows are dropped).
        self.pad_last = False

    def _order(self):
        """One pass's row order: None (in order) or indices. NumPy's global generator
        (which `set_random_seed` seeds) draws it, as in Keras: one permutation per pass,
        or each batch's rows permuted in place."""
        n, bs = self.num_samples, self.batch_size
        if self.shuffle is True:
            return np.random.permutation(n)
        if self.shuffle == "batch":
            return np.concatenate(
                [np.random.permutation(min(n, lo + bs) - lo) + lo for lo in range(0, n, bs)]
            )
        return None

    def epoch_rows(self):
        """Per step of one epoch, the rows of its batch: a slice, or indices if shuffled."""
        n, bs, full = self.num_samples, self.batch_size, self.full_batches
        self.ran_out = False
        if self.steps is None or self._pass.seen == 0:  # a new pass over the data
            self._pass = _Pass(self._order())
        current = self._pass
        for _ in range(self.num_batches):
            if current.seen >= full:
                self.ran_out = True
                break
            lo = current.seen * bs
            hi = min(lo + bs, n)
            rows = slice(lo, hi) if current.order is None else current.order[lo:hi]
            if self.pad_last and hi - lo < bs:  # the pass's last, partial batch
                # The last, partial batch repeats its last row up to the batch size, so that
                # it runs in the executable already compiled for full batches.
                rows = np.arange(lo, hi) if current.order is None else rows
                rows = np.concatenate([rows, np.full(bs - len(rows), rows[-1])])
            yield rows
            current.seen += 1  # after the yield: probing the first batch takes none
        if current.seen >= full:
            current.seen = 0  # the next epoch starts a new pass

    @property
    def nbytes(self) -> int:
        leaves = jax.tree_util.tree_leaves((self.x, self.y, self.sample_weight))
        return sum(int(getattr(v, "nbytes", None) or np.asarray(v).nbytes) for v in leaves)

    def epoch(self):
        for rows in self.epoch_rows():

            def take(value, rows=rows):
                if value is None:
                    return None
                return jax.tree_util.tree_map(lambda v: v[rows], value)

            yield take(self.x), take(self.y), take(self.sample_weight)


def pack(x, y=None, sample_weight=None):
    """The batch a `train_step` / `test_step` / `predict_step` receives, as Keras packs it:
    `x` (wrapped as `(x,)` when it is itself a tuple or list), `(x, y)` or
    `(x, y, sample_weight)`."""
    if y is None and sample_weight is None:
        return (x,) if isinstance(x, (tuple, list)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack(batch):
    """A batch from an iterator: x, (x, y) or (x, y, sample_weight)."""
    if isinstance(batch, tuple):
        if len(batch) == 1:
            return batch[0], None, None
        if len(batch) == 2:
            return batch[0], batch[1], None
        if len(batch) == 3:
            return batch
        raise ValueError(
            f"Data batches must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(batch)}"
        )
    return batch, None, None


def check_class_weight_with(y, sample_weight):
    if y is None:
        raise ValueError("Argument `class_weight` needs targets `y`.")
    if sample_weight is not None:
        raise ValueError(
            "Arguments `class_weight` and `sample_weight` cannot be used together (as in "
            "Keras): fold the class weights into `sample_weight` instead."
        )


class IteratorData:
    """Generators, PyDatasets and other iterables of batches."""

    def __init__(self, data, steps=None, class_weight=None, shuffle=False):
        self.data = data
        self.class_weight = class_weight
        self.is_py_dataset = (
            hasattr(data, "__getitem__")
            and hasattr(data, "__len__")
            and (hasattr(data, "on_epoch_end"))
        )
        # Batches in one pass, where known (None: a generator, read until it stops).
        self.size = len(data) if self.is_py_dataset or hasattr(data, "__len__") else None
        # `steps` per epoch: each epoch goes on where the last one stopped, as in Keras.
        self.steps = steps
        self.num_batches = int(steps) if steps is not None else self.size
        # fit(shuffle=True) reorders a PyDataset's batches each pass, drawn from Python's
        # `random` as in Keras; datasets standing for tf.data ones are never reordered.
        self.shuffle = (
            bool(shuffle) and self.is_py_dataset and not getattr(data, "is_tf_data_like", False)
        )
        self.ran_out = False
        self._iterator = None
        self._seen = 0  # batches taken from `_iterator`
        self._peeked = None  # a one-shot iterator's first batch, read by `peek`

    def peek(self):
        """The first batch, without losing it: a one-shot iterator (a generator) gives it
        again as the first batch of the next epoch."""
        if self.is_py_dataset:
            return self._convert(self.data[0])
        if not hasattr(self.data, "__next__"):  # re-iterable: read a fresh iterator
            for raw in self.data:
                return self._convert(raw)
            return None
        if self._peeked is None:
            try:
                raw = next(self.data)
            except StopIteration:
                return None
            self._peeked = (raw,)
        return self._convert(self._peeked[0])

    def _convert(self, batch):
        x, y, sw = unpack(batch)
        x, y, sw = (
            jax.tree_util.tree_map(lambda v: _to_numpy(v, "x"), x),
            None if y is None else jax.tree_util.tree_map(lambda v: _to_numpy(v, "y"), y),
            None if sw is None else jax.tree_util.tree_map(np.asarray, sw),
        )
        for name, value in (("x", x), ("y", y), ("sample_weight", sw)):
            for leaf in [] if value is None else _leaves(value):
                if np.ndim(leaf) == 0:
                    raise ValueError(
                        "Data batches must be x, (x, y) or (x, y, sample_weight) of arrays "
                        f"with a leading batch axis; got a batch of type {type(batch).__name__} "
                        f"whose `{name}` is a scalar ({np.asarray(leaf)!s})."
                    )
        if self.class_weight is not None:  # per batch, from its targets
            check_class_weight_with(y, sw)
            sw = class_weight_to_sample_weight(y, self.class_weight)
        return x, y, sw

    def _fresh_iterator(self):
        if self.is_py_dataset:
            order = list(range(len(self.data)))
            if self.shuffle:
                random.shuffle(order)
            return (self.data[i] for i in order)
        if hasattr(self.data, "__next__"):
            return self.data
        return iter(self.data)

    def epoch(self):
        if self.is_py_dataset and hasattr(self.data, "on_epoch_begin"):
            self.data.on_epoch_begin()
        self.ran_out = False
        one_shot = hasattr(self.data, "__next__")
        if self._iterator is None or (self.steps is None and not one_shot):
            self._iterator, self._seen = self._fresh_iterator(), 0
        count = 0
        while self.num_batches is None or count < self.num_batches:
            if self.size is not None and self._seen >= self.size:
                self.ran_out = self.steps is not None
                break
            if self._peeked is not None:
                batch, self._peeked = self._peeked[0], None
            else:
                try:
                    batch = next(self._iterator)
                except StopIteration:
                    self._iterator = None
                    self.ran_out = self.steps is not None
                    break
            count += 1
            self._seen += 1
            yield self._convert(batch)
        if self.size is not None and self._seen >= self.size:
            self._iterator = None  # the next epoch starts a new pass
        if self.is_py_dataset:
            self.data.on_epoch_end()


def make_data(
    x, y=None, sample_weight=None, batch_size=None, shuffle=False, steps=None, class_weight=None
):
    batch_size = check_batch_size(batch_size)
    if steps is not None and (not isinstance(steps, (int, np.integer)) or steps <= 0):
        raise ValueError(
            f"Argument `steps`/`steps_per_epoch` must be a positive integer; got {steps!r}"
        )
    steps = run_settings.capped_steps(steps)
    if (
        x is not None
        and not isinstance(x, (np.ndarray, jax.Array, list, tuple, dict))
        and (_is_iterator_like(x))
    ):
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(
                    f"Argument `{name}` must not be given when `x` is a dataset, generator or "
                    f"PyDataset (got {type(x).__name__}); yield it from `x` instead."
                )
        return IteratorData(x, steps=steps, class_weight=class_weight, shuffle=shuffle)
    return ArrayData(
        x,
        y,
        sample_weight,
        batch_size=batch_size,
        shuffle=shuffle,
        steps=steps,
        class_weight=class_weight,
    )
