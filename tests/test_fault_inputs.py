"""Bad inputs to compile / fit / evaluate / Model(...): a clear error before anything is
traced or trained, and nothing already trained is lost (cases found by running the same
bad inputs through Keras 3)."""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest
from fault_harness import X, Y, assert_refused_unchanged, trained_classifier
from fault_harness import assert_unchanged as _unchanged
from fault_harness import training_state as _state

import shoal as keras
from shoal import layers


@pytest.fixture(scope="module")
def trained():
    """A small classifier, trained one epoch: its state must survive every bad call."""
    return trained_classifier()


def _gen(batches):
    while True:
        yield from batches


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda m: m.fit(X, verbose=0), ["Targets are required", "`y` is None"]),
        (lambda m: m.evaluate(X, verbose=0), ["Targets are required"]),
        (lambda m: m.train_on_batch(X), ["Targets are required"]),
        (lambda m: m.fit(_gen([X[:4]]), steps_per_epoch=2, verbose=0), ["Targets"]),
        (
            lambda m: m.fit(X, Y, validation_data=(X, None), verbose=0),
            ["targets of `validation_data` are None"],
        ),
        (
            lambda m: m.fit(X, Y, epochs=2, validation_data=(np.ones((8, 5)), Y), verbose=0),
            ["`validation_data`", "(None, 4)", "(8, 5)"],
        ),
        (
            lambda m: m.fit(X, Y, validation_data=(X, np.full(8, 9)), verbose=0),
            ["`validation_data`", "labels outside [0, 2]"],
        ),
        (
            lambda m: m.fit(X, Y, validation_data=(X, Y), validation_steps=-1, verbose=0),
            ["validation_steps", "-1"],
        ),
        (
            lambda m: m.fit(X, Y, validation_data=(X, Y), validation_freq="a", verbose=0),
            ["validation_freq", "'a'"],
        ),
        (
            lambda m: m.fit(X, Y, class_weight={0: 1, 1: 1}, sample_weight=np.ones(8), verbose=0),
            ["class_weight", "sample_weight", "together"],
        ),
        (lambda m: m.fit(X, Y, class_weight={"a": 1.0}, verbose=0), ["class_weight", "'a'"]),
        (lambda m: m.fit(X, Y, callbacks=5, verbose=0), ["callbacks", "list", "int"]),
        (lambda m: m.fit([[0.1] * 4] * 8, Y, verbose=0), ["`x` is a list", "np.asarray"]),
        (
            lambda m: m.fit(np.ones((8, 2, 2)), Y, verbose=0),
            ["`x`", "(None, 4)", "(8, 2, 2)"],
        ),
    ],
)
def test_bad_fit_arguments_raise_before_training(trained, call, words):
    assert_refused_unchanged(trained, call, words)


def test_targets_of_the_wrong_width_are_named_before_tracing():
    i = keras.Input((4,))
    model = keras.Model(i, layers.Dense(3)(i))
    for loss, y in [("mse", np.ones((8, 5))), ("mse", np.ones(8)), ("categorical_crossentropy", X)]:
        model.compile("adam", loss)
        with pytest.raises(ValueError, match=r"output 'dense.*' has shape \(None, 3\)"):
            model.fit(X, y, verbose=0)
    model.compile("adam", "mse")
    model.fit(X, np.ones((8, 1)), verbose=0)  # broadcasts, as in Keras


def test_failed_compile_changes_nothing(trained):
    optimizer, before = trained.optimizer, _state(trained)
    for kwargs, words in [
        ({"loss": "nope"}, ["nope"]),
        ({"loss": "mse", "metrics": ["nope"]}, ["nope"]),
        ({"loss": "mse", "loss_weights": [1.0, 2.0]}, ["loss_weights", "2 entries", "1 outputs"]),
        ({"loss": "mse", "loss_weights": "a"}, ["loss_weights", "'a'"]),
        ({"loss": "mse", "steps_per_execution": 0}, ["steps_per_execution"]),
    ]:
        with pytest.raises(ValueError) as info:
            trained.compile(optimizer=keras.optimizers.SGD(0.0), **kwargs)
        for word in words:
            assert word in str(info.value)
        assert trained.optimizer is optimizer
    _unchanged(trained, before)
    trained.fit(X, Y, verbose=0)  # trains on, with its own optimizer and state
    assert int(trained.optimizer.iterations.numpy()) == before[1] + 1


def test_multi_output_targets_must_match_the_outputs():
    i = keras.Input((4,))
    h = layers.Dense(5)(i)
    by_name = keras.Model(i, {"a": layers.Dense(3, name="a")(h), "b": layers.Dense(1, name="b")(h)})
    by_name.compile("adam", {"a": "sparse_categorical_crossentropy", "b": "mse"})
    with pytest.raises(ValueError, match=r"missing \['b'\]"):
        by_name.fit(X, {"a": Y}, verbose=0)
    listed = keras.Model(i, [layers.Dense(3)(h), layers.Dense(1)(h)])
    listed.compile("adam", ["sparse_categorical_crossentropy", "mse"])
    with pytest.raises(ValueError, match="list of 1 target arrays, but the model has 2 outputs"):
        listed.fit(X, [Y], verbose=0)
    with pytest.raises(ValueError, match="one array, but the model has 2 outputs"):
        listed.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="3 per-output lists, but the model has 2 outputs"):
        listed.compile("adam", "mse", metrics=[["mae"], ["mae"], ["mae"]])
    # one loss among two outputs: one target array is enough (Keras' loss=[fn, None])
    listed.compile("adam", ["sparse_categorical_crossentropy", None])
    listed.fit(X, Y, verbose=0)


def test_functional_inputs_are_checked_against_declared_shapes():
    i = keras.Input((4, 2))
    model = keras.Model(i, layers.Dense(3)(layers.Flatten()(i)))
    model.compile("adam", "sparse_categorical_crossentropy")
    transposed = np.ones((8, 2, 4), "float32")
    with pytest.raises(ValueError, match=r"expected shape \(None, 4, 2\).*\(8, 2, 4\)"):
        model.fit(transposed, Y, verbose=0)
    with pytest.raises(ValueError, match=r"\(None, 4, 2\)"):
        model(transposed)
    a, b = keras.Input((4,), name="a"), keras.Input((2,), name="b")
    joined = keras.Model([a, b], layers.Dense(3)(layers.Concatenate()([a, b])))
    joined.compile("adam", "mse")
    with pytest.raises(ValueError, match="input 'a'"):
        joined.fit({"a": np.ones((8, 2)), "b": X}, np.ones((8, 3)), verbose=0)


def test_sequential_and_predict_accept_sizes_the_model_runs_on():
    """As in Keras: a Sequential's layers check what they need; predict on a Functional
    model accepts other sequence lengths."""
    seq = keras.Sequential([layers.LSTM(3)])
    seq(np.ones((2, 6, 2), "float32"))
    assert seq(np.ones((2, 5, 2), "float32")).shape == (2, 3)
    i = keras.Input((6, 2))
    model = keras.Model(i, layers.LSTM(3)(i))
    assert model.predict(np.ones((3, 5, 2), "float32"), verbose=0).shape == (3, 3)


def test_duplicate_layer_names_are_refused_when_the_model_is_built():
    i = keras.Input((4,))
    a = layers.Dense(3, name="d")(i)
    with pytest.raises(ValueError, match="'d' is used by two different layers"):
        keras.Model(i, layers.Dense(3, name="d")(a))
    shared = layers.Dense(4, name="shared")
    keras.Model(i, shared(shared(i)))  # one layer called twice is fine


def test_class_weight_applies_to_generators():
    i = keras.Input((4,))
    model = keras.Model(i, layers.Dense(3, activation="softmax")(i))
    model.compile("sgd", "sparse_categorical_crossentropy")
    batches = [(X[:4], Y[:4])]
    plain = model.evaluate(X[:4], Y[:4], verbose=0)
    history = model.fit(
        _gen(batches), class_weight={0: 10.0, 1: 10.0, 2: 10.0}, steps_per_epoch=1, verbose=0
    )
    np.testing.assert_allclose(history.history["loss"][0], 10 * plain, rtol=1e-5)


def test_optimizer_built_for_another_model_is_refused():
    optimizer = keras.optimizers.Adam()
    first = keras.Sequential([keras.Input((4,)), layers.Dense(5)])
    first.compile(optimizer, "mse")
    first.train_on_batch(X, np.ones((8, 5)))
    second = keras.Sequential([keras.Input((5,)), layers.Dense(5)])
    second.compile(optimizer, "mse")
    with pytest.raises(ValueError, match="already built for the variables of another model"):
        second.train_on_batch(np.ones((8, 5)), np.ones((8, 5)))
    first.train_on_batch(X, np.ones((8, 5)))
    assert int(optimizer.iterations.numpy()) == 2


class _Scale(layers.Layer):
    """Constructor arguments and no get_config: Keras records them (auto-config)."""

    def __init__(self, factor, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.factor, self.offset = factor, offset

    def call(self, x):
        return x * self.factor + self.offset


def test_layers_without_get_config_save_their_constructor_arguments():
    layer = _Scale(3, offset=0.5, name="scale")
    config = layer.get_config()
    assert (config["factor"], config["offset"], config["name"]) == (3, 0.5, "scale")
    i = keras.Input((4,))
    model = keras.Model(i, layer(i))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.models.load_model(path, custom_objects={"_Scale": _Scale})
    np.testing.assert_allclose(loaded.predict(X, verbose=0), X * 3 + 0.5, rtol=1e-6)
    assert _Scale(layers.Dense(2)).__dict__["_auto_config"] is None  # not plain data


def test_normalization_names_the_size_it_was_adapted_for():
    norm = layers.Normalization()
    norm.adapt(X)
    with pytest.raises(ValueError, match=r"expected size 4 on axis 1.*\(2, 5\)"):
        norm(np.ones((2, 5), "float32"))


def test_failed_load_weights_keeps_every_trained_value(tmp_path):
    """A file that does not fit, or a layer's own load_own_variables that fails after the
    others were assigned: all variables get their values back."""
    model = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dense(1)])
    model.compile("adam", "mse")
    model.fit(X, np.ones((8, 1)), verbose=0)
    other = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dense(2)])
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    before = _state(model)
    with pytest.raises(ValueError, match="shape"):
        model.load_weights(path)
    _unchanged(model, before)

    class Fails(layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(2,))

        def call(self, x):
            return x

        def load_own_variables(self, store):
            raise RuntimeError("cannot read this")

    source = keras.Sequential([keras.Input((4,)), layers.Dense(3), Fails()])
    source.save_weights(path)
    target = keras.Sequential([keras.Input((4,)), layers.Dense(3), Fails()])
    weights = [w.copy() for w in target.get_weights()]
    with pytest.raises(ValueError, match="cannot read this"):
        target.load_weights(path)
    for a, b in zip(target.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_data_that_runs_out_stops_cleanly_with_a_warning():
    """As Keras: more steps than array batches run the batches there are; a finite
    generator that runs out ends training (history kept, on_train_end called); a used-up
    validation generator stops validation."""
    i = keras.Input((4,))
    model = keras.Model(i, layers.Dense(1)(i))
    model.compile("sgd", "mse")
    ones = np.ones((10, 1), "float32")
    x10 = np.ones((10, 4), "float32")
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(x10, ones, batch_size=5, steps_per_epoch=10, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.warns(UserWarning, match="ran out of data"):
        assert model.predict(x10, batch_size=5, steps=10, verbose=0).shape == (10, 1)

    ended = []
    done = keras.callbacks.LambdaCallback(on_train_end=lambda logs: ended.append(True))

    def three():
        for _ in range(3):
            yield x10[:2], ones[:2]

    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(three(), steps_per_epoch=2, epochs=3, verbose=0, callbacks=[done])
    assert len(history.history["loss"]) == 2 and ended == [True]  # 2 + 1 batches

    def two():
        for _ in range(2):
            yield x10[:2], ones[:2]

    with pytest.warns(UserWarning, match="validation stops"):
        history = model.fit(x10, ones, validation_data=two(), epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and len(history.history["val_loss"]) == 1


def test_ops_and_preprocessing_arguments_are_checked():
    with pytest.raises(ValueError, match="max_pool: argument `inputs` must have rank 3, 4 or 5"):
        keras.ops.max_pool(np.ones((8, 8)), 2)
    for size in [(-4, 4), (0, 4), (4.5, 4)]:
        with pytest.raises(ValueError, match="two positive integers"):
            keras.ops.image.resize(np.ones((1, 4, 4, 3)), size)
    with pytest.raises(ValueError, match="'ngrams' must be None, a positive integer"):
        layers.TextVectorization(ngrams=0)
    with pytest.raises(ValueError, match="`logits` must be 2-D"):
        keras.random.categorical(np.zeros(3), 2)
    with pytest.raises(TypeError, match="takes numeric inputs; got an array of dtype <U1"):
        layers.Dense(1)(np.array([["a", "b"]]))
    # as Keras: float token ids are cast; an unadapted lookup maps everything out of vocabulary
    encoded = layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")(
        np.array([[1.7, 2.2]], "float32")
    )
    np.testing.assert_array_equal(encoded, [[0, 1, 1, 0]])
    np.testing.assert_array_equal(layers.StringLookup()(np.array([["a"]])), [[0]])
