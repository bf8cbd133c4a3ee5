"""compile / fit / evaluate / predict: behaviour, Keras parity and bad-input errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import shoal
from shoal import layers, models
from shoal.trainers import fit_loop


def _data(n=64, d=4, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype("float32")
    y = rng.integers(0, classes, n)
    return x, y


def _mlp(d=4, classes=3, seed=0):
    shoal.utils.set_random_seed(seed)
    inputs = shoal.Input((d,), name="features")
    h = layers.Dense(8, activation="relu")(inputs)
    outputs = layers.Dense(classes, activation="softmax")(h)
    return models.Model(inputs, outputs)


# -- the seed snippets -------------------------------------------------------------


def test_seed_snippets_build_and_run():
    from shoal import layers as L
    from shoal import models as M

    model = M.Sequential([L.Dense(32, activation="relu"), L.Dense(32)])
    assert model(np.ones((2, 7), "float32")).shape == (2, 32)
    keras = shoal
    model = keras.Sequential([keras.layers.Dense(1)])
    assert model(np.ones((3, 5), "float32")).shape == (3, 1)
    assert len(model.weights) == 2 and model.count_params() == 6


# -- fit / evaluate / predict --------------------------------------------------------


def test_fit_reduces_loss_and_history_keys():
    x, y = _data()
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0, validation_split=0.25)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"] or set(
        history.history
    ) == {"accuracy", "loss", "val_accuracy", "val_loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    loss, acc = model.evaluate(x, y, verbose=0)
    assert 0 <= acc <= 1 and loss > 0
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "accuracy"}
    pred = model.predict(x, batch_size=10, verbose=0)  # 10 does not divide 64: partial batch
    assert pred.shape == (64, 3)
    np.testing.assert_allclose(pred, np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pred.sum(-1), 1.0, rtol=1e-5)


def test_fit_matches_keras_training_exactly():
    """Same weights, same data, no shuffling: weights after 2 epochs equal Keras 3's."""
    import keras

    x, y = _data(n=48)
    model = _mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    kmodel = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    kmodel.set_weights(model.get_weights())
    kmodel.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    h = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    kh = kmodel.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-5)


OPTIMIZERS = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {}),
    ("Adam", {}),
    ("AdamW", {}),
    ("Adamax", {}),
    ("Nadam", {}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adadelta", {"learning_rate": 1.0}),
    ("Adafactor", {}),
    ("Lion", {}),
    ("Ftrl", {"learning_rate": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_parity_one_epoch(name, kwargs):
    import keras

    x, y = _data(n=32, seed=1)
    shoal.utils.set_random_seed(3)
    model = models.Sequential([shoal.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(
        optimizer=getattr(shoal.optimizers, name)(**kwargs), loss="sparse_categorical_crossentropy"
    )
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    kmodel.set_weights(model.get_weights())
    kmodel.compile(
        optimizer=getattr(keras.optimizers, name)(**kwargs), loss="sparse_categorical_crossentropy"
    )
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    kmodel.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_multi_input_multi_output_dict_losses_and_keras_history_names():
    import keras

    rng = np.random.default_rng(0)
    xa = rng.standard_normal((32, 3)).astype("float32")
    xb = rng.standard_normal((32, 2)).astype("float32")
    y_cls = rng.integers(0, 4, 32)
    y_reg = rng.standard_normal((32, 1)).astype("float32")

    def build(lib):
        a = lib.Input((3,), name="a")
        b = lib.Input((2,), name="b")
        h = lib.layers.Concatenate()([a, b])
        h = lib.layers.Dense(8, activation="relu")(h)
        cls = lib.layers.Dense(4, activation="softmax", name="cls")(h)
        reg = lib.layers.Dense(1, name="reg")(h)
        model = lib.Model({"a": a, "b": b}, {"cls": cls, "reg": reg})
        model.compile(
            optimizer="adam",
            loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
            loss_weights={"cls": 1.0, "reg": 0.5},
            metrics={"cls": ["accuracy"], "reg": ["mae"]},
        )
        return model

    model, kmodel = build(shoal), build(keras)
    kmodel.set_weights(model.get_weights())
    data = ({"a": xa, "b": xb}, {"cls": y_cls, "reg": y_reg})
    h = model.fit(*data, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kh = kmodel.fit(*data, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert set(h.history) == set(kh.history)
    for key in kh.history:
        np.testing.assert_allclose(
            h.history[key], kh.history[key], rtol=1e-4, atol=1e-6, err_msg=key
        )


@pytest.mark.parametrize("k", [4, "auto"])
@pytest.mark.parametrize("on_device", [True, False])
def test_fused_and_device_fed_equal_unfused_host_fed(k, on_device, monkeypatch):
    """Fused executions and arrays kept on device change how fit runs, not what it computes:
    same weights, logs, evaluate and predict as one step per execution fed from the host."""
    from shoal.trainers import device_feed

    x, y = _data(n=76)  # 9 full batches of 8 and a partial one
    weights = np.linspace(0.5, 1.5, len(x)).astype("float32")

    def run(k, budget):
        monkeypatch.setattr(device_feed, "BUDGET_BYTES", budget)
        np.random.seed(3)
        model = _mlp(seed=5)
        model.compile(
            optimizer="adam",
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            steps_per_execution=k,
        )
        history = model.fit(
            x, y, sample_weight=weights, batch_size=8, epochs=2, verbose=0,
            validation_data=(x[:20], y[:20]),
        )  # fmt: skip
        return (
            model.get_weights(),
            history.history,
            model.evaluate(x, y, batch_size=16, verbose=0),
            model.predict(x, batch_size=16, verbose=0),
        )

    want = run(1, 0)
    got = run(k, device_feed.BUDGET_BYTES if on_device else 0)
    for a, b in zip(want[0], got[0], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
    for key in want[1]:
        np.testing.assert_allclose(got[1][key], want[1][key], rtol=1e-6)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-6)
    np.testing.assert_allclose(got[3], want[3], rtol=1e-6, atol=1e-7)


def test_auto_steps_fuses_cheap_steps():
    from shoal.trainers import auto_steps

    assert auto_steps.choose(1e6, "cpu", 100) == 50  # wants 2048 -> 64, divisor of 100
    assert auto_steps.choose(1e6, "cpu", 97) == 64  # 97 is prime: leftovers run unfused
    assert auto_steps.choose(1e10, "cpu", 100) == 1  # a heavy step runs alone
    # 6 steps make the target: the smallest divisor of 100 from there (no leftovers)
    assert auto_steps.choose(1e9, "cpu", 100) == 10
    assert auto_steps.choose(2.2e9, "cpu", 50) == 5  # the benchmark LSTM's epoch
    assert auto_steps.choose(2.2e9, "cpu", 7) == 7  # a short epoch: one execution
    assert auto_steps.choose(0, "cpu", 100) == 1  # no estimate: no fusion
    conv = frozenset({"conv_general_dilated", "dot_general"})
    assert auto_steps.choose(2.2e9, "cpu", 50, conv) == 1  # convolutions on CPU: alone
    assert auto_steps.choose(1e8, "cpu", 50, conv) == 1  # (small ones too: 10x slower fused)
    assert auto_steps.choose(1e9, "gpu", 50, conv) == 50  # light ones elsewhere are fused
    assert auto_steps.choose(2e12, "gpu", 50, conv) == 1
    x, y = _data(n=64)
    model = _mlp(seed=5)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert set(model._auto_steps.values()) == {8}  # tiny steps: the whole epoch fused
    # A user's batch hook: one step per execution under "auto" (Keras' default), so each
    # hook sees its own step; fused explicitly, every batch is still reported.
    seen = []
    callback = shoal.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(b))
    runs = []
    original = fit_loop._Runner.__call__

    def counting(self, batch, fused):
        runs.append(fused)
        return original(self, batch, fused)

    fit_loop._Runner.__call__ = counting
    try:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
        assert seen == list(range(8)) and runs == [False] * 8
        seen.clear()
        runs.clear()
        model.compile(
            optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=8
        )
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[callback])
        assert seen == list(range(8)) and runs == [True]
    finally:
        fit_loop._Runner.__call__ = original


@pytest.mark.parametrize(
    "conv_layer, fused",
    [
        ({"filters": 32, "kernel_size": 3}, True),  # im2col, and its input gradient
        ({"filters": 32, "kernel_size": 3, "strides": 2}, False),  # lax's convolution
    ],
)
def test_auto_steps_fuses_convolutions_lowered_for_loops(conv_layer, fused):
    """On CPU, a step whose convolutions all run as `cpu_conv` writes them (Winograd,
    im2col and its explicit input gradient) is fused; one with lax's is not."""
    model = models.Sequential(
        [
            shoal.Input((10, 10, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(**conv_layer),
            layers.GlobalAveragePooling2D(),
            layers.Dense(2),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((32, 10, 10, 1), "float32")
    model.fit(x, np.zeros((32, 2), "float32"), batch_size=4, epochs=1, verbose=0)
    (k,) = model._auto_steps.values()
    assert (k > 1) == fused


def test_dropout_is_deterministic_given_seed():
    x, y = _data()

    def run():
        shoal.utils.set_random_seed(42)
        model = models.Sequential(
            [
                shoal.Input((4,)),
                layers.Dense(16),
                layers.Dropout(0.5),
                layers.Dense(3, activation="softmax"),
            ]
        )
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_regularization_and_add_loss_enter_training_loss():
    x, y = _data(n=16)
    shoal.utils.set_random_seed(0)
    model = models.Sequential(
        [shoal.Input((4,)), layers.Dense(3, kernel_regularizer=shoal.regularizers.L2(10.0))]
    )
    model.compile(optimizer="sgd", loss="mse")
    yy = np.zeros((16, 3), "float32")
    plain = float(np.mean(np.asarray(model(x)) ** 2))
    penalty = 10.0 * float(np.sum(model.layers[0].kernel.numpy() ** 2))
    loss = model.evaluate(x, yy, verbose=0, batch_size=16)
    np.testing.assert_allclose(loss, plain + penalty, rtol=1e-5)


def test_generator_and_pydataset_inputs():
    x, y = _data(n=40)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")

    def gen():
        while True:
            for i in range(0, 40, 10):
                yield x[i : i + 10], y[i : i + 10]

    h = model.fit(gen(), steps_per_epoch=4, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2

    class Data(shoal.utils.PyDataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 10 : (i + 1) * 10], y[i * 10 : (i + 1) * 10]

    h = model.fit(Data(), epochs=1, verbose=0)
    assert np.isfinite(h.history["loss"][0])
    assert model.predict(Data(), verbose=0).shape == (40, 3)


def test_custom_train_step_override():
    """Keras 3 JAX-style stateless train_step, state in and state out."""

    class Custom(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)
            self.calls = 0

        def call(self, x):
            return self.dense(x)

        def train_step(self, state, data):
            self.calls += 1
            trainable, non_trainable, opt_vars, metric_vars = state
            x, y = data[0], data[1]

            def loss_fn(tv):
                pred, _ = self.stateless_call(tv, non_trainable, x)
                return jnp.mean((pred - y) ** 2)

            loss, grads = jax.value_and_grad(loss_fn)(trainable)
            trainable, opt_vars = self.optimizer.stateless_apply(opt_vars, grads, trainable)
            return {"my_loss": loss}, (trainable, non_trainable, opt_vars, metric_vars)

    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 2)).astype("float32")
    y = (x @ np.array([[2.0], [-1.0]], "float32")).astype("float32")
    model = Custom()
    model.compile(optimizer=shoal.optimizers.SGD(0.1))
    h = model.fit(x, y, batch_size=16, epochs=20, verbose=0)
    assert h.history["my_loss"][-1] < 1e-3
    np.testing.assert_allclose(model.dense.kernel.numpy(), [[2.0], [-1.0]], atol=0.05)
    assert model.calls == 1  # traced once, then compiled


class _GuideModel(models.Model):
    """Keras' "Customizing what happens in fit() with JAX" guide: its own loss tracker and
    metric, a stateless train_step, built as `_GuideModel(inputs, outputs)`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = shoal.metrics.Mean(name="loss")
        self.mae_metric = shoal.metrics.MeanAbsoluteError(name="mae")
        self.seen = []

    def compute_loss_and_updates(self, trainable, non_trainable, x, y, training=False):
        y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=training)
        return jnp.mean((y_pred - y) ** 2), (y_pred, non_trainable)

    def train_step(self, state, data):
        self.seen.append(type(data).__name__ + str(len(data)))
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        x, y = data
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (loss, (y_pred, non_trainable)), grads = grad_fn(
            trainable, non_trainable, x, y, training=True
        )
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        n = len(self.loss_tracker.variables)
        loss_vars = self.loss_tracker.stateless_update_state(metrics_vars[:n], loss)
        mae_vars = self.mae_metric.stateless_update_state(metrics_vars[n:], y, y_pred)
        logs = {
            "loss": self.loss_tracker.stateless_result(loss_vars),
            "mae": self.mae_metric.stateless_result(mae_vars),
        }
        return logs, (trainable, non_trainable, optimizer_vars, loss_vars + mae_vars)

    @property
    def metrics(self):
        return [self.loss_tracker, self.mae_metric]


def test_model_subclass_called_with_inputs_and_outputs_is_functional(tmp_path):
    """`MyModel(inputs, outputs)` is a Functional model whose own methods come first (its
    class gains Functional as a base, as in Keras): the guide's custom train_step trains
    it, and it saves and loads with its class as a custom object."""
    inputs = shoal.Input((3,))
    outputs = layers.Dense(1)(inputs)
    model = _GuideModel(inputs, outputs)
    assert type(model) is _GuideModel
    assert isinstance(model, models.Functional)
    assert [layer.name for layer in model.layers] == [
        inputs._keras_history[0].name,
        outputs._keras_history[0].name,
    ]
    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    model.compile(optimizer=shoal.optimizers.SGD(0.1))
    history = model.fit(x, y, batch_size=16, epochs=30, verbose=0)
    assert sorted(history.history) == ["loss", "mae"]
    assert history.history["loss"][-1] < 1e-3 < history.history["loss"][0]
    assert model.seen == ["tuple2"]  # `(x, y)`, as Keras hands it (no sample_weight)

    path = str(tmp_path / "guide.keras")
    model.save(path)
    loaded = shoal.saving.load_model(path, custom_objects={"_GuideModel": _GuideModel})
    assert type(loaded) is _GuideModel
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))

    # The class keeps working as a subclassed model too when given no inputs/outputs.
    class Plain(models.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    assert Plain()(x).shape == (64, 2)
    with pytest.raises(TypeError, match="both `inputs` and `outputs`"):
        models.Model(inputs=inputs)


def test_steps_receive_batches_packed_as_in_keras():
    """A custom step gets `x`, `(x, y)` or `(x, y, sample_weight)`, whichever was given."""
    seen = {}

    class Recording(models.Sequential):
        def train_step(self, state, data):
            seen.setdefault("train", []).append(_structure(data))
            return super().train_step(state, data)

        def test_step(self, state, data):
            seen.setdefault("test", []).append(_structure(data))
            return super().test_step(state, data)

        def predict_step(self, state, data):
            seen.setdefault("predict", []).append(_structure(data))
            return super().predict_step(state, data)

    x, y = _data(n=32)
    model = Recording([shoal.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    model.fit(x, y, sample_weight=np.ones(32), batch_size=16, epochs=1, verbose=0)
    model.evaluate(x, y, batch_size=16, verbose=0)
    model.predict(x, batch_size=16, verbose=0)
    assert seen == {
        "train": ["(array, array)", "(array, array, array)"],
        "test": ["(array, array)"],
        "predict": ["array"],
    }


def _structure(data):
    if isinstance(data, tuple):
        return "(" + ", ".join(_structure(d) for d in data) + ")"
    return "array" if hasattr(data, "shape") else type(data).__name__


def test_gradient_of_any_expression_of_weights():
    model = _mlp()
    x, _ = _data(n=8)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def expr(tv):
        out, _ = model.stateless_call(tv, non_trainable, x)
        return shoal.ops.sum(shoal.ops.log(out[:, 0])) + 0.1 * shoal.ops.sum(tv[0] ** 2)

    grads = jax.grad(expr)(trainable)
    eps = 1e-3
    bump = [jnp.zeros_like(t) for t in trainable]
    bump[0] = bump[0].at[0, 0].set(eps)
    plus = [t + b for t, b in zip(trainable, bump, strict=True)]
    minus = [t - b for t, b in zip(trainable, bump, strict=True)]
    numeric = (expr(plus) - expr(minus)) / (2 * eps)
    np.testing.assert_allclose(grads[0][0, 0], numeric, rtol=1e-2, atol=1e-3)


def test_train_and_test_on_batch():
    x, y = _data(n=16)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    first = model.train_on_batch(x, y)
    assert len(first) == 2
    logs = model.test_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", "accuracy"}
    assert model.predict_on_batch(x).shape == (16, 3)


# -- errors before any compilation -----------------------------------------------------


def _compiled():
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


BAD_FIT = [
    (
        "x/y counts differ",
        dict(x=np.zeros((10, 4), "float32"), y=np.zeros(9)),
        ValueError,
        r"cardinality.*'x' sizes: \[10\].*'y' sizes: \[9\]",
    ),
    (
        "feature mismatch",
        dict(x=np.zeros((10, 5), "float32"), y=np.zeros(10)),
        ValueError,
        r"`x` does not match input 'features'.*expected shape \(None, 4\).*\(10, 5\)",
    ),
    (
        "labels out of range",
        dict(x=np.zeros((10, 4), "float32"), y=np.full(10, 7)),
        ValueError,
        r"labels outside \[0, 2\].*3 classes.*from 7 to 7",
    ),
    (
        "string data",
        dict(x=np.array([["a"] * 4] * 10), y=np.zeros(10)),
        TypeError,
        r"`x` must hold numbers; got an array of dtype <U1",
    ),
    (
        "empty data",
        dict(x=np.zeros((0, 4), "float32"), y=np.zeros(0)),
        ValueError,
        r"`x` is empty: it has 0 samples",
    ),
    (
        "batch_size zero",
        dict(x=np.zeros((10, 4), "float32"), y=np.zeros(10), batch_size=0),
        ValueError,
        r"`batch_size` must be a positive integer; got 0",
    ),
    (
        "validation_split",
        dict(x=np.zeros((10, 4), "float32"), y=np.zeros(10), validation_split=1.5),
        ValueError,
        r"`validation_split` must be a float in \[0, 1\); got 1.5",
    ),
    (
        "epochs",
        dict(x=np.zeros((10, 4), "float32"), y=np.zeros(10), epochs=-1),
        ValueError,
        r"`epochs` must be a non-negative integer; got -1",
    ),
    (
        "dict key",
        dict(x={"nope": np.zeros((10, 4), "float32")}, y=np.zeros(10)),
        ValueError,
        r"input dict keys must match.*\['features'\].*unknown: \['nope'\]",
    ),
]


@pytest.mark.parametrize("case,kwargs,exc,message", BAD_FIT, ids=[c[0] for c in BAD_FIT])
def test_fit_bad_inputs(case, kwargs, exc, message):
    model = _compiled()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(exc, match=message):
        model.fit(verbose=0, **kwargs)
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing trained is lost


BAD_COMPILE = [
    (dict(optimizer="adamm", loss="mse"), r"adamm"),
    (dict(optimizer="adam", loss="mean_sqared_error"), r"mean_sqared_error"),
    (dict(optimizer="adam", loss="mse", metrics=["acuracy"]), r"acuracy"),
    (dict(optimizer="adam", loss={"nope": "mse"}), r"`loss` has keys \['nope'\].*outputs"),
    (
        dict(optimizer="adam", loss="mse", steps_per_execution=0),
        r"`steps_per_execution` must be a positive integer or 'auto'; got 0",
    ),
]


@pytest.mark.parametrize("kwargs,message", BAD_COMPILE)
def test_compile_bad_names(kwargs, message):
    model = _mlp()
    with pytest.raises(ValueError, match=message):
        model.compile(**kwargs)


def test_fit_before_compile_is_clear():
    with pytest.raises(RuntimeError, match=r"must call compile\(\)"):
        _mlp().fit(*_data(), verbose=0)


def test_shape_built_metrics_with_fused_steps():
    x, y = _data(n=32)
    model = _mlp()
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=[shoal.metrics.F1Score(average="macro"), "accuracy"],
        steps_per_execution=2,
    )
    yy = np.eye(3, dtype="float32")[y]
    model.compile(
        optimizer="adam",
        loss="categorical_crossentropy",
        metrics=[shoal.metrics.F1Score(average="macro"), "accuracy"],
        steps_per_execution=2,
    )
    h = model.fit(x, yy, batch_size=8, epochs=1, verbose=0)
    assert set(h.history) == {"loss", "f1_score", "accuracy"}


def test_partial_last_batch_compiles_once_and_functions_are_reused():
    traces = {"train": 0, "test": 0}

    class Counting(models.Sequential):
        def train_step(self, state, data):
            traces["train"] += 1
            return super().train_step(state, data)

        def test_step(self, state, data):
            traces["test"] += 1
            return super().test_step(state, data)

    x, y = _data(n=70)
    model = Counting([shoal.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=3, verbose=0)
    assert traces["train"] == 2  # one full-batch shape, one partial-batch shape
    model.evaluate(x, y, batch_size=16, verbose=0)
    model.evaluate(x, y, batch_size=16, verbose=0)
    assert traces["test"] == 2


def test_sample_weight_and_class_weight_match_keras():
    import keras

    x, y = _data(n=32, seed=2)
    sw = np.linspace(0.1, 2.0, 32).astype("float32")
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    for kwargs in ({"sample_weight": sw}, {"class_weight": cw}):
        model = _mlp(seed=1)
        model.compile(
            optimizer="sgd", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"]
        )
        kmodel = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        kmodel.set_weights(model.get_weights())
        kmodel.compile(
            optimizer="sgd", loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"]
        )
        h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **kwargs)
        kh = kmodel.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, **kwargs)
        for key in kh.history:
            np.testing.assert_allclose(h.history[key], kh.history[key], rtol=1e-5, err_msg=key)
        for a, b in zip(model.get_weights(), kmodel.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_validation_freq_initial_epoch_and_validation_data():
    x, y = _data(n=40)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    h = model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        initial_epoch=1,
        verbose=0,
        validation_data=(x[:16], y[:16]),
        validation_freq=2,
        validation_batch_size=4,
    )
    assert h.epoch == [1, 2, 3]
    assert len(h.history["loss"]) == 3 and len(h.history["val_loss"]) == 2  # epochs 2 and 4


def test_progress_bar_output(capsys):
    x, y = _data(n=32)
    model = _mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=2)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("4/4 - ") and "step - accuracy: " in lines[1]
    assert " - loss: " in lines[1]
    model.fit(x, y, batch_size=8, epochs=1, verbose=1)
    out = capsys.readouterr().out
    assert "4/4 \u2501\u2501\u2501" in out and "loss:" in out
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert capsys.readouterr().out == ""


def test_masked_timesteps_are_ignored_by_losses_and_metrics_as_in_keras():
    import keras

    rng = np.random.default_rng(0)
    x = rng.integers(1, 10, (16, 6))
    x[:, 4:] = 0  # padding
    x[:4, 2:] = 0
    y = rng.integers(0, 3, (16, 6))

    def build(lib):
        inputs = lib.Input((6,), dtype="int32")
        h = lib.layers.Embedding(10, 4, mask_zero=True)(inputs)
        outputs = lib.layers.Dense(3, activation="softmax")(h)
        model = lib.Model(inputs, outputs)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    model, kmodel = build(shoal), build(keras)
    kmodel.set_weights(model.get_weights())
    logs = model.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    klogs = kmodel.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    for key in klogs:
        np.testing.assert_allclose(logs[key], klogs[key], rtol=1e-5, err_msg=key)
    h = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kh = kmodel.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h.history["loss"], kh.history["loss"], rtol=1e-5)


def test_repeated_calls_do_not_trace_the_model_again():
    """Once the model, its metrics and its optimizer are built, fit / evaluate / predict /
    train_on_batch reuse their compiled functions: the model is not traced again."""
    traces = []

    class Counting(layers.Layer):
        def call(self, x):
            traces.append(1)
            return x

    shoal.utils.set_random_seed(0)
    inputs = shoal.Input((4,))
    outputs = layers.Dense(3, activation="softmax")(Counting()(inputs))
    model = models.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x, y = _data(n=32)
    calls = [
        lambda: model.fit(x, y, batch_size=8, epochs=1, verbose=0),
        lambda: model.evaluate(x, y, batch_size=8, verbose=0),
        lambda: model.predict(x, batch_size=8, verbose=0),
        lambda: model.train_on_batch(x[:8], y[:8]),
    ]
    for call in calls:
        call()
    before = len(traces)
    for call in calls:
        call()
    assert len(traces) == before
