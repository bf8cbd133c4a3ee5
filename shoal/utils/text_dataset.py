"""`text_dataset_from_directory`: a directory of `.txt` files as a PyDataset of batches."""

from __future__ import annotations

import numbers

import numpy as np

from shoal.utils import dataset_files
from shoal.utils.batch_dataset import check_format

ALLOWED_FORMATS = (".txt",)
_OWNER = "text_dataset_from_directory"


def text_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    max_length=None,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    format="tf",
    verbose=True,
):
    """The `.txt` files under `directory` as a `PyDataset` of batches `(texts, labels)`
    (just `texts` when `labels` or `label_mode` is None), as Keras'
    `keras.utils.text_dataset_from_directory`.

    With `labels="inferred"` each subdirectory is a class (sorted names, or `class_names`'
    order). Texts are the files' contents read as UTF-8, cut to their first `max_length`
    characters, in a NumPy array of Python strings (dtype object) of shape `(batch,)`.
    Labels are int32 `(batch,)` for `label_mode="int"`, float32 one-hot
    `(batch, num_classes)` for "categorical", float32 `(batch, 1)` for "binary".

    Files are listed and shuffled once (from `seed`) exactly as Keras does, so the same
    files land in the same subset: with `validation_split`, `subset="training"` /
    `"validation"` returns that part and `subset="both"` returns both. Files are read
    lazily, one batch at a time. The result has `class_names` and `file_paths` (in batch
    order) attributes; `batch_size=None` yields single strings.

    Example:
        >>> ds = text_dataset_from_directory("reviews/", batch_size=64)  # doctest: +SKIP
        >>> vectorize = TextVectorization(max_tokens=20000)  # doctest: +SKIP
        >>> vectorize.adapt(np.concatenate([x for x, _ in ds]))  # doctest: +SKIP
    """
    check_format("text_dataset_from_directory", format)
    labels, label_mode = dataset_files.check_arguments(
        _OWNER, labels, label_mode, class_names, validation_split, subset, shuffle, seed
    )
    batch_size = dataset_files.positive_int_or_none(_OWNER, "batch_size", batch_size)
    if max_length is not None and (
        isinstance(max_length, bool)
        or not isinstance(max_length, numbers.Integral)
        or max_length < 0
    ):
        raise ValueError(
            f"{_OWNER}: argument 'max_length' must be a non-negative integer or None; got "
            f"{max_length!r}"
        )
    paths, labels, class_names = dataset_files.index_directory(
        _OWNER,
        directory,
        labels,
        ALLOWED_FORMATS,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )

    def read(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        return text if max_length is None else text[:max_length]

    def load(batch_paths):
        texts = np.empty(len(batch_paths), dtype=object)
        texts[:] = [read(p) for p in batch_paths]
        return texts

    return dataset_files.make_datasets(
        _OWNER,
        directory,
        paths,
        labels,
        class_names,
        label_mode,
        validation_split,
        subset,
        batch_size,
        load,
        "text files",
        ALLOWED_FORMATS,
        verbose,
    )
