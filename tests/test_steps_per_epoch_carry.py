"""`steps_per_epoch` smaller than the data: each epoch goes on where the last one stopped,
as Keras 3's EpochIterator does, and an epoch that reaches the end of the data stops early
with Keras' warning. Compared with Keras 3.15 on the same data and initial weights."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import shoal

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")

X = (np.arange(20, dtype="float32").reshape(10, 2) / 10).astype("float32")
Y = (np.arange(10, dtype="float32").reshape(10, 1) / 10).astype("float32")


def _model(lib, steps_per_execution=None):
    model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1, kernel_initializer="ones")])
    kwargs = {} if steps_per_execution is None else {"steps_per_execution": steps_per_execution}
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", **kwargs)
    return model


def _fit(lib, data_for, **kwargs):
    """(final weights, per-epoch losses, number of 'ran out' warnings) of one fit."""
    model = _model(lib, kwargs.pop("steps_per_execution", None))
    x, y = data_for(lib)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(x, y, verbose=0, **kwargs)
    ran_out = sum("ran out of data" in str(w.message) for w in caught)
    return model.get_weights(), history.history, ran_out


def _assert_same_fit(data_for, warns=None, **kwargs):
    ours, theirs = _fit(shoal, data_for, **kwargs), _fit(keras, data_for, **kwargs)
    for a, b in zip(ours[0], theirs[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert ours[1].keys() == theirs[1].keys()
    for key in theirs[1]:
        np.testing.assert_allclose(ours[1][key], theirs[1][key], rtol=1e-4, atol=1e-6)
    if warns is not None:
        assert ours[2] == theirs[2] == warns
    return ours


def _arrays(lib):
    return X, Y


def _py_dataset(lib):
    class Batches(lib.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return X[2 * i : 2 * i + 2], Y[2 * i : 2 * i + 2]

    return Batches(), None


def _endless_generator(lib):
    def batches():
        while True:
            for i in range(0, 10, 2):
                yield X[i : i + 2], Y[i : i + 2]

    return batches(), None


def test_arrays_continue_across_epochs_and_restart_after_running_out():
    # 5 batches, 2 per epoch: epochs take [0, 1], [2, 3], [4] (ran out), [0, 1]
    _, history, _ = _assert_same_fit(
        _arrays, warns=1, batch_size=2, epochs=4, steps_per_epoch=2, shuffle=False
    )
    assert history["loss"][1] != pytest.approx(history["loss"][0])  # not the same batches


@pytest.mark.parametrize("steps_per_execution", [2, 4])
@pytest.mark.parametrize("on_device", [True, False])
def test_fused_executions_carry_the_offset(steps_per_execution, on_device, monkeypatch):
    # shoal fuses up to K batches of the epoch (lax.scan), never more than the epoch's
    # steps: the same batches as Keras running one step at a time, whether the arrays are
    # kept on device (row indices per execution) or batches are sent from the host
    from shoal.trainers import device_feed

    if not on_device:
        monkeypatch.setattr(device_feed, "BUDGET_BYTES", 0)
    kwargs = dict(batch_size=2, epochs=4, steps_per_epoch=2, shuffle=False)
    ours = _fit(shoal, _arrays, steps_per_execution=steps_per_execution, **kwargs)
    theirs = _fit(keras, _arrays, **kwargs)
    for a, b in zip(ours[0], theirs[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours[1]["loss"], theirs[1]["loss"], rtol=1e-4)


def test_fused_executions_with_steps_not_a_multiple():
    # Keras runs whole executions (4 batches in a 3-step epoch); the weights after the
    # same number of batches agree.
    model = _model(shoal, steps_per_execution=2)
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(X, Y, batch_size=2, epochs=4, steps_per_epoch=3, shuffle=False, verbose=0)
    reference = _model(keras, steps_per_execution=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference.fit(X, Y, batch_size=2, epochs=4, steps_per_epoch=3, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_steps_without_batch_size_cover_the_data_once():
    # Keras: batch_size = ceil(10 / 3) = 4, so three batches of 4, 4 and 2 rows
    _assert_same_fit(_arrays, warns=0, epochs=3, steps_per_epoch=3, shuffle=False)


def test_more_steps_than_batches_warns_every_epoch():
    _assert_same_fit(_arrays, warns=2, batch_size=2, epochs=2, steps_per_epoch=7, shuffle=False)


def test_py_dataset_continues_across_epochs():
    _assert_same_fit(_py_dataset, warns=1, epochs=4, steps_per_epoch=2, shuffle=False)


def test_endless_generator_continues_across_epochs():
    _assert_same_fit(_endless_generator, warns=0, epochs=4, steps_per_epoch=2)


def test_finite_generator_trains_the_batches_left_then_warns():
    def batches():
        for i in range(0, 10, 2):
            yield X[i : i + 2], Y[i : i + 2]

    model = _model(shoal)
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches(), epochs=3, steps_per_epoch=2, verbose=0)
    reference = _fit(keras, lambda lib: (batches(), None), epochs=3, steps_per_epoch=2)
    np.testing.assert_allclose(history.history["loss"], reference[1]["loss"], rtol=1e-4)


def test_tf_data_like_dataset_continues_across_epochs():
    # shoal's stand-in for a tf.data.Dataset (a BatchDataset), against Keras on the same
    # five batches
    windows = shoal.utils.timeseries_dataset_from_array(X, Y, sequence_length=1, batch_size=2)
    model = _model(shoal)
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(windows.map(lambda a, b: (a[:, 0], b)), epochs=4, steps_per_epoch=2, verbose=0)
    reference = _fit(keras, _py_dataset, epochs=4, steps_per_epoch=2, shuffle=False)
    for a, b in zip(model.get_weights(), reference[0], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_validation_steps_restart_each_epoch():
    kwargs = dict(batch_size=2, epochs=3, steps_per_epoch=2, shuffle=False, validation_steps=2)
    _assert_same_fit(lambda lib: (X, Y), validation_data=(X[:6], Y[:6]), **kwargs)


def test_evaluate_steps_beyond_the_data_warns_and_uses_all_batches():
    ours, theirs = _model(shoal), _model(keras)
    with pytest.warns(UserWarning, match="ran out of data"):
        ours_loss = ours.evaluate(X, Y, batch_size=2, steps=7, verbose=0)
    with pytest.warns(UserWarning, match="ran out of data"):
        theirs_loss = theirs.evaluate(X, Y, batch_size=2, steps=7, verbose=0)
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)
    np.testing.assert_allclose(
        ours.evaluate(X, Y, batch_size=2, steps=2, verbose=0),
        theirs.evaluate(X, Y, batch_size=2, steps=2, verbose=0),
        rtol=1e-5,
    )


def test_shuffled_epochs_share_one_permutation_until_it_is_used_up():
    from shoal.trainers.data_adapter import ArrayData

    shoal.utils.set_random_seed(3)
    data = ArrayData(X, Y, batch_size=2, shuffle=True, steps=2)
    epochs = [np.concatenate([data.x[r][:, 0] for r in data.epoch_rows()]) for _ in range(3)]
    assert [len(e) for e in epochs] == [4, 4, 2] and data.ran_out
    seen = np.sort(np.concatenate(epochs))
    np.testing.assert_array_equal(seen, np.sort(X[:, 0]))  # each row once per pass


def test_py_dataset_batches_are_shuffled_by_fit_like_keras():
    from shoal.trainers.data_adapter import make_data

    x, _ = _py_dataset(shoal)
    shoal.utils.set_random_seed(0)
    orders = [[float(b[1][0, 0]) for b in make_data(x, shuffle=True).epoch()] for _ in range(4)]
    assert all(sorted(o) == sorted(orders[0]) for o in orders)
    assert any(o != sorted(o) for o in orders)
    in_order = [float(b[1][0, 0]) for b in make_data(x, shuffle=False).epoch()]
    assert in_order == sorted(in_order)
    # a tf.data-like dataset keeps its order, as Keras leaves tf.data datasets alone
    ts = shoal.utils.timeseries_dataset_from_array(X, Y, sequence_length=1, batch_size=2)
    firsts = [float(b[1][0, 0]) for b in make_data(ts, shuffle=True).epoch()]
    assert firsts == sorted(firsts)
