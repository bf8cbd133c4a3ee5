"""shoal.utils against keras.utils on the same inputs, plus the error messages."""

import functools
import random

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import shoal
from shoal import utils
from shoal.backend import random as backend_random

# ---------------------------------------------------------------- to_categorical


@pytest.mark.parametrize(
    "labels, num_classes",
    [
        ([0, 1, 2, 3], None),
        ([1, 0, 3], 5),
        ([[1], [2], [0]], None),  # trailing 1 is squeezed
        ([[0, 1], [2, 1]], 4),
        (np.array([2.0, 1.0]), None),  # float labels are truncated, as Keras
        (3, 5),
    ],
)
def test_to_categorical_matches_keras(labels, num_classes):
    ours = utils.to_categorical(labels, num_classes)
    theirs = keras.utils.to_categorical(labels, num_classes)
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype == np.float64
    np.testing.assert_array_equal(ours, theirs)


def test_to_categorical_jax_input():
    ours = utils.to_categorical(jnp.array([[1], [0]]), 3)
    theirs = keras.utils.to_categorical(jnp.array([[1], [0]]), 3)
    assert isinstance(ours, jax.Array) and ours.dtype == jnp.float32
    np.testing.assert_array_equal(ours, theirs)
    traced = jax.jit(lambda x: utils.to_categorical(x, 3))(jnp.array([2, 0]))
    np.testing.assert_array_equal(traced, [[0, 0, 1], [1, 0, 0]])


def test_to_categorical_errors():
    with pytest.raises(
        ValueError,
        match=r"to_categorical: argument 'x' must hold class indices < num_classes=3; got a maximum of 3",
    ):
        utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(
        ValueError, match=r"argument 'x' must hold class indices >= 0; got a minimum of -1"
    ):
        utils.to_categorical([0, -1])
    with pytest.raises(
        ValueError, match=r"argument 'num_classes' must be a positive integer or None; got 0"
    ):
        utils.to_categorical([0], num_classes=0)
    with pytest.raises(ValueError, match="'num_classes' is required when 'x' is empty"):
        utils.to_categorical([])


# ---------------------------------------------------------------- normalize


@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1), (-1, 3)])
def test_normalize_numpy_matches_keras(axis, order, rng):
    x = rng.normal(size=(4, 5))
    x[1] = 0.0  # zero rows stay zero
    ours = utils.normalize(x, axis=axis, order=order)
    assert isinstance(ours, np.ndarray)
    np.testing.assert_allclose(ours, keras.utils.normalize(x, axis=axis, order=order), rtol=1e-12)


@pytest.mark.parametrize("axis, order", [(-1, 2), (0, 2), (-1, 1)])
def test_normalize_jax_matches_keras(axis, order, rng):
    x = jnp.asarray(rng.normal(size=(4, 5)), jnp.float32).at[1].set(0.0)
    ours = utils.normalize(x, axis=axis, order=order)
    assert isinstance(ours, jax.Array)
    np.testing.assert_allclose(
        ours, keras.utils.normalize(x, axis=axis, order=order), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match=r"normalize: argument 'order' must be an int >= 1; got 0"):
        utils.normalize(x, order=0)


def test_normalize_numpy_axis0_is_per_column(rng):
    x = rng.normal(size=(3, 4))  # Keras' NumPy path mis-broadcasts axis=0; ours does not
    np.testing.assert_allclose(utils.normalize(x, axis=0), x / np.linalg.norm(x, axis=0))


# ---------------------------------------------------------------- pad_sequences

SEQS = [[1], [2, 3], [4, 5, 6, 7], []]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"maxlen": 2},
        {"maxlen": 3, "padding": "post", "truncating": "post"},
        {"maxlen": 3, "padding": "pre", "truncating": "post", "value": -1},
        {"maxlen": 6, "dtype": "float32", "value": 0.5},
    ],
)
def test_pad_sequences_matches_keras(kwargs):
    ours = utils.pad_sequences(SEQS, **kwargs)
    theirs = keras.utils.pad_sequences(SEQS, **kwargs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_items_and_strings_match_keras():
    seqs = [np.ones((2, 3)), np.zeros((1, 3))]
    np.testing.assert_array_equal(
        utils.pad_sequences(seqs, dtype="float32"), keras.utils.pad_sequences(seqs, dtype="float32")
    )
    words = [["a", "bb"], ["ccc"]]
    ours = utils.pad_sequences(words, dtype=object, value="<pad>")
    np.testing.assert_array_equal(
        ours, keras.utils.pad_sequences(words, dtype=object, value="<pad>")
    )


def test_pad_sequences_errors():
    with pytest.raises(
        ValueError, match=r"pad_sequences: argument 'padding' must be 'pre' or 'post'; got 'middle'"
    ):
        utils.pad_sequences(SEQS, padding="middle")
    with pytest.raises(
        ValueError, match=r"argument 'truncating' must be 'pre' or 'post'; got 'both'"
    ):
        utils.pad_sequences(SEQS, truncating="both")
    with pytest.raises(ValueError, match=r"argument 'sequences' must hold sequences; item 1 is 5"):
        utils.pad_sequences([[1], 5])
    with pytest.raises(
        ValueError, match=r"argument 'value' is a string \('x'\) but 'dtype' is 'int32'"
    ):
        utils.pad_sequences(SEQS, value="x")
    with pytest.raises(
        ValueError, match=r"argument 'maxlen' must be a non-negative integer or None; got -1"
    ):
        utils.pad_sequences(SEQS, maxlen=-1)
    with pytest.raises(
        ValueError, match=r"all items must have shape \(3,\); sequence 1 has items of shape \(2,\)"
    ):
        utils.pad_sequences([np.ones((2, 3)), np.ones((1, 2))])


# ---------------------------------------------------------------- set_random_seed


def _draws():
    return random.random(), np.random.rand(), float(jax.random.uniform(backend_random.draw_key()))


def test_set_random_seed_repeats_all_streams():
    utils.set_random_seed(1234)
    first = _draws()
    utils.set_random_seed(1234)
    assert _draws() == first
    utils.set_random_seed(4321)
    assert _draws() != first


@pytest.mark.parametrize("seed", [1.5, "3", -1, 2**32, True])
def test_set_random_seed_errors(seed):
    with pytest.raises(
        ValueError,
        match=r"set_random_seed: argument 'seed' must be an integer in \[0, 2\*\*32\); got",
    ):
        utils.set_random_seed(seed)


# ---------------------------------------------------------------- PyDataset


class Batches(utils.PyDataset):
    def __init__(self, n, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x = np.arange(n)
        self.batch_size = batch_size
        self.epochs_ended = 0

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, index):
        return self.x[index * self.batch_size : (index + 1) * self.batch_size]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_py_dataset_api_matches_keras():
    ours, theirs = utils.PyDataset(), keras.utils.PyDataset()
    for name in ("workers", "use_multiprocessing", "max_queue_size"):
        assert getattr(ours, name) == getattr(theirs, name)
    for name in ("num_batches", "on_epoch_begin", "on_epoch_end", "__getitem__", "__iter__"):
        assert hasattr(utils.PyDataset, name) and hasattr(keras.utils.PyDataset, name)
    assert utils.Sequence is utils.PyDataset


def test_py_dataset_subclass():
    ds = Batches(10, 4, workers=3, use_multiprocessing=True, max_queue_size=5)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (3, True, 5)
    assert ds.num_batches == len(ds) == 3
    assert [b.tolist() for b in ds] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    ds.on_epoch_begin()
    ds.on_epoch_end()
    assert ds.epochs_ended == 1


def test_py_dataset_without_len_is_endless():
    class Endless(utils.PyDataset):
        def __getitem__(self, index):
            return index

    it = iter(Endless())
    assert [next(it) for _ in range(3)] == [0, 1, 2]


def test_py_dataset_missing_super_init_warns():
    class Forgot(utils.PyDataset):
        def __init__(self):
            pass

    with pytest.warns(UserWarning, match=r"super\(\).__init__\(\*\*kwargs\)"):
        assert Forgot().workers == 1


def test_py_dataset_errors():
    with pytest.raises(
        ValueError, match=r"PyDataset: argument 'workers' must be a non-negative integer; got -1"
    ):
        utils.PyDataset(workers=-1)
    with pytest.raises(
        ValueError, match=r"argument 'max_queue_size' must be a non-negative integer; got 2.5"
    ):
        utils.PyDataset(max_queue_size=2.5)
    with pytest.raises(NotImplementedError, match="__getitem__"):
        utils.PyDataset()[0]


def _windows_by_loop(data, targets, length, stride, rate, start, end):
    """Independent reference: Keras' documented windows, one by one."""
    out = []
    s = start
    while s + (length - 1) * rate < end and (targets is None or s - start < len(targets)):
        out.append((data[s : s + (length - 1) * rate + 1 : rate], targets[s]))
        s += stride
    return out


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sequence_length": 5, "sampling_rate": 2, "sequence_stride": 3, "batch_size": 4},
        {"sequence_length": 4, "start_index": 3, "end_index": 40, "batch_size": 5},
        {"sequence_length": 6, "batch_size": None, "sequence_stride": 7},
    ],
)
def test_timeseries_dataset_from_array_windows(kwargs):
    """Windows and targets as Keras makes them (these three cases were also compared with
    Keras 3.15 on TensorFlow, whose batches they equal)."""
    data, targets = np.arange(100).reshape(50, 2), np.arange(50) * 10
    ds = shoal.utils.timeseries_dataset_from_array(data, targets, **kwargs)
    expected = _windows_by_loop(
        data,
        targets,
        kwargs["sequence_length"],
        kwargs.get("sequence_stride", 1),
        kwargs.get("sampling_rate", 1),
        kwargs.get("start_index", 0),
        kwargs.get("end_index", 50),
    )
    batches = list(ds)
    if kwargs["batch_size"] is None:
        windows, labels = [b[0] for b in batches], [b[1] for b in batches]
    else:
        assert all(len(b[0]) <= kwargs["batch_size"] for b in batches)
        windows = [w for b in batches for w in b[0]]
        labels = [t for b in batches for t in b[1]]
    assert len(windows) == len(expected) == len(labels)
    for w, t, (want_w, want_t) in zip(windows, labels, expected, strict=True):
        np.testing.assert_array_equal(w, want_w)
        assert t == want_t


def test_timeseries_dataset_trains_a_model_and_shuffles_by_seed():
    series = np.sin(np.arange(200) / 5).astype("float32")[:, None]
    make = functools.partial(
        shoal.utils.timeseries_dataset_from_array,
        series[:-8],
        series[8:, 0],
        sequence_length=8,
        batch_size=16,
        shuffle=True,
    )
    first, again, other = make(seed=1), make(seed=1), make(seed=2)
    np.testing.assert_array_equal(first[0][0], again[0][0])
    assert not np.array_equal(first[0][0], other[0][0])
    model = shoal.Sequential([shoal.Input((8, 1)), shoal.layers.Flatten(), shoal.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(first, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="'sequence_length' must be a positive integer"):
        shoal.utils.timeseries_dataset_from_array(series, None, sequence_length=0)
    with pytest.raises(ValueError, match="'start_index'"):
        shoal.utils.timeseries_dataset_from_array(series, None, 3, start_index=500)


def test_keras_utils_names():
    """`keras.utils` aliases and helpers that ordinary programs use."""
    utils = shoal.utils
    assert utils.pack_x_y_sample_weight(1, 2) == (1, 2)
    assert utils.pack_x_y_sample_weight([1, 2]) == ([1, 2],)
    assert utils.unpack_x_y_sample_weight([1, 2]) == (1, 2, None)
    assert utils.unpack_x_y_sample_weight(5) == (5, None, None)
    with pytest.raises(ValueError, match="tuple of 4"):
        utils.unpack_x_y_sample_weight((1, 2, 3, 4))
    a, b = shoal.Input((3,)), shoal.Input((2,))
    out = shoal.layers.Concatenate()([shoal.layers.Dense(2)(a), b])
    assert utils.get_source_inputs(out) == [a, b]
    assert utils.is_keras_tensor(out) and not utils.is_keras_tensor(np.ones(2))
    assert utils.standardize_dtype("float") == "float32"
    assert utils.register_keras_serializable is shoal.saving.register_keras_serializable
    assert shoal.models.save_model is shoal.saving.save_model
    utils.clear_session()
    assert shoal.layers.Dense(1).name == "dense"


def test_dataset_utilities_have_the_tf_data_conveniences():
    """keras.io programs call take / map / cache / shuffle / prefetch on these datasets."""
    data = np.arange(20, dtype="float32")[:, None]
    ds = shoal.utils.timeseries_dataset_from_array(
        data, np.arange(20), sequence_length=2, batch_size=4
    )
    first = next(iter(ds.take(1)))
    assert len(ds.take(2)) == 2 and len(ds.skip(3)) == len(ds) - 3
    doubled = ds.map(lambda x, y: (x * 2, y)).cache().prefetch(2)
    np.testing.assert_array_equal(doubled[0][0], first[0] * 2)
    shuffled = ds.shuffle(8, seed=1)
    orders = []
    for _ in range(3):
        orders.append([int(batch[1][0]) for batch in shuffled])
        shuffled.on_epoch_end()
    assert all(sorted(o) == sorted(orders[0]) for o in orders) and len(set(map(tuple, orders))) > 1
    model = shoal.Sequential([shoal.Input((2, 1)), shoal.layers.Flatten(), shoal.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(doubled, epochs=1, verbose=0)
    with pytest.raises(TypeError, match="map_func"):
        ds.map(3)
