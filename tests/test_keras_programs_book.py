"""Small programs in the style of "Deep Learning with Python" (3rd edition, Keras 3) and the
TensorFlow/Keras beginner tutorials, each run under shoal and Keras 3.15 (JAX backend) and
compared: history per epoch, weights, predictions, metric names, summaries, exceptions.

Weights are set from seeded NumPy (the two libraries draw different random initial weights)
and `fit(shuffle=False)` keeps the batch order the same in both.
"""

from __future__ import annotations

import os
import re

import jax
import numpy as np
import pytest

import shoal

os.environ.setdefault("KERAS_BACKEND", "jax")
keras = pytest.importorskip("keras")


def _seed_weights(model, seed=0):
    rs = np.random.RandomState(seed)
    model.set_weights([rs.uniform(-0.3, 0.3, w.shape).astype(w.dtype) for w in model.get_weights()])


def _assert_same(ours, theirs, path="result"):
    if isinstance(ours, dict):
        assert sorted(ours) == sorted(theirs), f"{path}: keys {sorted(ours)} vs {sorted(theirs)}"
        for key in ours:
            _assert_same(ours[key], theirs[key], f"{path}[{key!r}]")
    elif isinstance(ours, (list, tuple)):
        assert len(ours) == len(theirs), f"{path}: {len(ours)} vs {len(theirs)} entries"
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _assert_same(a, b, f"{path}[{i}]")
    elif isinstance(ours, str):
        assert ours == theirs, f"{path}: {ours!r} vs {theirs!r}"
    else:
        np.testing.assert_allclose(
            np.asarray(ours), np.asarray(theirs), rtol=1e-4, atol=1e-5, err_msg=path
        )


def _summary_lines(model):
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    text = re.sub(r"_\d+\b", "", "\n".join(lines))  # name counters differ per process
    return [re.sub(r"\s+", " ", line).strip() for line in text.splitlines() if line.strip()]


def test_fit_before_compile_raises_the_value_error_keras_raises():
    """A tutorial's `except ValueError` around a forgotten compile() must catch ours too."""
    for lib in (keras, shoal):
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        with pytest.raises(ValueError, match="compile"):
            model.fit(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
        with pytest.raises(ValueError, match="compile"):
            model.evaluate(np.ones((4, 3)), np.ones((4, 1)), verbose=0)
    with pytest.raises(RuntimeError):  # shoal's own convention still holds
        shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(1)]).train_on_batch(
            np.ones((4, 3)), np.ones((4, 1))
        )


def _imdb_style(lib):
    """Multi-hot reviews, Dense(16)x2, rmsprop, validation_split, History's plotting keys."""
    rs = np.random.RandomState(0)
    x = np.zeros((32, 50), "float32")
    for i, row in enumerate(rs.randint(0, 50, (32, 10))):
        x[i, row] = 1.0
    y = (x[:, :25].sum(1) > x[:, 25:].sum(1)).astype("float32")
    model = lib.Sequential(
        [
            lib.layers.Dense(16, activation="relu"),
            lib.layers.Dense(16, activation="relu"),
            lib.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    model.build((None, 50))
    _seed_weights(model)
    history = model.fit(
        x, y, epochs=2, batch_size=8, validation_split=0.25, shuffle=False, verbose=0
    )
    return {
        "history": history.history,
        "epoch": history.epoch,
        "evaluate": model.evaluate(x, y, verbose=0),
        "predict": model.predict(x[:4], verbose=0),
        "summary": _summary_lines(model),
    }


def test_imdb_style_binary_classifier_matches_keras():
    ours = _imdb_style(shoal)
    assert sorted(ours["history"]) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    _assert_same(ours, _imdb_style(keras))


def _reuters_style(lib, sparse):
    rs = np.random.RandomState(1)
    x = rs.rand(30, 12).astype("float32")
    labels = rs.randint(0, 4, 30)
    model = lib.Sequential(
        [
            lib.Input((12,)),
            lib.layers.Dense(8, activation="relu"),
            lib.layers.Dense(4, activation="softmax"),
        ]
    )
    _seed_weights(model)
    if sparse:
        y = labels
        model.compile("rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy"])
    else:
        y = lib.utils.to_categorical(labels)
        top2 = lib.metrics.TopKCategoricalAccuracy(k=2)
        model.compile("rmsprop", "categorical_crossentropy", metrics=["accuracy", top2])
    history = model.fit(
        x, y, epochs=2, batch_size=10, validation_data=(x[:10], y[:10]), shuffle=False, verbose=0
    )
    return {
        "history": history.history,
        "evaluate": model.evaluate(x, y, return_dict=True, verbose=0),
        "weights": model.get_weights(),
    }


@pytest.mark.parametrize("sparse", [False, True])
def test_reuters_style_multiclass_matches_keras(sparse):
    _assert_same(_reuters_style(shoal, sparse), _reuters_style(keras, sparse))


def _ticket_model(lib):
    """The book's multi-input / multi-output functional model, loss_weights, per-output metrics."""
    rs = np.random.RandomState(8)
    title, body = rs.rand(16, 5).astype("float32"), rs.rand(16, 7).astype("float32")
    priority, department = rs.rand(16, 1).astype("float32"), rs.randint(0, 4, 16)
    title_in = lib.Input((5,), name="title")
    body_in = lib.Input((7,), name="text_body")
    features = lib.layers.Concatenate()([title_in, body_in])
    features = lib.layers.Dense(8, activation="relu")(features)
    priority_out = lib.layers.Dense(1, activation="sigmoid", name="priority")(features)
    department_out = lib.layers.Dense(4, activation="softmax", name="department")(features)
    model = lib.Model([title_in, body_in], [priority_out, department_out])
    _seed_weights(model)
    model.compile(
        optimizer="rmsprop",
        loss=["mean_squared_error", "sparse_categorical_crossentropy"],
        loss_weights=[1.0, 0.5],
        metrics=[["mean_absolute_error"], ["accuracy"]],
    )
    history = model.fit(
        [title, body], [priority, department], epochs=2, batch_size=8, shuffle=False, verbose=0
    )
    inputs = {"title": title, "text_body": body}
    targets = {"priority": priority, "department": department}
    return {
        "history": history.history,
        "evaluate": model.evaluate(inputs, targets, return_dict=True, verbose=0),
        "predict": model.predict(inputs, verbose=0),
        "summary": _summary_lines(model),
    }


def test_multi_input_multi_output_model_matches_keras():
    _assert_same(_ticket_model(shoal), _ticket_model(keras))


def _custom_metric_program(lib):
    ops = lib.ops

    class RootMeanSquaredError(lib.metrics.Metric):
        def __init__(self, name="rmse", **kwargs):
            super().__init__(name=name, **kwargs)
            self.mse_sum = self.add_variable(shape=(), initializer="zeros", name="mse_sum")
            self.total_samples = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = ops.one_hot(y_true, num_classes=ops.shape(y_pred)[1])
            self.mse_sum.assign_add(ops.sum(ops.square(y_true - y_pred)))
            self.total_samples.assign_add(ops.shape(y_pred)[0])

        def result(self):
            return ops.sqrt(self.mse_sum / self.total_samples)

        def reset_state(self):
            self.mse_sum.assign(0.0)
            self.total_samples.assign(0.0)

    rs = np.random.RandomState(30)
    x, y = rs.rand(20, 6).astype("float32"), rs.randint(0, 3, 20)
    model = lib.Sequential([lib.Input((6,)), lib.layers.Dense(3, activation="softmax")])
    _seed_weights(model)
    model.compile(
        "rmsprop", "sparse_categorical_crossentropy", metrics=["accuracy", RootMeanSquaredError()]
    )
    history = model.fit(
        x, y, epochs=2, batch_size=5, validation_data=(x[:8], y[:8]), shuffle=False, verbose=0
    )
    return {"history": history.history, "metrics": [m.name for m in model.metrics]}


def test_custom_metric_subclass_matches_keras():
    _assert_same(_custom_metric_program(shoal), _custom_metric_program(keras))


def _callbacks_program(lib, directory):
    rs = np.random.RandomState(9)
    x = rs.rand(32, 4).astype("float32")
    y = (x.sum(1) > 2).astype("float32")
    model = lib.Sequential(
        [
            lib.Input((4,)),
            lib.layers.Dense(4, activation="relu"),
            lib.layers.Dense(1, activation="sigmoid"),
        ]
    )
    _seed_weights(model)
    model.compile(lib.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    seen = []
    best_path = os.path.join(directory, "best.keras")
    callbacks = [
        lib.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True),
        lib.callbacks.ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True),
        lib.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10.0),
        lib.callbacks.CSVLogger(os.path.join(directory, "log.csv")),
        lib.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: seen.append([epoch, sorted(logs)])
        ),
    ]
    history = model.fit(
        x, y, epochs=4, batch_size=8, validation_split=0.25, callbacks=callbacks,
        shuffle=False, verbose=0,
    )  # fmt: skip
    with open(os.path.join(directory, "log.csv")) as f:
        csv_lines = f.read().splitlines()
    return {
        "history": history.history,
        "seen": seen,
        "weights": model.get_weights(),
        "best": lib.models.load_model(best_path).evaluate(x, y, verbose=0),
        "csv": [csv_lines[0], str(len(csv_lines))],
        "lr": float(np.asarray(model.optimizer.learning_rate)),
    }


def test_book_callbacks_match_keras(tmp_path):
    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours = _callbacks_program(shoal, str(tmp_path / "ours"))
    assert ours["history"]["learning_rate"][-1] < ours["history"]["learning_rate"][0]
    _assert_same(ours, _callbacks_program(keras, str(tmp_path / "theirs")))


def _augmented_convnet_summary(lib):
    layers = lib.layers
    augmentation = lib.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.2)]
    )
    inputs = lib.Input(shape=(16, 16, 3))
    x = augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(4, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(0.5)(x)
    model = lib.Model(inputs, layers.Dense(1, activation="sigmoid")(x))
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return _summary_lines(model)


def test_convnet_with_augmentation_summary_matches_keras():
    _assert_same(_augmented_convnet_summary(shoal), _augmented_convnet_summary(keras))


def _jax_training_loop(lib):
    """The book's JAX chapter: stateless_call + jax.value_and_grad + stateless_apply."""
    rs = np.random.RandomState(5)
    x, y = rs.rand(16, 4).astype("float32"), rs.randint(0, 3, 16)
    model = lib.Sequential(
        [
            lib.Input((4,)),
            lib.layers.Dense(8, activation="relu"),
            lib.layers.BatchNormalization(),
            lib.layers.Dense(3, activation="softmax"),
        ]
    )
    _seed_weights(model)
    loss_fn = lib.losses.SparseCategoricalCrossentropy()
    optimizer = lib.optimizers.Adam(1e-2)
    optimizer.build(model.trainable_variables)
    metric = lib.metrics.SparseCategoricalAccuracy()

    def compute_loss_and_updates(trainable, non_trainable, x, y):
        outputs, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
        return loss_fn(y, outputs), (non_trainable, outputs)

    grad_fn = jax.value_and_grad(compute_loss_and_updates, has_aux=True)

    @jax.jit
    def train_step(state, data):
        trainable, non_trainable, optimizer_vars, metric_vars = state
        (loss, (non_trainable, outputs)), grads = grad_fn(trainable, non_trainable, *data)
        trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
        metric_vars = metric.stateless_update_state(metric_vars, data[1], outputs)
        return loss, (trainable, non_trainable, optimizer_vars, metric_vars)

    state = tuple(
        [v.value for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            optimizer.variables,
            metric.variables,
        )
    )
    losses = []
    for step in range(2):
        loss, state = train_step(state, (x[step * 8 : step * 8 + 8], y[step * 8 : step * 8 + 8]))
        losses.append(float(loss))
    return {
        "losses": losses,
        "accuracy": float(metric.stateless_result(state[3])),
        "trainable": state[0],
        "non_trainable": state[1],
    }


def test_jax_custom_training_loop_matches_keras():
    _assert_same(_jax_training_loop(shoal), _jax_training_loop(keras))


def _vae_program(lib):
    """Subclassed VAE: trackers listed by `metrics`, updated in compute_loss."""
    ops, layers = lib.ops, lib.layers
    encoder_in = lib.Input((6,))
    hidden = layers.Dense(4, activation="relu")(encoder_in)
    z_mean = layers.Dense(2, name="z_mean")(hidden)
    z_log_var = layers.Dense(2, name="z_log_var")(hidden)
    encoder = lib.Model(encoder_in, [z_mean, z_log_var], name="encoder")
    decoder_in = lib.Input((2,))
    decoded = layers.Dense(6, activation="sigmoid")(decoder_in)
    decoder = lib.Model(decoder_in, decoded, name="decoder")

    class VAE(lib.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder, self.decoder = encoder, decoder
            self.total_loss_tracker = lib.metrics.Mean(name="total_loss")
            self.kl_loss_tracker = lib.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [self.total_loss_tracker, self.kl_loss_tracker]

        def call(self, x):
            return self.decoder(self.encoder(x)[0])

        def compute_loss(self, x, y, y_pred, sample_weight=None, training=True):
            z_mean, z_log_var = self.encoder(x)
            reconstruction = ops.mean(ops.sum(ops.square(x - y_pred), axis=1))
            kl = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            total = reconstruction + ops.mean(kl)
            self.total_loss_tracker.update_state(total)
            self.kl_loss_tracker.update_state(kl)
            return total

    vae = VAE(encoder, decoder)
    _seed_weights(encoder, 0)
    _seed_weights(decoder, 1)
    vae.compile(optimizer=lib.optimizers.Adam(0.01))
    x = np.random.RandomState(7).rand(16, 6).astype("float32")
    history = vae.fit(x, epochs=2, batch_size=8, shuffle=False, verbose=0)
    return {"history": history.history, "encoded": encoder.predict(x[:2], verbose=0)}


def test_vae_with_trackers_in_compute_loss_matches_keras():
    ours = _vae_program(shoal)
    assert sorted(ours["history"]) == ["kl_loss", "total_loss"]
    _assert_same(ours, _vae_program(keras))


def _fine_tuning_program(lib):
    layers = lib.layers
    rs = np.random.RandomState(10)
    x, y = rs.rand(8, 6, 6, 3).astype("float32"), rs.randint(0, 2, 8).astype("float32")
    base = lib.Sequential(
        [
            lib.Input((6, 6, 3)),
            layers.Conv2D(4, 3, activation="relu"),
            layers.BatchNormalization(),
            layers.Conv2D(4, 3, activation="relu"),
        ],
        name="base",
    )
    base.trainable = False
    inputs = lib.Input((6, 6, 3))
    features = layers.GlobalAveragePooling2D()(base(inputs, training=False))
    model = lib.Model(inputs, layers.Dense(1, activation="sigmoid")(features))
    _seed_weights(model)
    model.compile(lib.optimizers.RMSprop(1e-2), "binary_crossentropy", metrics=["accuracy"])
    result = {"frozen_counts": [len(model.trainable_weights), len(model.non_trainable_weights)]}
    result["history"] = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    base.trainable = True
    for layer in base.layers[:-1]:
        layer.trainable = False
    model.compile(lib.optimizers.RMSprop(1e-3), "binary_crossentropy", metrics=["accuracy"])
    result["counts"] = [len(model.trainable_weights), len(model.non_trainable_weights)]
    result["summary"] = _summary_lines(model)
    result["tuned"] = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0).history
    result["weights"] = model.get_weights()
    return result


def test_fine_tuning_freeze_then_recompile_matches_keras():
    _assert_same(_fine_tuning_program(shoal), _fine_tuning_program(keras))


def _kfold_program(lib):
    """K-fold validation: the model is rebuilt per fold after clear_session()."""
    rs = np.random.RandomState(2)
    x = rs.rand(24, 4).astype("float32")
    y = (x @ np.array([1.0, 2.0, -1.0, 0.5]) + 0.1).astype("float32")
    x = (x - x.mean(0)) / x.std(0)
    scores, names = [], []
    for fold in range(3):
        lib.backend.clear_session()
        val = slice(fold * 8, fold * 8 + 8)
        train_x = np.concatenate([x[: fold * 8], x[fold * 8 + 8 :]])
        train_y = np.concatenate([y[: fold * 8], y[fold * 8 + 8 :]])
        model = lib.Sequential([lib.layers.Dense(8, activation="relu"), lib.layers.Dense(1)])
        model.compile(optimizer="rmsprop", loss="mse", metrics=["mae"])
        model.build((None, 4))
        _seed_weights(model, fold)
        model.fit(train_x, train_y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        scores.append(model.evaluate(x[val], y[val], verbose=0))
        names.append([layer.name for layer in model.layers])
    return {"scores": scores, "names": names}


def test_kfold_with_clear_session_matches_keras():
    ours = _kfold_program(shoal)
    assert ours["names"][2] == ["dense", "dense_1"]  # counters restart per fold
    _assert_same(ours, _kfold_program(keras))


def _callback_subclass_program(lib):
    events = []

    class LossHistory(lib.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.per_batch_losses = []

        def on_train_batch_end(self, batch, logs=None):
            self.per_batch_losses.append(logs.get("loss"))
            events.append(["batch", str(batch), *sorted(logs)])

        def on_epoch_end(self, epoch, logs=None):
            events.append(["epoch", str(epoch), *sorted(logs)])
            if epoch == 1:
                self.model.stop_training = True

        def on_test_end(self, logs=None):
            events.append(["test", *sorted(logs)])

    rs = np.random.RandomState(24)
    x, y = rs.rand(10, 3).astype("float32"), rs.rand(10, 1).astype("float32")
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
    _seed_weights(model)
    model.compile("sgd", "mse", metrics=["mae"])
    history_cb = LossHistory()
    history = model.fit(
        x, y, epochs=5, batch_size=4, validation_data=(x, y), callbacks=[history_cb],
        shuffle=False, verbose=0,
    )  # fmt: skip
    return {
        "events": events,
        "batch_losses": history_cb.per_batch_losses,
        "epoch": history.epoch,
        "params": [str(history.params[key]) for key in sorted(history.params)],
    }


def test_callback_subclass_sees_the_logs_keras_gives():
    _assert_same(_callback_subclass_program(shoal), _callback_subclass_program(keras))
