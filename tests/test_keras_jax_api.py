"""Keras 3's JAX-backend model API a program may call (`stateless_compute_loss`,
`make_*_function`, `jax_state_sync`, `Layer.add_variable`), against Keras 3.15."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402

keras = pytest.importorskip("keras")


def _model(k):
    class Scaled(k.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_variable((input_shape[-1],), "ones", name="scale")

        def call(self, x):
            return x * self.scale

    class JaxStep(k.Model):
        def train_step(self, state, data):
            trainable, non_trainable, optimizer_vars, metrics_vars = state
            x, y = data

            def loss_fn(tv):
                y_pred, ntv = self.stateless_call(tv, non_trainable, x, training=True)
                loss, (_, ntv, mv) = self.stateless_compute_loss(
                    tv, ntv, metrics_vars, x=x, y=y, y_pred=y_pred
                )
                return loss, (ntv, mv)

            (loss, (non_trainable, metrics_vars)), grads = jax.value_and_grad(
                loss_fn, has_aux=True
            )(trainable)
            trainable, optimizer_vars = self.optimizer.stateless_apply(
                optimizer_vars, grads, trainable
            )
            return {"loss": loss}, (trainable, non_trainable, optimizer_vars, metrics_vars)

    inputs = k.Input((3,))
    outputs = k.layers.Dense(2, kernel_regularizer="l2")(Scaled()(inputs))
    model = JaxStep(inputs, outputs)
    model.compile(k.optimizers.SGD(0.1), "mse")
    return model


def test_jax_train_step_with_stateless_compute_loss_matches_keras():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 3)).astype("float32")
    y = rng.standard_normal((16, 2)).astype("float32")
    ours, theirs = _model(shoal), _model(keras)
    ours.set_weights(theirs.get_weights())
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    np.testing.assert_array_equal(ours.weights[0].numpy(), np.ones(3, "float32"))
    history = [
        m.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"]
        for m in (ours, theirs)
    ]
    np.testing.assert_allclose(history[0], history[1], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    ours.jax_state_sync()
    assert callable(ours.make_test_function()) and callable(ours.make_predict_function())
