"""How models and layers get built, as keras.io programs expect: a batch folded into
another axis, eager-only `call` code, a user's own `build`, assigns inside `call`,
one-element output lists, tracked metrics, auto-names (each found by running keras.io
examples through shoal and Keras 3)."""

from __future__ import annotations

import jax
import numpy as np

import shoal as keras
from shoal import layers, ops


def test_batch_folded_into_another_axis_and_back():
    """Swin-style window partition: reshape (B, 4, 3) -> (B*4, 3), a layer, and back."""
    inp = keras.Input((4, 3))
    merged = ops.reshape(inp, (-1, 3))
    projected = layers.Dense(3)(merged)
    assert projected.shape == (None, 3)
    out = ops.reshape(projected, (-1, 4, 3))
    assert out.shape == (None, 4, 3)
    model = keras.Model(inp, out)
    assert model(np.ones((2, 4, 3), "float32")).shape == (2, 4, 3)


class _Branchy(keras.Model):
    """`call` branches on a value: it runs eagerly only, as Keras allows on a first call."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, x):
        if ops.sum(x) > 0:
            return self.dense(x)
        return -self.dense(x)


class _Gather(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, inputs):
        x, index = inputs
        return ops.take(self.dense(x), index, axis=0)


def test_subclassed_first_call_runs_eager_only_code():
    model = _Branchy()
    x = np.ones((2, 3), "float32")
    out = model(x)
    np.testing.assert_allclose(model(-x), -np.asarray(model.dense(-x)), rtol=1e-6)
    assert out.shape == (2, 2) and len(model.weights) == 2
    gather = _Gather()  # an integer input keeps its dtype while the model is built
    assert gather([np.ones((4, 3), "float32"), np.array([0, 2], "int32")]).shape == (2, 2)


class _OwnBuild(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.w


def test_a_users_build_called_directly_leaves_the_layer_built():
    layer = _OwnBuild()
    layer.build((None, 2))
    assert layer.built
    layer(np.ones((1, 2), "float32"))
    assert len(layer.weights) == 1  # not built a second time


class _Counter(layers.Layer):
    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False)

    def call(self, x):
        self.count.assign_add(1.0)
        return x


def test_assign_in_call_while_the_graph_is_traced_keeps_the_variable():
    i = keras.Input((2,))
    model = keras.Model(i, _Counter()(i))
    counter = model.layers[1]
    assert float(counter.count.numpy()) == 0.0  # no tracer leaked into it
    model.predict(np.ones((4, 2), "float32"), batch_size=2, verbose=0)
    assert float(counter.count.numpy()) == 2.0  # one per predict batch, as in Keras


def test_one_element_output_list_returns_the_tensor():
    i = keras.Input((3,))
    o = layers.Dense(2)(i)
    model = keras.Model(inputs=[i], outputs=[o])
    x = np.ones((2, 3), "float32")
    assert isinstance(model(x), jax.Array)
    assert isinstance(model.predict(x, verbose=0), np.ndarray)
    assert isinstance(model.output, list) and len(model.outputs) == 1
    model.compile("sgd", ["mse"])
    assert "loss" in model.fit(x, np.ones((2, 2)), verbose=0).history


class _Tracked(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)
        self.tracker = keras.metrics.Mean(name="my_loss")

    def call(self, x):
        return self.dense(x)


def test_metrics_held_as_attributes_are_listed_and_logged():
    model = _Tracked()
    model.compile("sgd", "mse")
    history = model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    assert [m.name for m in model.metrics] == ["loss", "my_loss"]
    assert set(history.history) == {"loss", "my_loss"}


class _TwoViews(keras.Model):
    """A SimSiam-like model: its train_step takes two views, `call` one."""

    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, x, training=False):
        return self.dense(x)

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        a, b = data[0]

        def loss_fn(trainable):
            pa, _ = self.stateless_call(trainable, non_trainable, a)
            pb, _ = self.stateless_call(trainable, non_trainable, b)
            return ops.mean((pa - pb) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(trainable)
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        return {"loss": loss}, (trainable, non_trainable, optimizer_vars, metrics_vars)


def test_custom_train_step_data_need_not_suit_call():
    model = _TwoViews()
    model(np.zeros((2, 3), "float32"))
    model.compile(optimizer="sgd")
    a = np.random.default_rng(0).random((8, 3)).astype("float32")
    history = model.fit([a, a + 1], epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_auto_names_follow_keras():
    i = keras.Input((4, 8))
    attended = layers.MultiHeadAttention(2, 4)(i, i)
    dropped = layers.Dropout(0.1)
    dropped(attended)
    assert dropped.name.startswith("dropout_")  # MHA's build took "dropout", as in Keras
    first, second = keras.Variable(1.0), keras.Variable(2.0)
    assert second.name.rsplit("_", 1)[0] == "variable"
    assert (
        int(second.name.rsplit("_", 1)[1])
        == int((first.name.rsplit("_", 1) + ["0"])[1] if "_" in first.name else 0) + 1
    )


def test_variable_paths_nest_as_in_keras():
    """Weights take the path of the name scopes they were made in: a Sequential's and a
    subclassed model's layers under the model's name, a Functional's at the top."""
    import subprocess
    import sys
    import textwrap

    program = textwrap.dedent(
        """
        import sys, numpy as np
        keras = __import__(sys.argv[1])
        s = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")], name="s")
        class M(keras.Model):
            def __init__(self):
                super().__init__(name="m")
                self.d = keras.layers.Dense(2, name="md")
                self.inner = keras.Sequential([keras.layers.Dense(1, name="id")], name="inner")
            def call(self, x):
                return self.inner(self.d(x))
        m = M(); m(np.ones((1, 3)))
        i = keras.Input((3,)); f = keras.Model(i, keras.layers.Dense(2, name="fd")(i))
        b = keras.layers.Bidirectional(keras.layers.GRU(2, name="g"), name="b")
        b(np.ones((1, 2, 3)))
        print([v.path for v in s.weights + m.weights + f.weights + b.weights])
        """
    )
    outputs = []
    for lib, path in (("shoal", "."), ("keras", "")):
        env = {**__import__("os").environ, "KERAS_BACKEND": "jax", "PYTHONPATH": path}
        run = subprocess.run(
            [sys.executable, "-c", program, lib], capture_output=True, text=True, env=env
        )
        assert run.returncode == 0, run.stderr[-2000:]
        outputs.append(run.stdout.strip().splitlines()[-1])
    assert outputs[0] == outputs[1]
    assert "'s/d/kernel'" in outputs[0] and "'m/inner/id/kernel'" in outputs[0]


class _GuideModel(keras.Model):
    """keras.io "Customizing what happens in fit() with JAX", first example: the step
    walks `self.metrics` and returns the last one's `stateless_result` as the logs."""

    def compute_loss_and_updates(self, trainable, non_trainable, x, y, training=False):
        y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=training)
        return self.compute_loss(x, y, y_pred), (y_pred, non_trainable)

    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y = data
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (loss, (y_pred, non_trainable)), grads = grad_fn(
            trainable, non_trainable, x, y, training=True
        )
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        new_metrics_vars, logs = [], None
        for metric in self.metrics:
            start = len(new_metrics_vars)
            these = metrics_vars[start : start + len(metric.variables)]
            if metric.name == "loss":
                these = metric.stateless_update_state(these, loss)
            else:
                these = metric.stateless_update_state(these, y, y_pred)
            logs = metric.stateless_result(these)
            new_metrics_vars += these
        return logs, (trainable, non_trainable, optimizer_vars, new_metrics_vars)


def test_compiled_metrics_are_one_metric_as_in_keras():
    inputs = keras.Input(shape=(8,))
    model = _GuideModel(inputs, layers.Dense(1)(inputs))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    x = np.random.default_rng(0).random((64, 8)).astype("float32")
    history = model.fit(x, x[:, :1], epochs=2, verbose=0)
    assert list(history.history) == ["mae"] and len(history.history["mae"]) == 2
    assert model.metrics_names == ["loss", "compile_metrics"]
    result = model.metrics[1].result()
    assert set(result) == {"mae"} and np.isfinite(float(result["mae"]))


class _OwnDropout(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, x):
        return keras.random.dropout(x, 0.5, seed=self.seed_generator)


class _Stack(keras.Model):
    def __init__(self):
        super().__init__(name="stack")
        self.first = layers.Dense(2, name="first")
        self.drop = _OwnDropout(name="drop")
        self.last = layers.Dense(1, name="last")

    def call(self, x):
        return self.last(self.drop(self.first(x)))


def test_variables_are_listed_layer_by_layer_as_in_keras():
    model = _Stack()
    model(np.ones((1, 3), "float32"))
    names = [v.path.split("/")[-1] for v in model.variables]
    assert names == ["kernel", "bias", "seed_generator_state", "kernel", "bias"]
    assert [v.name for v in model.non_trainable_variables] == ["seed_generator_state"]


def test_weights_made_under_a_distribution_are_laid_out_at_once():
    import os
    import subprocess
    import sys
    import textwrap

    program = textwrap.dedent(
        """
        import shoal as keras
        mesh = keras.distribution.DeviceMesh((1, 2), ["data", "model"])
        layout = keras.distribution.LayoutMap(mesh)
        layout["d1/kernel"] = (None, "model")
        keras.distribution.set_distribution(
            keras.distribution.ModelParallel(layout_map=layout, batch_dim_name="data"))
        dense = keras.layers.Dense(4, name="d1")
        dense.build((None, 8))
        print(dense.kernel.value.sharding.spec, len(dense.bias.value.sharding.device_set))
        """
    )
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": ".",
    }
    run = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "P(None, 'model') 2"


def _seeded_fit(lib):
    lib.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    x = rng.random((64, 6)).astype("float32")
    y = (rng.random((64, 1)) > 0.5).astype("float32")
    model = lib.Sequential(
        [
            lib.Input((6,)),
            lib.layers.Dense(8, activation="relu"),
            lib.layers.Dropout(0.3),
            lib.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=True)
    return history.history["loss"], model.get_weights()


def test_set_random_seed_gives_keras_training_run():
    """Same seed, same program: Keras' initial weights (seeds from Python's `random`),
    shuffling (NumPy's global generator) and dropout masks (the layers' SeedGenerator
    states carried through the steps), so the same losses and weights."""
    import keras as reference

    import shoal

    theirs_loss, theirs_weights = _seeded_fit(reference)
    ours_loss, ours_weights = _seeded_fit(shoal)
    np.testing.assert_allclose(ours_loss, theirs_loss, rtol=1e-5)
    for a, b in zip(ours_weights, theirs_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
