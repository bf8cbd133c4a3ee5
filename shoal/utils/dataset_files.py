"""File listing, label inference, shuffling and validation split shared by
`image_dataset_from_directory` and `text_dataset_from_directory`.

The rules follow Keras 3 so that, given the same directory and `seed`, the same files come
out in the same order and land in the same training / validation subset:

- with `labels="inferred"` the classes are the sorted names of the directory's visible
  subdirectories (or `class_names`, in the order given); otherwise the whole tree is listed;
- each class directory is walked (`os.walk`), its directories in sorted path order and the
  files of each in sorted name order, keeping names that end (case-insensitively) with one
  of `formats`;
- with `shuffle` the list is permuted once by `np.random.RandomState(seed).shuffle`;
- with `validation_split`, the last `int(validation_split * n)` files are the validation
  subset and the others the training subset.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from shoal.utils.batch_dataset import BatchDataset

LABEL_MODES = ("int", "categorical", "binary", None)
SUBSETS = ("training", "validation", "both", None)


def positive_int_or_none(owner, name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"{owner}: argument '{name}' must be a positive integer or None; got {value!r}"
        )
    return int(value)


def check_arguments(
    owner, labels, label_mode, class_names, validation_split, subset, shuffle, seed
):
    """Validates the arguments both utilities share; returns `(labels, label_mode)` with
    both set to None when either asks for no labels."""
    if not (isinstance(labels, str) and labels == "inferred") and labels is not None:
        if not isinstance(labels, (list, tuple, np.ndarray)):
            raise ValueError(
                f"{owner}: argument 'labels' must be 'inferred', None or a list/tuple of "
                f"integer labels (one per file, in sorted path order); got {labels!r}"
            )
        labels = list(labels)
        bad = [v for v in labels if isinstance(v, bool) or not isinstance(v, numbers.Integral)]
        if bad or any(v < 0 for v in labels):
            raise ValueError(
                f"{owner}: argument 'labels' must hold non-negative integers; got "
                f"{(bad or [v for v in labels if v < 0])[0]!r} among them"
            )
        if class_names:
            raise ValueError(
                f"{owner}: argument 'class_names' can only be given with labels='inferred'; "
                f"got labels={labels!r} and class_names={class_names!r}"
            )
    elif isinstance(labels, str) and labels != "inferred":
        raise ValueError(
            f"{owner}: argument 'labels' must be 'inferred', None or a list/tuple of integer "
            f"labels; got {labels!r}"
        )
    if label_mode not in LABEL_MODES:
        raise ValueError(
            f"{owner}: argument 'label_mode' must be one of {LABEL_MODES}; got {label_mode!r}"
        )
    if class_names is not None and (
        not isinstance(class_names, (list, tuple))
        or not all(isinstance(c, str) for c in class_names)
    ):
        raise ValueError(
            f"{owner}: argument 'class_names' must be a list of subdirectory names (str); "
            f"got {class_names!r}"
        )
    if validation_split is not None and (
        isinstance(validation_split, bool)
        or not isinstance(validation_split, numbers.Real)
        or not 0 < validation_split < 1
    ):
        raise ValueError(
            f"{owner}: argument 'validation_split' must be a float strictly between 0 and 1 "
            f"(or None); got {validation_split!r}"
        )
    if subset not in SUBSETS:
        raise ValueError(f"{owner}: argument 'subset' must be one of {SUBSETS}; got {subset!r}")
    if bool(validation_split) != (subset is not None):
        raise ValueError(
            f"{owner}: arguments 'subset' and 'validation_split' must be given together; got "
            f"subset={subset!r} and validation_split={validation_split!r}"
        )
    if validation_split and shuffle and seed is None:
        raise ValueError(
            f"{owner}: argument 'seed' must be an integer when shuffling with a "
            "validation_split, so that the training and validation subsets do not overlap "
            "across calls; got seed=None"
        )
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise ValueError(f"{owner}: argument 'seed' must be an integer or None; got {seed!r}")
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def _list_subdirectory(root, dirname, formats, follow_links):
    """Relative paths (`dirname/...`) of the files under `root` whose names end with one of
    `formats`, directories in sorted path order and files sorted within each."""
    found = []
    for walk_root, _, files in sorted(os.walk(root, followlinks=follow_links), key=lambda w: w[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                found.append(
                    os.path.join(dirname, os.path.relpath(os.path.join(walk_root, name), root))
                )
    return found


def index_directory(
    owner,
    directory,
    labels,
    formats,
    class_names=None,
    shuffle=True,
    seed=None,
    follow_links=False,
    verbose=True,
):
    """Returns `(file_paths, labels, class_names)`: the files' paths (str), their integer
    labels (int32 array, or None) and the class names (None when there are no labels)."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(
            f"{owner}: argument 'directory' must be an existing directory; got {directory!r}"
        )
    if isinstance(labels, str):  # "inferred"
        subdirs = sorted(
            d
            for d in os.listdir(directory)
            if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")
        )
        if class_names is not None:
            unknown = [c for c in class_names if c not in subdirs]
            if unknown:
                raise ValueError(
                    f"{owner}: argument 'class_names' must name subdirectories of {directory!r} "
                    f"(expected a subset of {subdirs}); got {list(class_names)!r}"
                )
            subdirs = list(class_names)
    else:
        if class_names is not None:
            raise ValueError(
                f"{owner}: argument 'class_names' can only be given with labels='inferred'; "
                f"got labels={labels!r} and class_names={class_names!r}"
            )
        subdirs = [""]
    names, indices = [], []
    for index, subdir in enumerate(subdirs):
        found = _list_subdirectory(os.path.join(directory, subdir), subdir, formats, follow_links)
        names += found
        indices += [index] * len(found)
    if isinstance(labels, str):
        labels = np.asarray(indices, dtype="int32")
        class_names = list(subdirs)
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(names):
            raise ValueError(
                f"{owner}: argument 'labels' must have one label per file found in "
                f"{directory!r} (expected {len(names)}); got {len(labels)} labels"
            )
        class_names = [str(v) for v in sorted(set(labels))]
        labels = np.asarray(labels, dtype="int32")
    if verbose:
        if labels is None:
            print(f"Found {len(names)} files.")
        else:
            print(f"Found {len(names)} files belonging to {len(class_names)} classes.")
    paths = [os.path.join(directory, name) for name in names]
    if shuffle:
        # One permutation drawn from `seed`, the same as Keras' RandomState(seed).shuffle of
        # the path list (and, with a fresh RandomState(seed), of the labels); seed None: a
        # fresh random order.
        order = np.arange(len(paths))
        np.random.RandomState(seed).shuffle(order)
        paths = [paths[i] for i in order]
        if labels is not None:
            labels = labels[order]
    return paths, labels, class_names


def split(paths, labels, validation_split, subset, verbose=True):
    """The `subset` ("training" or "validation") of `(paths, labels)`: the validation subset
    is the last `int(validation_split * len(paths))` files."""
    if not validation_split:
        return paths, labels
    n_val = int(validation_split * len(paths))
    cut = len(paths) - n_val
    if subset == "training":
        if verbose:
            print(f"Using {cut} files for training.")
        return paths[:cut], None if labels is None else labels[:cut]
    if verbose:
        print(f"Using {n_val} files for validation.")
    return paths[cut:], None if labels is None else labels[cut:]


def encode_labels(owner, labels, label_mode, class_names):
    """Integer labels as the arrays `label_mode` asks for: int32 `(n,)`, float32 `(n, 1)`
    for "binary", float32 one-hot `(n, num_classes)` for "categorical"."""
    if labels is None:
        return None
    if label_mode == "binary":
        if len(class_names) != 2:
            raise ValueError(
                f"{owner}: label_mode='binary' needs exactly 2 classes; got "
                f"{len(class_names)} classes: class_names={class_names!r}"
            )
        return labels.astype("float32")[:, None]
    if label_mode == "categorical":
        # One column per class, as Keras; explicit labels that skip values would fall
        # outside the one-hot width (Keras silently gives them all-zero rows).
        depth = len(class_names)
        if len(labels) and int(labels.max()) >= depth:
            raise ValueError(
                f"{owner}: label_mode='categorical' needs labels in [0, {depth}) for the "
                f"{depth} distinct labels; got label {int(labels.max())}"
            )
        return np.eye(depth, dtype="float32")[labels]
    return labels


class FileBatches(BatchDataset):
    """Batches of files loaded on demand by `load(paths) -> array`, with their labels.

    Attributes:
        file_paths: the files, in the order the batches take them.
        class_names: the class names (None without labels).
    """

    def __init__(self, file_paths, labels, class_names, batch_size, load):
        super().__init__()
        self.file_paths, self.class_names = list(file_paths), class_names
        self.labels, self.batch_size, self._load = labels, batch_size, load

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return -(-len(self.file_paths) // self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range for {len(self)} batches")
        if self.batch_size is None:  # one unbatched element
            x = self._load(self.file_paths[index : index + 1])[0]
            return x if self.labels is None else (x, self.labels[index])
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        x = self._load(self.file_paths[rows])
        return x if self.labels is None else (x, self.labels[rows])


def make_datasets(
    owner,
    directory,
    paths,
    labels,
    class_names,
    label_mode,
    validation_split,
    subset,
    batch_size,
    load,
    kind,
    formats,
    verbose,
):
    """One `FileBatches` for `subset` (or the whole list), or a `(training, validation)`
    pair for `subset="both"`."""
    encoded = encode_labels(owner, labels, label_mode, class_names)

    def build(which):
        sub_paths, sub_labels = split(paths, encoded, validation_split, which, verbose)
        if not sub_paths:
            what = f"{which} " if which else ""
            raise ValueError(
                f"{owner}: no {what}{kind} found in directory {directory!r} "
                f"(allowed formats: {formats})"
            )
        return FileBatches(sub_paths, sub_labels, class_names, batch_size, load)

    if subset == "both":
        return build("training"), build("validation")
    return build(subset)
