"""Patterns from keras.io guides and examples that ordinary Keras programs rely on, each
checked against what Keras 3.15 does (its result noted where it is a number)."""

import numpy as np
import pytest

import shoal as keras
from shoal import layers, ops


def _linear_model():
    model = keras.Sequential(
        [keras.Input((1,)), layers.Dense(1, kernel_initializer="ones", use_bias=False)]
    )
    model.compile(loss="mae", metrics=["mae"])
    return model


def test_generators_lose_no_batch():
    model = _linear_model()
    x = np.arange(1, 101, dtype="float32")[:, None]
    y = np.zeros((100, 1), "float32")

    def batches():
        for i in range(0, 100, 25):
            yield x[i : i + 25], y[i : i + 25]

    assert model.evaluate(batches(), verbose=0) == pytest.approx([50.5, 50.5])  # Keras: 50.5
    rows = model.predict(((x[i : i + 25],) for i in range(0, 100, 25)), verbose=0)
    np.testing.assert_array_equal(rows, x)  # all 100 rows, in order


def test_compute_loss_override_without_training_argument():
    """The keras.io distillation example overrides compute_loss in Keras 2's signature."""

    class Regressor(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
            return ops.mean(ops.square(y - y_pred))

    model = Regressor()
    model.compile("sgd")
    history = model.fit(np.ones((8, 2)), np.zeros((8, 1)), epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_loss_subclass_overriding_call_dunder_is_used():
    class Scaled(keras.losses.Loss):
        def __call__(self, y_true, y_pred, sample_weight=None):
            return 3.0 * ops.mean(ops.square(y_true - y_pred))

    model = keras.Sequential([keras.Input((2,)), layers.Dense(1, kernel_initializer="zeros")])
    model.compile("sgd", loss=Scaled())
    loss = model.evaluate(np.ones((4, 2)), np.ones((4, 1)), verbose=0)
    assert loss == pytest.approx(3.0)


def test_models_listing_their_own_metrics_log_them():
    """The VAE pattern: trackers updated in compute_loss, listed by a `metrics` property."""

    class Tracked(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="a_loss")

        @property
        def metrics(self):
            return [self.tracker]

        def call(self, x):
            return self.dense(x)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            loss = ops.mean(ops.square(y_pred))
            self.tracker.update_state(loss)
            return loss

    model = Tracked()
    model.compile("adam")
    history = model.fit(np.random.rand(16, 4), epochs=1, verbose=0)
    assert list(history.history) == ["a_loss"]  # as Keras 3.15
    assert history.history["a_loss"][0] == pytest.approx(float(model.tracker.result()))


def test_loss_list_with_none_takes_targets_for_the_losses_only():
    inp = keras.Input((4,))
    hidden = layers.Dense(3)(inp)
    model = keras.Model(inp, [layers.Dense(2, name="out")(hidden), hidden])
    model.compile("adam", loss=["mse", None], metrics=[["mae"], []])
    history = model.fit(np.random.rand(8, 4), np.random.rand(8, 2), epochs=1, verbose=0)
    assert sorted(history.history) == ["loss", "out_mae"]  # Keras 3.15's names too


def test_per_class_metric_values_are_logged_as_arrays():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(3, activation="softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=[keras.metrics.F1Score()])
    y = np.eye(3)[np.random.randint(0, 3, 12)]
    history = model.fit(np.random.rand(12, 3), y, epochs=1, verbose=0)
    assert np.shape(history.history["f1_score"][0]) == (3,)


def test_lambda_output_shape_with_a_list_of_inputs():
    a, b = keras.Input((10,)), keras.Input((10,))
    distance = layers.Lambda(
        lambda v: ops.sum(ops.square(v[0] - v[1]), axis=1, keepdims=True), output_shape=(1,)
    )([a, b])
    assert distance.shape == (None, 1)


def test_integer_seeds_repeat_and_generators_advance():
    first = keras.random.uniform((3,), seed=1)
    np.testing.assert_array_equal(first, keras.random.uniform((3,), seed=1))
    generator = keras.random.SeedGenerator(1)
    a, b = keras.random.uniform((3,), seed=generator), keras.random.uniform((3,), seed=generator)
    assert not np.array_equal(a, b)


def test_sequential_on_a_built_model_is_built():
    base = keras.Sequential([keras.Input((4,)), layers.Dense(5), layers.Dense(3)])
    model = keras.Sequential([base, layers.Dense(1)])
    assert model.built and len(model.weights) == 6  # Keras: built, 6 weights, 44 params
    assert model.count_params() == 4 * 5 + 5 + 5 * 3 + 3 + 3 + 1


def test_model_without_call_but_with_train_step_fits():
    """The GAN pattern: a wrapper holding sub-models, with its own train_step."""
    import jax

    class Wrapper(keras.Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def train_step(self, state, data):
            trainable, non_trainable, optimizer_vars, metric_vars = state
            x, y = data

            def loss_fn(tv):
                pred, _ = self.inner.stateless_call(tv, non_trainable, x)
                return ops.mean(ops.square(pred - y))

            loss, grads = jax.value_and_grad(loss_fn)(trainable)
            trainable, optimizer_vars = self.optimizer.stateless_apply(
                optimizer_vars, grads, trainable
            )
            return {"loss": loss}, (trainable, non_trainable, optimizer_vars, metric_vars)

    inner = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
    wrapper = Wrapper(inner)
    wrapper.compile("sgd")
    before = inner.get_weights()[0].copy()
    history = wrapper.fit(np.ones((8, 2)), np.zeros((8, 1)), epochs=1, verbose=0)
    assert "loss" in history.history and not np.allclose(before, inner.get_weights()[0])


def test_compiled_model_attributes_and_layer_serialization(tmp_path):
    model = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
    assert model.loss is None
    model.compile("sgd", "mse")
    assert (model.loss, model.run_eagerly, model.jit_compile) == ("mse", False, True)
    config = keras.layers.serialize(layers.Dense(3, name="d"))
    assert config["class_name"] == "Dense" and keras.layers.deserialize(config).units == 3


def test_save_own_variables_override_calls_the_base(tmp_path):
    class WithExtra(layers.Dense):
        extra = 0.0

        def save_own_variables(self, store):
            super().save_own_variables(store)
            store["extra"] = np.array(42.0)

        def load_own_variables(self, store):
            super().load_own_variables(store)
            self.extra = float(np.asarray(store["extra"]))

    model = keras.Sequential([keras.Input((2,)), WithExtra(1)])
    path = str(tmp_path / "m.weights.h5")
    model.save_weights(path)
    fresh = keras.Sequential([keras.Input((2,)), WithExtra(1)])
    fresh.load_weights(path)
    assert fresh.layers[0].extra == 42.0
    np.testing.assert_array_equal(fresh.get_weights()[0], model.get_weights()[0])


def test_raw_jax_keys_are_seeds():
    import jax

    a = keras.random.normal((2,), seed=jax.random.PRNGKey(0))
    np.testing.assert_array_equal(a, keras.random.normal((2,), seed=jax.random.PRNGKey(0)))


def test_add_loss_in_a_functional_model_leaves_no_tracers():
    class ActivityPenalty(layers.Layer):
        def call(self, x):
            self.add_loss(1e-2 * ops.sum(x))
            return x

    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(2)(ActivityPenalty()(inputs)))
    assert model.losses == []  # Keras: [] (nothing from building the graph)
    model.compile("sgd", "mse")
    model.fit(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)
    assert len(model.losses) <= 1 and all(np.isfinite(float(v)) for v in model.losses)


def test_a_model_initialized_by_assign_from_another_trains_without_harming_it():
    """`new_var.assign(trained_var.value)` (warm-starting one model from another), then training
    the new model: it donates its variables' buffers, which must not be the other's."""

    def make():
        model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
        model.compile("adam", "mse")
        return model

    trained, fresh = make(), make()
    x, y = np.ones((8, 3), "float32"), np.ones((8, 2), "float32")
    trained.fit(x, y, verbose=0)
    for f, t in zip(fresh.weights, trained.weights, strict=True):
        f.assign(t.value)  # the array itself, not a copy
    before = trained.predict(x, verbose=0)
    fresh.fit(x, y, epochs=2, verbose=0)
    np.testing.assert_array_equal(trained.predict(x, verbose=0), before)
    assert not np.array_equal(fresh.predict(x, verbose=0), before)
