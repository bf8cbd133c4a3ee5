"""Faults that keras.io's generative, timeseries, structured-data and NLP examples hit, each
checked against Keras 3 (JAX backend) where a number or a count is at stake."""

import numpy as np
import pytest

import shoal as keras
from shoal import layers, ops


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.Dropout(0.0),
        lambda L: L.SpatialDropout1D(0.0),
        lambda L: L.GaussianNoise(0.0),
        lambda L: L.GaussianDropout(0.0),
        lambda L: L.AlphaDropout(0.0),
        lambda L: L.Attention(),
        lambda L: L.MultiHeadAttention(2, 4),
    ],
)
def test_layers_with_nothing_to_draw_hold_no_seed_state(make):
    # As Keras: a zero rate creates no SeedGenerator, so a model's non_trainable_variables
    # (which a JAX-style train_step threads through stateless_call) line up with Keras'.
    layer = make(layers)
    x = np.ones((2, 3, 4), "float32")
    if isinstance(layer, layers.Attention):
        layer([x, x])
    elif isinstance(layer, layers.MultiHeadAttention):
        layer(x, x)
    else:
        layer(x)
    assert layer.non_trainable_variables == []


def test_layers_with_a_rate_still_draw():
    layer = layers.Dropout(0.5, seed=1)
    assert len(layer.non_trainable_variables) == 1
    out = np.asarray(layer(np.ones((4, 8), "float32"), training=True))
    assert set(np.unique(out)) <= {0.0, 2.0} and (out == 0).any()


class _BatchDot(keras.Model):
    """keras.io's collaborative-filtering model: `tensordot(u, v, 2)` sums over the batch."""

    def __init__(self):
        super().__init__()
        self.user = layers.Embedding(6, 3, embeddings_initializer="ones")
        self.movie = layers.Embedding(7, 3, embeddings_initializer="ones")
        self.bias = layers.Embedding(6, 1, embeddings_initializer="zeros")

    def call(self, inputs):
        dot = ops.tensordot(self.user(inputs[:, 0]), self.movie(inputs[:, 1]), 2)
        return ops.sigmoid(0.1 * dot + self.bias(inputs[:, 0]))


def test_predict_does_not_pad_batches_of_a_user_call():
    # Padding the last batch (repeating a row) would change a batch-coupled call's outputs.
    model = _BatchDot()
    x = np.array([[0, 1], [2, 3], [4, 5], [1, 1], [3, 2]])
    expected_3 = 1 / (1 + np.exp(-0.1 * 3 * 3))
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), expected_3, rtol=1e-6)
    got = model.predict(x, batch_size=4, verbose=0)
    np.testing.assert_allclose(got[:4], 1 / (1 + np.exp(-0.1 * 4 * 3)), rtol=1e-6)
    np.testing.assert_allclose(got[4:], 1 / (1 + np.exp(-0.1 * 1 * 3)), rtol=1e-6)


def test_predict_still_pads_built_in_functional_models():
    from shoal.trainers import fit_loop

    model = keras.Sequential([keras.Input((2,)), layers.Dense(1)])
    assert fit_loop._batch_free(model)
    lam = keras.Sequential([keras.Input((2,)), layers.Lambda(lambda t: t - ops.mean(t, 0))])
    assert not fit_loop._batch_free(lam)


def test_sequence_targets_with_an_unknown_length_pass_the_target_check():
    # lstm_seq2seq: Input(shape=(None, n)) gives an output (None, None, n); targets
    # (batch, steps, n) are fine (the check took the batch size for the unknown length).
    inp = keras.Input((None, 3))
    out = layers.Dense(3, activation="softmax")(layers.LSTM(2, return_sequences=True)(inp))
    model = keras.Model(inp, out)
    model.compile("sgd", "categorical_crossentropy")
    x = np.zeros((4, 5, 3), "float32")
    y = np.eye(3, dtype="float32")[np.zeros((4, 5), int)]
    logs = model.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(logs["loss"], np.log(3), rtol=1e-5)
    with pytest.raises(ValueError, match=r"shape \(4, 5, 2\).*\(None, None, 3\)"):
        model.fit(x, y[..., :2], verbose=0)


class _JaxStepModel(keras.Model):
    """keras.io's JAX train_step: every metric of `self.metrics` logged by its name."""

    def train_step(self, state, data):
        import jax

        trainable, non_trainable, optimizer_vars, metric_vars = state
        x, y = data[0], data[1]  # train_on_batch passes (x, y, sample_weight)

        def loss_fn(trainable, non_trainable):
            y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=True)
            return self.compute_loss(x, y, y_pred), (y_pred, non_trainable)

        (loss, (y_pred, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable
        )
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        logs, new_vars = {}, []
        for metric in self.metrics:
            own = metric_vars[len(new_vars) : len(new_vars) + len(metric.variables)]
            args = (loss,) if metric.name == "loss" else (y, y_pred)
            own = metric.stateless_update_state(own, *args)
            logs[metric.name] = metric.stateless_result(own)  # compile_metrics: a dict
            new_vars += own
        return logs, (trainable, non_trainable, optimizer_vars, new_vars)


def test_jax_train_step_logging_the_compiled_metrics_dict_is_flattened():
    inputs = keras.Input((2,))
    model = _JaxStepModel(inputs, layers.Dense(1, kernel_initializer="ones")(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    seen = []

    class Batch(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(sorted(logs))

    x = np.ones((4, 2), "float32")
    y = np.zeros((4, 1), "float32")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Batch()])
    # Keras 3: {'loss': 4.0, 'mae': 2.0} (the weights are updated after the step's loss).
    assert sorted(history.history) == ["loss", "mae"]
    assert seen == [["loss", "mae"]]
    np.testing.assert_allclose(history.history["loss"], [4.0])
    np.testing.assert_allclose(history.history["mae"], [2.0])
    assert sorted(model.train_on_batch(x, y, return_dict=True)) == ["loss", "mae"]


def test_evaluate_list_puts_multi_output_metrics_last_sorted():
    # Keras 3 (JAX): loss, per-output losses, then the prefixed compiled metrics, sorted:
    # [loss, zz_loss, aa_loss, aa_accuracy, zz_mae, zz_mse].
    inp = keras.Input((3,))
    zz = layers.Dense(1, name="zz", kernel_initializer="ones")(inp)
    aa = layers.Dense(1, name="aa", kernel_initializer="zeros")(inp)
    model = keras.Model(inp, [zz, aa])
    model.compile("sgd", ["mse", "mae"], metrics=[["mae", "mse"], ["accuracy"]])
    x = np.full((4, 3), 0.5, "float32")
    y = np.ones((4, 1), "float32")
    got = model.evaluate(x, [y, y], verbose=0)
    # zz predicts 1.5 (error 0.5), aa predicts 0 (error 1, accuracy 0).
    np.testing.assert_allclose(got, [1.25, 0.25, 1.0, 0.0, 0.5, 0.25], rtol=1e-6)
    # The dict (and the history, and the logs callbacks see) in key order, as Keras'.
    names = ["aa_accuracy", "aa_loss", "loss", "zz_loss", "zz_mae", "zz_mse"]
    assert list(model.evaluate(x, [y, y], verbose=0, return_dict=True)) == names
    assert list(model.fit(x, [y, y], verbose=0).history) == names


def test_string_input_names_the_argument_and_the_way_out():
    # Keras (with TensorFlow) builds string inputs; shoal's models run on JAX arrays, so
    # the error names `dtype`, what it accepts and where string preprocessing goes.
    with pytest.raises(ValueError, match=r"argument `dtype`.*TextVectorization.*dtype='string'"):
        keras.Input(shape=(1,), dtype="string")
