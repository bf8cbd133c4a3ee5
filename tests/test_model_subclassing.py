"""Custom layers and subclassed models, written exactly as in the Keras guides."""

from __future__ import annotations

import numpy as np
import pytest

import shoal
import shoal as keras
from shoal import layers, ops


class Linear(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer="random_normal",
            trainable=True,
            name="w",
        )
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", trainable=True, name="b")

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class ActivityPenalty(keras.layers.Layer):
    def __init__(self, rate=1e-2, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.sum(inputs))
        return inputs


class MLPBlock(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear_1 = Linear(16)
        self.linear_2 = Linear(8)
        self.dropout = layers.Dropout(0.5)
        self.penalty = ActivityPenalty()

    def call(self, inputs, training=None):
        x = ops.relu(self.linear_1(inputs))
        x = self.dropout(x, training=training)
        return self.penalty(self.linear_2(x))


class TwoTower(keras.Model):
    def __init__(self, num_classes=3, **kwargs):
        super().__init__(**kwargs)
        self.block = MLPBlock()
        self.head = layers.Dense(num_classes, activation="softmax")
        self.num_classes = num_classes

    def call(self, inputs, training=False):
        return self.head(self.block(inputs, training=training))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


def test_custom_layer_weights_tracking_and_losses():
    block = MLPBlock()
    out = block(np.ones((2, 5), "float32"))
    assert out.shape == (2, 8)
    assert [w.shape for w in block.weights] == [(5, 16), (16,), (16, 8), (8,)]
    assert [w.path for w in block.weights][:2] == [
        f"{block.name}/{block.linear_1.name}/w",  # built inside the block's call, as Keras
        f"{block.name}/{block.linear_1.name}/b",
    ]
    assert len(block.trainable_weights) == 4 and block.non_trainable_weights == []
    assert len(block.losses) == 1
    np.testing.assert_allclose(block.losses[0], 1e-2 * np.sum(np.asarray(out)), rtol=1e-5)
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 4


def test_custom_layer_in_functional_graph_and_symbolic_ops():
    inputs = keras.Input((5,))
    x = Linear(4)(inputs)
    x = ops.concatenate([x, x * 2.0], axis=-1)  # ops on symbolic tensors build graph nodes
    model = keras.Model(inputs, x)
    assert model.output_shape == (None, 8)
    y = np.asarray(model(np.ones((3, 5), "float32")))
    np.testing.assert_allclose(y[:, 4:], 2 * y[:, :4], rtol=1e-6)


def test_subclassed_model_build_summary_fit_save(tmp_path):
    keras.utils.set_random_seed(0)
    model = TwoTower()
    model.build((None, 5))
    assert model.count_params() == 5 * 16 + 16 + 16 * 8 + 8 + 8 * 3 + 3
    lines = []
    model.summary(print_fn=lines.append)
    assert "Total params: 259" in "\n".join(lines)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 5)).astype("float32")
    y = rng.integers(0, 3, 64)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]

    path = tmp_path / "weights.weights.h5"
    model.save_weights(path)
    clone = TwoTower()
    clone.build((None, 5))
    clone.load_weights(path)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_training_flag_reaches_nested_layers():
    model = TwoTower()
    x = np.ones((4, 5), "float32")
    a = np.asarray(model(x, training=False))
    b = np.asarray(model(x, training=False))
    np.testing.assert_array_equal(a, b)  # dropout off
    c = np.asarray(model.block(x, training=True))
    d = np.asarray(model.block(x, training=True))
    assert not np.allclose(c, d)  # dropout on, fresh masks


def test_stateless_call_leaves_variables_untouched():
    bn_model = keras.Sequential([keras.Input((3,)), layers.BatchNormalization()])
    before = bn_model.get_weights()
    tv = [v.value for v in bn_model.trainable_variables]
    ntv = [v.value for v in bn_model.non_trainable_variables]
    out, new_ntv = bn_model.stateless_call(tv, ntv, np.full((4, 3), 5.0, "float32"), training=True)
    assert out.shape == (4, 3)
    assert not np.allclose(np.asarray(new_ntv[0]), np.asarray(ntv[0]))  # moving mean moved
    for a, b in zip(before, bn_model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"expected 2 trainable_variables, but received 1"):
        bn_model.stateless_call(tv[:1], ntv, np.ones((4, 3), "float32"))


def test_stateless_call_takes_variables_and_hooks_get_dict_logs():
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(2)])
    x = np.ones((2, 3), "float32")
    out, _ = model.stateless_call(model.trainable_variables, model.non_trainable_variables, x)
    np.testing.assert_allclose(out, model(x), rtol=1e-6)
    seen = []

    class Record(shoal.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen.append(dict(logs))

        def on_epoch_begin(self, epoch, logs=None):
            seen.append(logs.get("anything", "dict"))

    model.compile("sgd", "mse")
    model.fit(x, np.zeros((2, 2)), epochs=1, verbose=0, callbacks=[Record()])
    assert seen == [{}, "dict"]


@pytest.mark.parametrize(
    "compiled",
    [
        {"loss": "mse"},
        {"loss": ["mse", "mae"], "metrics": [["mae"], ["mse"]], "loss_weights": [1.0, 0.5]},
        {"loss": {"a": "mse", "b": "mae"}, "metrics": {"b": ["mse"]}},
    ],
    ids=["one_loss", "lists", "dicts"],
)
def test_subclassed_model_with_several_outputs_trains_as_keras(compiled):
    """A model without a graph learns its outputs from its first call: losses and metrics
    spread over them as Keras spreads them (unprefixed names for a list's entries)."""
    import os

    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras as reference

    as_dict = isinstance(compiled["loss"], dict)

    def run(lib):
        class TwoHeads(lib.Model):
            def __init__(self):
                super().__init__()
                self.a, self.b = lib.layers.Dense(3), lib.layers.Dense(2)

            def call(self, x):
                return {"a": self.a(x), "b": self.b(x)} if as_dict else [self.a(x), self.b(x)]

        model = TwoHeads()
        model(np.zeros((1, 4), "float32"))
        rng = np.random.default_rng(0)
        model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
        model.compile(optimizer=lib.optimizers.SGD(0.05), **compiled)
        x = rng.normal(size=(16, 4)).astype("float32")
        y = [rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")]
        y = dict(zip("ab", y, strict=True)) if as_dict else y
        return model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history

    ours, ref = run(shoal), run(reference)
    assert sorted(ours) == sorted(ref)
    for key in ref:
        np.testing.assert_allclose(ours[key], ref[key], rtol=1e-5, err_msg=key)
