"""shoal.utils.split_dataset against Keras 3.15's size rules, shuffle and restored
samples (its pure-Python helpers; its tf.data wrapping needs TensorFlow)."""

import random

import numpy as np
import pytest
from keras.src.utils import dataset_utils as keras_dataset_utils

import shoal
from shoal.utils.split_dataset import split_dataset, split_sizes
from shoal.utils.text_dataset import text_dataset_from_directory

SIZES = [
    (0.8, None),
    (None, 0.25),
    (3, None),
    (None, 7),
    (0.3, 0.5),
    (2, 3),
    (0.45, None),  # round(4.5) == 4: Python's rounding, as Keras
    (0.55, 4),
    (0.05, None),  # round(0.5) == 0: an empty side
    (0, None),
    (10, None),
    (1.0, None),
    (0, 0),
    (0.6, 0.6),
    (7, 5),
    (-1, None),
    ("3", None),
    (None, [2]),
    (True, None),
]


def _keras_sizes(left, right, total):
    try:
        return keras_dataset_utils._rescale_dataset_split_sizes(left, right, total)
    except (ValueError, TypeError) as err:
        return type(err)


def _shoal_sizes(left, right, total):
    try:
        return split_sizes(left, right, total)
    except (ValueError, TypeError) as err:
        return type(err)


@pytest.mark.parametrize("left,right", SIZES, ids=[repr(s) for s in SIZES])
def test_split_sizes_and_errors_equal_keras(left, right):
    if left is True:  # bool: Keras rejects it by type, so do we
        assert _shoal_sizes(left, right, 10) is TypeError
        return
    assert _shoal_sizes(left, right, 10) == _keras_sizes(left, right, 10)


def test_size_errors_name_the_argument():
    with pytest.raises(ValueError, match="'left_size'.*got 10"):
        split_sizes(10, None, 10)
    with pytest.raises(TypeError, match="'right_size'.*str"):
        split_sizes(None, "2", 10)
    with pytest.raises(ValueError, match="left part empty"):
        split_sizes(0.05, None, 10)
    x = np.zeros((4, 2))
    with pytest.raises(ValueError, match="'left_size' and 'right_size'.*None"):
        split_dataset(x)


def _keras_split(dataset, left, right, shuffle, seed):
    """Keras' _split_dataset_tf up to the tf.data step."""
    spec = keras_dataset_utils._get_type_spec(dataset)
    samples = keras_dataset_utils._convert_dataset_to_list(dataset, spec)
    if shuffle:
        random.seed(seed)
        random.shuffle(samples)
    n_left, n_right = keras_dataset_utils._rescale_dataset_split_sizes(left, right, len(samples))
    return [
        keras_dataset_utils._restore_dataset_from_list(list(part), spec, dataset)
        for part in (samples[:n_left], samples[-n_right:])
    ]


def _stacked(ds):
    elements = [ds[i] for i in range(len(ds))]
    if isinstance(elements[0], tuple):
        return tuple(np.stack(parts) for parts in zip(*elements, strict=True))
    return np.stack(elements)


@pytest.mark.parametrize("kind", ["array", "tuple", "list"])
@pytest.mark.parametrize("shuffle,seed", [(False, None), (True, 3), (True, 1234)])
def test_split_samples_equal_keras(kind, shuffle, seed):
    x = np.arange(30, dtype="float32").reshape(10, 3)
    y = np.arange(10, dtype="int64") * 2
    dataset = {"array": x, "tuple": (x, y), "list": [x, y]}[kind]
    ours = split_dataset(dataset, left_size=0.6, right_size=3, shuffle=shuffle, seed=seed)
    theirs = _keras_split(dataset, 0.6, 3, shuffle, seed)
    for our_part, their_part in zip(ours, theirs, strict=True):
        got = _stacked(our_part)
        if kind == "array":
            np.testing.assert_array_equal(got, np.stack(their_part))
            assert our_part[0].shape == (3,)
        else:
            assert isinstance(our_part[0], tuple) and len(our_part[0]) == 2
            for g, t in zip(got, their_part, strict=True):
                np.testing.assert_array_equal(g, t)
    assert len(ours[0]) == 6 and len(ours[1]) == 3 and ours[0].cardinality() == 6


def test_shuffle_seed_none_differs_between_calls_but_keeps_samples():
    x = np.arange(200)
    a, _ = split_dataset(x, left_size=100, shuffle=True)
    b, _ = split_dataset(x, left_size=100, shuffle=True)
    assert not np.array_equal(_stacked(a), _stacked(b))
    left, right = split_dataset(x, left_size=100, shuffle=True, seed=0)
    assert sorted(np.concatenate([_stacked(left), _stacked(right)])) == list(range(200))


def test_dicts_batches_and_fit():
    x = np.random.default_rng(0).normal(size=(10, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    left, right = split_dataset({"x": x, "y": y}, right_size=0.2)
    assert set(left[0]) == {"x", "y"} and len(right) == 2
    np.testing.assert_array_equal(right[1]["x"], x[9])
    train, _ = split_dataset((x, y), left_size=8)
    batches = train.batch(3)
    assert len(batches) == 3 and [len(b[0]) for b in batches] == [3, 3, 2]
    assert len(train.batch(3, drop_remainder=True)) == 2
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(batches, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    with pytest.raises(ValueError, match="'batch_size'"):
        train.batch(0)


@pytest.mark.parametrize(
    "dataset,match",
    [
        ([], "non-empty list"),
        ((np.zeros(3), [1, 2, 3]), "NumPy arrays.*list at index 1"),
        ([np.zeros(3), np.zeros(4)], "same length"),
        ({"a": np.zeros(3), "b": np.zeros(2)}, "same length"),
        (np.float32(3.0), "must be a NumPy array|sample axis"),
    ],
)
def test_bad_datasets_raise_value_errors(dataset, match):
    with pytest.raises((ValueError, TypeError), match=match):
        split_dataset(dataset, left_size=1)


def test_unsupported_dataset_type_is_a_type_error_as_keras():
    with pytest.raises(TypeError, match="'dataset'.*generator"):
        split_dataset((i for i in range(3)), left_size=1)
    with pytest.raises(TypeError):
        keras_dataset_utils._infer_preferred_backend(iter(range(3)))


def test_file_dataset_splits_by_file_and_keeps_batch_size(tmp_path):
    for c in ("neg", "pos"):
        (tmp_path / c).mkdir()
        for i in range(5):
            (tmp_path / c / f"{i}.txt").write_text(f"{c} {i}")
    ds = text_dataset_from_directory(tmp_path, batch_size=3, shuffle=False, verbose=False)
    left, right = split_dataset(ds, left_size=0.7, shuffle=True, seed=5)
    assert (len(left), len(right)) == (3, 1)
    assert left.batch_size == 3 and left.class_names == ["neg", "pos"]
    assert sorted(left.file_paths + right.file_paths) == sorted(ds.file_paths)
    order = list(range(10))
    random.Random(5).shuffle(order)
    assert right.file_paths == [ds.file_paths[i] for i in order[7:]]
    texts, labels = right[0]
    assert [t.split()[0] for t in texts] == [["neg", "pos"][v] for v in labels]


def test_pydataset_of_batches_is_rebatched():
    class Batches(shoal.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            x = np.arange(i * 4, min(i * 4 + 4, 10), dtype="float32")[:, None]
            return x, x * 2

    left, right = split_dataset(Batches(), left_size=6)
    assert (len(left), len(right)) == (2, 1)
    x, y = left[1]
    np.testing.assert_array_equal(x[:, 0], [4, 5])
    np.testing.assert_array_equal(y, x * 2)
    np.testing.assert_array_equal(right[0][0][:, 0], [6, 7, 8, 9])
