"""Faults that keras.io's developer guides (and its audio / graph / RL examples) hit, each
checked against Keras 3 (JAX backend) where a number or a name is at stake.

The guides: custom_train_step_in_jax (`stateless_compute_loss`),
writing_a_custom_training_loop_in_jax (metric variables handed to `stateless_update_state`),
training_with_built_in_methods (an `on_batch_end` override's logs),
customizing_saving_and_serialization (`get_build_config` of a layer built by hand),
customizing_quantization (the paths of quantized weights) and orbax_checkpointing (saving
every N batches).
"""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

import shoal

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")


def _dense_model(lib, units=1, dim=8):
    inputs = lib.Input(shape=(dim,))
    return inputs, lib.layers.Dense(units)(inputs)


def _jax_train_step_class(lib):
    """The guide's first CustomModel: a JAX-style train_step over `stateless_compute_loss`."""

    class CustomModel(lib.Model):
        def compute_loss_and_updates(self, tv, ntv, mv, x, y, sample_weight, training=False):
            y_pred, ntv = self.stateless_call(tv, ntv, x, training=training)
            loss, (tv, ntv, mv) = self.stateless_compute_loss(
                tv, ntv, mv, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
            )
            return loss, (y_pred, ntv, mv)

        def train_step(self, state, data):
            tv, ntv, ov, mv = state
            x, y, sample_weight = lib.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, ntv, mv)), grads = grad_fn(tv, ntv, mv, x, y, sample_weight, True)
            tv, ov = self.optimizer.stateless_apply(ov, grads, tv)
            new_mv, logs = [], {}
            for metric in self.metrics:
                these = mv[len(new_mv) : len(new_mv) + len(metric.variables)]
                if metric.name == "loss":
                    these = metric.stateless_update_state(these, loss, sample_weight=sample_weight)
                else:
                    these = metric.stateless_update_state(these, y, y_pred, sample_weight)
                logs[metric.name] = metric.stateless_result(these)
                new_mv += these
            return logs, (tv, ntv, ov, new_mv)

    return CustomModel


def test_stateless_compute_loss_in_a_jax_train_step_matches_keras():
    rng = np.random.RandomState(0)
    x, y = rng.random((16, 8)).astype("float32"), rng.random((16, 1)).astype("float32")
    histories, weights = [], []
    for lib in (keras, shoal):
        model = _jax_train_step_class(lib)(*_dense_model(lib))
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        if weights:
            model.set_weights(weights)
        else:
            weights = model.get_weights()
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    theirs, ours = histories
    assert sorted(ours) == sorted(theirs) == ["loss", "mae"]
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5)


def test_stateless_compute_loss_adds_regularization_from_the_given_values():
    inputs = shoal.Input(shape=(2,))
    dense = shoal.layers.Dense(1, kernel_regularizer=shoal.regularizers.L2(0.5), use_bias=False)
    model = shoal.Model(inputs, dense(inputs))
    model.compile(loss="mse")
    kernel = np.full((2, 1), 2.0, "float32")
    loss, (tv, ntv, mv) = model.stateless_compute_loss(
        [kernel],
        [],
        [v.value for v in model.metrics_variables],
        x=np.zeros((1, 2), "float32"),
        y=np.zeros((1, 1), "float32"),
        y_pred=np.zeros((1, 1), "float32"),
    )
    assert float(loss) == pytest.approx(0.5 * 4 * 2)  # L2 of the given kernel, not its own
    assert tv[0] is kernel and len(mv) == len(model.metrics_variables)


def test_stateless_update_state_takes_the_metrics_own_variables_eagerly():
    # writing_a_custom_training_loop_in_jax calls the step once eagerly with
    # `metric.variables` themselves as the values.
    y_true = np.eye(3, dtype="float32")
    y_pred = np.array([[0.9, 0.1, 0], [0.8, 0.1, 0.1], [0, 0.2, 0.8]], "float32")
    results = []
    for lib in (keras, shoal):
        metric = lib.metrics.CategoricalAccuracy()
        values = metric.stateless_update_state(metric.variables, y_true, y_pred)
        results.append(float(metric.stateless_result(values)))
    assert results[1] == pytest.approx(results[0]) == pytest.approx(2 / 3)


def test_an_on_batch_end_override_gets_python_floats():
    class LossHistory(shoal.callbacks.Callback):
        def on_train_begin(self, logs):
            self.losses = []

        def on_batch_end(self, batch, logs):
            self.losses.append(logs.get("loss"))

    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = LossHistory()
    model.fit(np.ones((8, 3)), np.ones((8, 1)), batch_size=2, callbacks=[history], verbose=0)
    assert len(history.losses) == 4  # one per batch, as Keras (no fused steps)
    assert all(type(v) is float for v in history.losses)


def test_variable_repr_shows_its_value_as_keras():
    def stem(text):
        return text.split("path=")[1].split("/", 1)[1]

    reprs = []
    for lib in (keras, shoal):
        layer = lib.layers.Dense(2, kernel_initializer="ones")
        layer.build((None, 1))
        reprs.append(stem(repr(layer.kernel)))
    assert reprs[0] == reprs[1] == "kernel, shape=(1, 2), dtype=float32, value=[[1. 1.]]>"


def _custom_build_class(lib):
    class LayerWithCustomBuild(lib.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def call(self, inputs):
            return lib.ops.matmul(inputs, self.w)

        def build(self, input_shape, layer_init):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer=layer_init)
            self.layer_init = layer_init

    return LayerWithCustomBuild


def test_get_build_config_of_a_layer_built_by_hand():
    configs = []
    for lib in (keras, shoal):
        layer = _custom_build_class(lib)()
        layer.build(input_shape=(8,), layer_init="ones")
        shapes = layer.get_build_config()["shapes_dict"]
        configs.append((tuple(shapes["input_shape"]), shapes["layer_init"]))
    assert configs[1] == configs[0] == ((8,), "ones")


@pytest.mark.filterwarnings("ignore:Layer InputLayer does not have a `quantize`")
def test_quantized_weights_keep_the_parent_path():
    paths = []
    for lib in (keras, shoal):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(8, name="d")], name="seq")
        model.quantize("int8")
        paths.append(sorted(v.path for v in model.weights))
    assert paths[1] == paths[0]
    assert "seq/d/kernel" in paths[1] and "seq/d/kernel_scale" in paths[1]


def test_saving_every_n_batches_saves_the_state_of_that_batch(tmp_path):
    # orbax_checkpointing's batch-level example: steps_per_execution="auto" may fuse steps,
    # but never past a save of shoal's own saving callbacks: with save_freq=1 each file holds
    # the weights after its own batch (fused, all held the execution's last), as in Keras.
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(1)])
    model.compile("sgd", "mse")
    checkpoint = shoal.callbacks.ModelCheckpoint(
        str(tmp_path / "m-{batch}.weights.h5"), save_weights_only=True, save_freq=1
    )
    x, y = np.arange(24, dtype="float32").reshape(8, 3) / 24, np.ones((8, 1), "float32")
    model.fit(x, y, batch_size=2, callbacks=[checkpoint], shuffle=False, verbose=0)
    kernels = []
    for batch in range(1, 5):
        model.load_weights(str(tmp_path / f"m-{batch}.weights.h5"))
        kernels.append(model.get_weights()[0])
    assert all(not np.allclose(a, b) for a, b in zip(kernels, kernels[1:], strict=False))


def _stft_model(lib):
    inputs = lib.Input((64,))
    real, imag = lib.ops.stft(inputs, 16, 8, 16)
    return lib.Model(inputs, lib.ops.concatenate([real, imag], axis=-1))


def test_graph_ops_take_keras_class_names():
    # vocal_track_separation: `ops.stft` in a functional model shows as STFT in the summary
    # and its config, so files load in either library.
    names = []
    for lib in (keras, shoal):
        config = _stft_model(lib).get_config()
        names.append([layer["class_name"] for layer in config["layers"]])
    assert names[1] == names[0] == ["InputLayer", "STFT", "Concatenate"]
    keras_config = _stft_model(keras).get_config()
    rebuilt = shoal.Model.from_config(keras_config)
    x = np.random.RandomState(0).random((2, 64)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(rebuilt(x)), np.asarray(_stft_model(keras)(x)), rtol=1e-4, atol=1e-5
    )
