"""More bad inputs a user meets: each raises a clear error naming the argument, what was
expected and what was given, before anything trains (Keras 3 trains an epoch first, or fails
deep inside the loss), and nothing already trained or saved is lost."""

from __future__ import annotations

import os

import numpy as np
import pytest

import shoal as keras
from shoal import layers

os.environ.setdefault("KERAS_BACKEND", "jax")  # for the Keras 3 reference, imported in tests

from fault_harness import X, Y, assert_refused_unchanged, trained_classifier


@pytest.fixture(scope="module")
def trained():
    """A small classifier, trained one epoch: its state must survive every bad call."""
    return trained_classifier()


def _scalars():
    while True:
        yield 5


def _fit(**kwargs):
    return lambda m: m.fit(X, Y, verbose=0, **kwargs)


@pytest.mark.parametrize(
    "call, words",
    [
        # validation arrays: checked before the first epoch trains, not after it
        (
            _fit(validation_data=(X, Y[:3])),
            ["`validation_data`", "same number of samples", "[3]"],
        ),
        (
            _fit(validation_data=(X, Y, np.ones(3))),
            ["`validation_data`", "'sample_weight' sizes: [3]"],
        ),
        (_fit(validation_data=(X, np.array(["a"] * 8))), ["`validation_data`", "numbers", "<U1"]),
        (_fit(validation_data=(X, list(Y))), ["`validation_data`", "np.asarray(y)"]),
        (
            _fit(validation_data=(X, np.eye(3)[Y])),
            ["`validation_data`", "shape (8, 3)", "sparse categorical", "categorical"],
        ),
        # one-hot (or too many axes of) labels given to a sparse loss
        (lambda m: m.fit(X, np.eye(3)[Y], verbose=0), ["`y`", "shape (8, 3)", "np.argmax"]),
        (lambda m: m.fit(X, np.ones((8, 3, 2)), verbose=0), ["`y`", "shape (8, 3, 2)"]),
        (lambda m: m.train_on_batch(X, np.eye(3)[Y]), ["`y`", "shape (8, 3)"]),
        # weights
        (_fit(class_weight={0: 1.0, 1: "a", 2: 1.0}), ["class_weight", "1: 'a'", "str"]),
        (_fit(sample_weight=np.ones((8, 7))), ["`sample_weight`", "(8, 7)", "(8,)"]),
        (lambda m: m.train_on_batch(X, Y, sample_weight=np.ones((8, 7))), ["`sample_weight`"]),
        # a generator yielding something that is not a batch of arrays
        (
            lambda m: m.fit(_scalars(), steps_per_epoch=2, verbose=0),
            ["x, (x, y) or (x, y, sample_weight)", "`x` is a scalar (5)"],
        ),
    ],
)
def test_bad_data_raises_before_training(trained, call, words):
    assert_refused_unchanged(trained, call, words)


def test_sparse_labels_keep_the_shapes_keras_accepts():
    """Labels of shape (batch,) or (batch, 1), and per-timestep labels, still train; the
    loss matches Keras 3 on the same weights."""
    import keras as reference

    i = keras.Input((4,))
    model = keras.Model(i, layers.Dense(3, activation="softmax")(i))
    model.compile("sgd", "sparse_categorical_crossentropy")
    ref = reference.Sequential([reference.Input((4,)), reference.layers.Dense(3, "softmax")])
    ref.compile("sgd", "sparse_categorical_crossentropy")
    ref.set_weights(model.get_weights())
    for y in (Y, Y[:, None]):
        ours = model.evaluate(X, y, verbose=0)
        np.testing.assert_allclose(ours, ref.evaluate(X, y, verbose=0), rtol=1e-5)
    seq_in = keras.Input((5, 4))
    tagger = keras.Model(seq_in, layers.Dense(3, activation="softmax")(seq_in))
    tagger.compile("sgd", "sparse_categorical_crossentropy")
    history = tagger.fit(np.ones((2, 5, 4)), np.zeros((2, 5), "int32"), verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_malformed_checkpoint_pattern_is_refused_before_fit():
    """Keras 3 accepts it and fails when saving, after the first epoch has trained."""
    with pytest.raises(ValueError, match=r"`filepath`.*str.format.*unmatched '\{'"):
        keras.callbacks.ModelCheckpoint("m_{epoch:d.keras")
    with pytest.raises(ValueError, match="Single '}'"):
        keras.callbacks.ModelCheckpoint("m_epoch}.weights.h5", save_weights_only=True)
    keras.callbacks.ModelCheckpoint("m_{epoch:02d}_{val_loss:.2f}.keras")  # well formed


@pytest.mark.parametrize(
    "save, name",
    [
        (lambda m, p: m.save(p), "model.keras"),
        (lambda m, p: m.save_weights(p), "model.weights.h5"),
        (lambda m, p: m.save_weights(p, max_shard_size=1), "model.weights.json"),
    ],
)
def test_saving_onto_a_directory_names_it_and_leaves_nothing_behind(trained, tmp_path, save, name):
    target = tmp_path / name
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=f"Cannot save to '{target}': it is a directory"):
        save(trained, str(target))
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary file left over
    assert target.is_dir() and not os.listdir(target)
    save(trained, str(tmp_path / f"ok_{name}"))  # a file path beside it still saves
