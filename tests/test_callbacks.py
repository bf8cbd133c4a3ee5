"""shoal.callbacks: each callback's effect on a tiny model trained by fit().

One compiled model is shared by the whole module (JAX compiles are slow on CI); `fresh()`
puts its weights and optimizer state back to the same starting point before each use.
"""

import csv
import os
import struct
import zipfile

import numpy as np
import pytest

import shoal
from shoal import callbacks as C
from shoal import layers

N, BATCH = 64, 16  # four batches an epoch


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32") + 0.1).astype("float32")
    return x, y


@pytest.fixture(scope="module")
def fresh():
    shoal.utils.set_random_seed(0)
    model = shoal.Sequential([layers.Input((4,)), layers.Dense(1)])
    model.compile(
        optimizer=shoal.optimizers.SGD(learning_rate=0.01, momentum=0.9),
        loss="mse",
        metrics=["mae"],
    )
    model.optimizer.build(model.trainable_variables)
    weights = model.get_weights()
    optimizer_values = [np.array(v.numpy()) for v in model.optimizer.variables]

    def reset():
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, optimizer_values, strict=True):
            variable.assign(value)
        model.stop_training = False
        return model

    return reset


class Inject(C.Callback):
    """Puts `values[epoch]` into the epoch logs under `key` (place it before the callback)."""

    def __init__(self, key, values):
        super().__init__()
        self.key, self.values = key, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightsPerEpoch(C.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append([np.array(w) for w in self.model.get_weights()])


def fit(model, data, epochs, callbacks, **kwargs):
    x, y = data
    kwargs.setdefault("batch_size", BATCH)
    return model.fit(x, y, epochs=epochs, callbacks=callbacks, verbose=0, **kwargs)


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


# -- EarlyStopping ------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_and_restores_best(fresh, data):
    model = fresh()
    scores = [5.0, 4.0, 3.0, 3.5, 3.2, 1.0, 0.5, 0.1]
    seen = WeightsPerEpoch()
    stop = C.EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    history = fit(model, data, 8, [Inject("score", scores), seen, stop])
    # Best at epoch 2; epochs 3 and 4 do not improve: stop at the end of epoch 4.
    assert history.epoch == [0, 1, 2, 3, 4]
    assert stop.stopped_epoch == 4 and stop.best_epoch == 2 and stop.best == 3.0
    assert_weights_equal(model.get_weights(), seen.weights[2])


def test_early_stopping_restores_best_even_without_stopping(fresh, data):
    model = fresh()
    seen = WeightsPerEpoch()
    stop = C.EarlyStopping(monitor="score", mode="max", patience=10, restore_best_weights=True)
    history = fit(model, data, 4, [Inject("score", [0.1, 0.9, 0.5, 0.4]), seen, stop])
    assert len(history.epoch) == 4 and stop.stopped_epoch == 0
    assert_weights_equal(model.get_weights(), seen.weights[1])


def test_early_stopping_min_delta_baseline_and_start_from_epoch(fresh, data):
    model = fresh()
    # Improvements smaller than min_delta do not count: stops at epoch 2 (patience 2).
    stop = C.EarlyStopping(monitor="score", mode="min", min_delta=0.5, patience=2)
    history = fit(model, data, 6, [Inject("score", [3.0, 2.8, 2.7, 2.6, 2.5, 2.4]), stop])
    assert history.epoch == [0, 1, 2]
    # Epochs that improve without beating the baseline do not reset the wait (Keras 3): the
    # first epoch without improvement then stops training.
    scores = [3.0, 2.8, 2.9, 2.7, 2.6, 2.5]
    stop = C.EarlyStopping(monitor="score", mode="min", baseline=1.0, patience=3)
    history = fit(fresh(), data, 6, [Inject("score", scores), stop])
    assert history.epoch == [0, 1, 2]
    stop = C.EarlyStopping(monitor="score", mode="min", patience=3)
    history = fit(fresh(), data, 6, [Inject("score", scores), stop])
    assert history.epoch == [0, 1, 2, 3, 4, 5]
    # Warm-up epochs are not monitored.
    stop = C.EarlyStopping(monitor="score", mode="min", patience=0, start_from_epoch=3)
    history = fit(fresh(), data, 6, [Inject("score", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), stop])
    assert history.epoch == [0, 1, 2, 3, 4]


def test_early_stopping_auto_mode_and_missing_monitor(fresh, data):
    model = fresh()
    stop = C.EarlyStopping(monitor="loss", patience=0)
    # A rising loss stops at once in auto mode (loss is minimized).
    history = fit(model, data, 5, [Inject("loss", [1.0, 2.0, 3.0, 4.0, 5.0]), stop])
    assert history.epoch == [0, 1]
    with pytest.warns(UserWarning, match="not available"):
        fit(fresh(), data, 1, [C.EarlyStopping(monitor="val_nothing", mode="min")])
    with pytest.raises(ValueError, match="maximized or minimized"):
        fit(fresh(), data, 1, [C.EarlyStopping(monitor="score"), Inject("score", [1.0])])


# -- ReduceLROnPlateau / LearningRateScheduler ------------------------------------------------


def test_reduce_lr_on_plateau(fresh, data):
    model = fresh()
    reduce = C.ReduceLROnPlateau(
        monitor="score", mode="min", factor=0.5, patience=1, cooldown=2, min_delta=0.0, min_lr=0.002
    )
    history = fit(model, data, 6, [Inject("score", [1.0] * 6), reduce])
    np.testing.assert_allclose(
        history.history["learning_rate"], [0.01, 0.01, 0.005, 0.005, 0.0025, 0.0025], rtol=1e-6
    )
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 0.002, rtol=1e-6)
    with pytest.raises(ValueError, match="factor"):
        C.ReduceLROnPlateau(factor=1.5)


def test_learning_rate_scheduler_sets_lr_that_training_uses(fresh, data):
    model = fresh()
    before = model.get_weights()
    history = fit(model, data, 2, [C.LearningRateScheduler(lambda epoch, lr: lr * 0.5)])
    np.testing.assert_allclose(history.history["learning_rate"], [0.005, 0.0025], rtol=1e-6)
    np.testing.assert_allclose(float(model.optimizer.learning_rate.numpy()), 0.0025, rtol=1e-6)
    assert not np.allclose(model.get_weights()[0], before[0])
    # A zero learning rate from the first epoch on: the compiled step reads it, nothing moves.
    model = fresh()
    fit(model, data, 2, [C.LearningRateScheduler(lambda epoch, lr: 0.0)])
    assert_weights_equal(model.get_weights(), before)
    # The one-argument API, and a bad return value.
    history = fit(fresh(), data, 2, [C.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))])
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.05], rtol=1e-6)
    with pytest.raises(ValueError, match="should be a float"):
        fit(fresh(), data, 1, [C.LearningRateScheduler(lambda epoch, lr: "fast")])


# -- CSVLogger ----------------------------------------------------------------------------


def test_csv_logger(fresh, data, tmp_path):
    model = fresh()
    path = tmp_path / "log.csv"
    x, y = data
    history = fit(model, data, 3, [C.CSVLogger(path)], validation_data=(x[:32], y[:32]))
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["epoch", "loss", "mae", "val_loss", "val_mae"]
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in ("loss", "mae", "val_loss", "val_mae"):
        np.testing.assert_allclose([float(r[key]) for r in rows], history.history[key])
    # append=True adds rows under the same header; without validation the val_ columns are NA.
    fit(fresh(), data, 2, [C.CSVLogger(path, separator=";", append=True)])
    with open(path) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1 + 3 + 2
    assert lines[-1].split(";")[0] == "1" and lines[-1].split(";")[-2:] == ["NA", "NA"]


# -- TerminateOnNaN -----------------------------------------------------------------------


def test_terminate_on_nan(fresh, data):
    x, y = data
    y_nan = y.copy()
    y_nan[20:] = np.nan  # the second batch has a NaN loss
    batches = []
    count = C.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))

    def own_model(steps_per_execution):  # not the shared fixture model: compile changes it
        shoal.utils.set_random_seed(0)
        model = shoal.Sequential([layers.Input((4,)), layers.Dense(1)])
        model.compile("sgd", loss="mse", steps_per_execution=steps_per_execution)
        return model

    model = own_model(1)
    history = model.fit(
        x,
        y_nan,
        batch_size=BATCH,
        epochs=5,
        shuffle=False,
        verbose=0,
        callbacks=[count, C.TerminateOnNaN()],
    )
    assert batches == [0, 1] and history.epoch == [0]
    # Fused executions (steps_per_execution="auto" or K > 1) stop after the execution in
    # which the NaN appeared; every batch of it was reported.
    batches.clear()
    model = own_model(2)
    history = model.fit(
        x, y_nan, batch_size=BATCH, epochs=5, shuffle=False, verbose=0,
        callbacks=[count, C.TerminateOnNaN()],
    )  # fmt: skip
    assert batches == [0, 1] and history.epoch == [0]
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        fresh().fit(
            x,
            y_nan,
            batch_size=BATCH,
            epochs=5,
            shuffle=False,
            verbose=0,
            callbacks=[C.TerminateOnNaN(raise_error=True)],
        )


# -- LambdaCallback -----------------------------------------------------------------------


def test_lambda_callback(fresh, data):
    events = []
    cb = C.LambdaCallback(
        on_train_begin=lambda logs: events.append("begin"),
        on_epoch_begin=lambda epoch, logs: events.append(f"e{epoch}"),
        on_epoch_end=lambda epoch, logs: events.append(f"loss{epoch}" if "loss" in logs else "?"),
        on_train_batch_end=lambda batch, logs: events.append(batch),
        on_train_end=lambda logs: events.append("end"),
        on_test_end=lambda logs: events.append("test"),  # any hook, by keyword
    )
    x, y = data
    fit(fresh(), data, 2, [cb], validation_data=(x[:32], y[:32]))
    assert events == [
        "begin",
        "e0",
        0,
        1,
        2,
        3,
        "test",
        "loss0",
        "e1",
        0,
        1,
        2,
        3,
        "test",
        "loss1",
        "end",
    ]


# -- ModelCheckpoint ----------------------------------------------------------------------


def test_model_checkpoint_best_only_names_and_contents(fresh, data, tmp_path):
    model = fresh()
    seen = WeightsPerEpoch()
    pattern = str(tmp_path / "ckpt-{epoch:02d}-{score:.2f}.weights.h5")
    checkpoint = C.ModelCheckpoint(
        pattern, monitor="score", mode="min", save_best_only=True, save_weights_only=True
    )
    fit(model, data, 4, [Inject("score", [3.0, 2.0, 2.5, 1.0]), seen, checkpoint])
    assert sorted(os.listdir(tmp_path)) == [
        "ckpt-01-3.00.weights.h5",
        "ckpt-02-2.00.weights.h5",
        "ckpt-04-1.00.weights.h5",
    ]
    model.load_weights(str(tmp_path / "ckpt-02-2.00.weights.h5"))
    assert_weights_equal(model.get_weights(), seen.weights[1])
    # initial_value_threshold: nothing is saved until the monitored value beats it.
    out = tmp_path / "threshold"
    checkpoint = C.ModelCheckpoint(
        str(out / "{epoch}.weights.h5"),
        monitor="score",
        mode="min",
        save_best_only=True,
        save_weights_only=True,
        initial_value_threshold=2.2,
    )
    fit(fresh(), data, 4, [Inject("score", [3.0, 2.0, 2.5, 1.0]), checkpoint])
    assert sorted(os.listdir(out)) == ["2.weights.h5", "4.weights.h5"]


def test_model_checkpoint_every_n_batches_and_full_model(fresh, data, tmp_path):
    model = fresh()
    pattern = str(tmp_path / "e{epoch:02d}-b{batch:02d}-{loss:.1f}.weights.h5")
    fit(model, data, 2, [C.ModelCheckpoint(pattern, save_weights_only=True, save_freq=2)])
    names = sorted(n.rsplit("-", 1)[0] for n in os.listdir(tmp_path))
    assert names == ["e01-b02", "e01-b04", "e02-b02", "e02-b04"]
    path = tmp_path / "model.keras"
    model = fresh()
    fit(model, data, 1, [C.ModelCheckpoint(str(path), monitor="loss")])
    expected = model.get_weights()[0]
    with zipfile.ZipFile(path) as archive:
        assert {"config.json", "model.weights.h5"} <= set(archive.namelist())
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(str(path))
    np.testing.assert_array_equal(model.get_weights()[0], expected)
    # A legacy HDF5 model file, as Keras (with its warning).
    legacy = tmp_path / "model.h5"
    with pytest.warns(UserWarning, match="legacy"):
        fit(model, data, 1, [C.ModelCheckpoint(str(legacy), monitor="loss")])
    restored = shoal.saving.load_model(str(legacy))
    np.testing.assert_array_equal(restored.get_weights()[0], model.get_weights()[0])


def test_model_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="`filepath`.*model.txt"):
        C.ModelCheckpoint(str(tmp_path / "model.txt"))
    with pytest.raises(ValueError, match="`filepath`.*weights.h5"):
        C.ModelCheckpoint(str(tmp_path / "model.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match="`save_freq`"):
        C.ModelCheckpoint(str(tmp_path / "model.keras"), save_freq="step")


# -- TensorBoard --------------------------------------------------------------------------


def _read_records(path):
    """TFRecord framing, checking both CRCs."""
    from shoal.callbacks.event_file import masked_crc32c

    out = []
    with open(path, "rb") as f:
        blob = f.read()
    i = 0
    while i < len(blob):
        header = blob[i : i + 8]
        (length,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", blob[i + 8 : i + 12])[0] == masked_crc32c(header)
        payload = blob[i + 12 : i + 12 + length]
        assert struct.unpack("<I", blob[i + 12 + length : i + 16 + length])[0] == masked_crc32c(
            payload
        )
        out.append(payload)
        i += 16 + length
    return out


def _fields(buf):
    """Decode one protobuf message into {field: [values]} (varint, fixed64, bytes, fixed32)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire == 1:
            value, i = struct.unpack("<d", buf[i : i + 8])[0], i + 8
        elif wire == 2:
            n, i = _read_varint(buf, i)
            value, i = buf[i : i + n], i + n
        elif wire == 5:
            value, i = struct.unpack("<f", buf[i : i + 4])[0], i + 4
        else:
            raise AssertionError(f"wire type {wire}")
        out.setdefault(field, []).append(value)
    return out


def _read_varint(buf, i):
    shift = result = 0
    while True:
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, i


def _scalars(logdir):
    """{tag: [(step, value)]} from every event file in logdir, plus the other tags seen."""
    scalars, others = {}, set()
    for name in sorted(os.listdir(logdir)):
        assert name.startswith("events.out.tfevents.")
        records = [_fields(r) for r in _read_records(os.path.join(logdir, name))]
        assert records[0][3] == [b"brain.Event:2"]
        for event in records[1:]:
            step = event.get(2, [0])[0]
            for value in _fields(event[5][0])[1]:
                value = _fields(value)
                tag = value[1][0].decode()
                if 2 in value:
                    scalars.setdefault(tag, []).append((step, value[2][0]))
                else:
                    others.add(tag)
    return scalars, others


def test_tensorboard_event_files(fresh, data, tmp_path):
    model = fresh()
    x, y = data
    tb = C.TensorBoard(log_dir=tmp_path, histogram_freq=1, write_images=True, update_freq=2)
    history = fit(model, data, 3, [tb], validation_data=(x[:32], y[:32]))
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]

    train, train_other = _scalars(tmp_path / "train")
    for key in ("loss", "mae"):
        assert [s for s, _ in train[f"epoch_{key}"]] == [0, 1, 2]
        np.testing.assert_allclose(
            [v for _, v in train[f"epoch_{key}"]], history.history[key], rtol=1e-6
        )
    np.testing.assert_allclose([v for _, v in train["epoch_learning_rate"]], [0.01] * 3, rtol=1e-6)
    assert [s for s, _ in train["batch_loss"]] == [2, 4, 6, 8, 10, 12]
    kernel = model.layers[-1].kernel.path
    assert {f"{kernel}/histogram", f"{kernel}/image", "keras"} <= train_other

    val, _ = _scalars(tmp_path / "validation")
    np.testing.assert_allclose(
        [v for _, v in val["epoch_loss"]], history.history["val_loss"], rtol=1e-6
    )
    assert [s for s, _ in val["evaluation_loss_vs_iterations"]] == [4, 8, 12]

    # TensorBoard's own reader agrees, when the package is installed.
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = accumulator.EventAccumulator(str(tmp_path / "train"))
    ea.Reload()
    assert [e.step for e in ea.Scalars("epoch_loss")] == [0, 1, 2]
    np.testing.assert_allclose(
        [e.value for e in ea.Scalars("epoch_loss")], history.history["loss"], rtol=1e-6
    )
    histogram = ea.Histograms(f"{kernel}/histogram")[-1].histogram_value
    assert histogram.num == 4
    image = ea.Images(f"{kernel}/image")[0]
    assert (image.height, image.width) == (4, 1)  # the (4, 1) kernel squeezes to a column


# -- BackupAndRestore ---------------------------------------------------------------------


class Crash(C.Callback):
    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("simulated crash")


def test_backup_and_restore_resumes_to_the_same_weights(fresh, data, tmp_path):
    x, y = data
    backup = tmp_path / "backup"

    def run(callbacks):
        return fresh().fit(
            x, y, batch_size=BATCH, epochs=6, shuffle=False, verbose=0, callbacks=callbacks
        )

    straight = fresh()
    straight.fit(x, y, batch_size=BATCH, epochs=6, shuffle=False, verbose=0)
    expected = straight.get_weights()
    expected_iterations = int(straight.optimizer.iterations.numpy())

    # Interrupted in the middle of epoch 3 (0-based): the backup holds the end of epoch 2.
    with pytest.raises(KeyboardInterrupt):
        run([C.BackupAndRestore(backup), Crash(epoch=3, batch=1)])
    assert os.listdir(backup) == ["latest.backup.h5"]

    # Resume on a model whose weights and optimizer state are elsewhere.
    model = fresh()
    epochs = []
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=6,
        shuffle=False,
        verbose=0,
        callbacks=[
            C.BackupAndRestore(backup),
            C.LambdaCallback(on_epoch_begin=lambda e, _: epochs.append(e)),
        ],
    )
    assert epochs == [3, 4, 5] and history.epoch == [3, 4, 5]
    # The crashed run's batch callback ran its epochs one step per execution, the straight
    # run fused them: equal up to float rounding.
    for got, want in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    assert int(model.optimizer.iterations.numpy()) == expected_iterations
    assert not backup.exists()  # deleted when training ends normally


def test_backup_and_restore_arguments_and_batch_frequency(fresh, data, tmp_path):
    with pytest.raises(ValueError, match="`backup_dir`"):
        C.BackupAndRestore("")
    with pytest.raises(ValueError, match="`save_freq`"):
        C.BackupAndRestore(tmp_path, save_freq=0)
    backup = tmp_path / "b"
    x, y = data
    with pytest.raises(KeyboardInterrupt):
        fresh().fit(
            x,
            y,
            batch_size=BATCH,
            epochs=3,
            shuffle=False,
            verbose=0,
            callbacks=[
                C.BackupAndRestore(
                    backup, save_freq=3, double_checkpoint=True, delete_checkpoint=False
                ),
                Crash(epoch=1, batch=3),
            ],
        )
    assert sorted(os.listdir(backup)) == ["latest.backup.h5", "latest.backup.h5.bkp"]
    epochs = []
    fresh().fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[
            C.BackupAndRestore(backup, delete_checkpoint=False),
            C.LambdaCallback(on_epoch_begin=lambda e, _: epochs.append(e)),
        ],
    )
    # The last backup (batch 2 of epoch 1) resumes that epoch from its start.
    assert epochs == [1, 2]
    assert backup.exists()


# -- RemoteMonitor ----------------------------------------------------------------------


@pytest.fixture
def event_server():
    """A local HTTP server recording (path, content type, body) of each POST."""
    import http.server
    import threading

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body.decode()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    server.server_close()


def test_remote_monitor_posts_epoch_logs(fresh, data, event_server):
    import json
    import urllib.parse

    root, received = event_server
    history = fit(fresh(), data, 2, [C.RemoteMonitor(root=root)])
    assert [r[0] for r in received] == ["/publish/epoch/end/"] * 2
    form = urllib.parse.parse_qs(received[1][2])
    event = json.loads(form["data"][0])
    assert event["epoch"] == 1 and event["loss"] == pytest.approx(history.history["loss"][1])
    received.clear()
    fit(fresh(), data, 1, [C.RemoteMonitor(root=root, path="/x", send_as_json=True)])
    assert received[0][:2] == ("/x", "application/json")
    assert set(json.loads(received[0][2])) == {"epoch", "loss", "mae"}
    with pytest.warns(UserWarning, match="Could not reach"):
        fit(fresh(), data, 1, [C.RemoteMonitor(root="http://127.0.0.1:9", timeout=2)])


def test_user_batch_callbacks_see_each_step_and_can_stop(fresh, data):
    """With steps_per_execution="auto", a user's batch hook still sees every step (Keras'
    default of one step per execution): stopping at batch 1 stops there, and each batch
    reads its own iteration count. stop_evaluating / stop_predicting end those loops."""
    model = fresh()
    model.compile(optimizer="sgd", loss="mse")  # steps_per_execution="auto"
    seen = []

    class StopAtOne(C.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((batch, int(self.model.optimizer.iterations.numpy())))
            if batch == 1:
                self.model.stop_training = True

    fit(model, data, 3, [StopAtOne()])
    assert seen == [(0, 1), (1, 2)]

    class StopEval(C.Callback):
        def on_test_batch_end(self, batch, logs=None):
            self.model.stop_evaluating = True

        def on_predict_batch_end(self, batch, logs=None):
            self.model.stop_predicting = True

    x, y = data
    batches = []
    model.evaluate(
        x,
        y,
        batch_size=BATCH,
        verbose=0,
        callbacks=[
            StopEval(),
            C.LambdaCallback(on_test_batch_end=lambda b, logs: batches.append(b)),
        ],
    )
    assert batches == [0]
    assert len(model.predict(x, batch_size=BATCH, verbose=0, callbacks=[StopEval()])) == BATCH


def test_a_users_batch_hooks_get_python_floats_in_key_order_as_keras():
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras as reference

    def run(lib):
        seen = []

        class Record(lib.callbacks.Callback):
            def on_train_batch_end(self, batch, logs=None):
                seen.append([(k, type(v).__name__) for k, v in logs.items()])

            def on_test_batch_end(self, batch, logs=None):
                seen.append([(k, type(v).__name__) for k, v in logs.items()])

        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(1)])
        model.compile("sgd", "mse", metrics=["mse", "accuracy"])
        x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
        # LambdaCallback is the library's class, its functions the user's: floats too.
        lam = lib.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: seen.append(
                [("lambda", k, type(v).__name__) for k, v in logs.items()]
            )
        )
        callbacks = [Record(), lam]
        model.fit(x, y, batch_size=4, verbose=0, callbacks=callbacks, validation_data=(x, y))
        return seen

    assert run(shoal) == run(reference)
