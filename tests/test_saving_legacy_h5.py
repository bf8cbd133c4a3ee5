"""Whole models in Keras' legacy HDF5 format: round trips, the layout, and Keras 3.15 interchange."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest
from harness import assert_outputs_close, normal

import shoal
from shoal.saving import load_model, save_model

keras = pytest.importorskip("keras")


def _legacy():
    return pytest.warns(UserWarning, match="HDF5 file.*legacy")


def _save(model, path, **kwargs):
    with _legacy():
        model.save(path, **kwargs)


def _sequential(lib):
    L = lib.layers
    return lib.Sequential(
        [lib.Input((4,)), L.Dense(3, activation="relu"), L.BatchNormalization(), L.Dense(2)]
    )


def _functional(lib):
    """Two inputs, two outputs, a layer shared twice."""
    L = lib.layers
    a = lib.Input((4,), name="a")
    b = lib.Input((3,), name="b")
    shared = L.Dense(2, name="shared")
    joined = L.Concatenate(name="join")([shared(a), shared(L.Dense(4, name="proj")(b))])
    return lib.Model([a, b], [joined, L.Dense(1, name="head")(joined)], name="two_heads")


def _layout(path):
    """What Keras' legacy writer fixes: root attributes, the weight tree, its name lists."""
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = sorted(f.attrs)

        def visit(name, obj):
            if isinstance(obj, h5py.Group):
                out[name] = {k: [str(v) for v in obj.attrs[k]] for k in sorted(obj.attrs)}
            else:
                out[name] = (obj.shape, str(obj.dtype))

        f.visititems(visit)
    return out


def _model_config(path):
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["model_config"])


# -- round trips in shoal -----------------------------------------------------------------


def test_sequential_round_trip_restores_weights_compile_config_and_optimizer(tmp_path):
    model = _sequential(shoal)
    model.compile(
        optimizer=shoal.optimizers.Adam(0.01),
        loss="mean_squared_error",
        metrics=["mae", shoal.metrics.RootMeanSquaredError()],
    )
    model.fit(normal(4, 4), normal(4, 2, seed=1), epochs=1, verbose=0)
    x = normal(3, 4, seed=2)
    path = tmp_path / "m.h5"
    _save(model, path)
    restored = load_model(path)
    assert_outputs_close(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(restored.optimizer, shoal.optimizers.Adam)
    assert float(restored.optimizer.learning_rate) == pytest.approx(0.01)
    assert restored.loss == "mean_squared_error"
    metrics = restored.get_compile_config()["metrics"]
    assert metrics[0] == "mae" and metrics[1]["class_name"] == "RootMeanSquaredError"
    # The optimizer's state (step count, moments) comes back too.
    assert int(restored.optimizer.iterations.numpy()) == 1
    assert_outputs_close(
        [v.numpy() for v in restored.optimizer.variables],
        [v.numpy() for v in model.optimizer.variables],
    )


def test_functional_round_trip_multi_io_shared_layer(tmp_path):
    model = _functional(shoal)
    model.compile(optimizer="sgd", loss=["mse", "mae"], loss_weights=[1.0, 0.5])
    path = tmp_path / "m.hdf5"
    with _legacy():
        save_model(model, path)
    restored = shoal.models.load_model(path)
    x = [normal(2, 4), normal(2, 3, seed=1)]
    assert_outputs_close(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert restored.name == "two_heads"
    assert restored.get_layer("shared") is not None
    assert len(restored.get_layer("shared")._inbound_nodes) == 2
    assert restored.loss == ["mse", "mae"]
    assert restored.get_compile_config()["loss_weights"] == [1.0, 0.5]
    assert type(restored.optimizer).__name__ == "SGD"


def test_compile_false_and_uncompiled_files(tmp_path):
    model = _sequential(shoal)
    path = tmp_path / "m.h5"
    _save(model, path)
    with h5py.File(path, "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f
    with pytest.warns(UserWarning, match="not.*compiled"):
        restored = load_model(path)
    assert not restored.compiled
    model.compile(optimizer="adam", loss="mse")
    _save(model, path)
    assert not load_model(path, compile=False).compiled
    _save(model, path, include_optimizer=False)
    with h5py.File(path, "r") as f:
        assert "training_config" not in f.attrs and "optimizer_weights" not in f


@shoal.saving.register_keras_serializable(package="h5test")
class Scaled(shoal.Model):
    def __init__(self, units=2, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = shoal.layers.Dense(units)

    def call(self, x):
        return 2.0 * self.dense(x)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_subclassed_model_round_trips_in_shoal(tmp_path):
    model = Scaled(3, name="scaled")
    x = normal(2, 4)
    expected = model(x)
    path = tmp_path / "m.h5"
    _save(model, path)
    config = _model_config(path)
    assert config["class_name"] == "Scaled" and config["config"]["units"] == 3
    restored = load_model(path, compile=False)
    assert isinstance(restored, Scaled)
    assert_outputs_close(restored(x), expected)


def test_subclassed_model_written_by_keras_is_refused_clearly(tmp_path):
    # Keras 3 itself cannot reload it (its legacy file has no build information).
    class KScaled(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = KScaled()
    model(normal(1, 4))
    path = tmp_path / "k.h5"
    model.save(path)
    with pytest.raises(ValueError, match="KScaled"):
        load_model(path)  # not registered

    class KScaledShoal(shoal.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="not built.*'.keras'"):
        load_model(path, custom_objects={"KScaled": KScaledShoal})


class Offset(shoal.layers.Layer):
    def __init__(self, offset=1.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="b")

    def call(self, x):
        return x + self.offset * self.bias

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


def test_custom_objects(tmp_path):
    model = shoal.Sequential([shoal.Input((3,)), Offset(2.0, name="off"), shoal.layers.Dense(2)])
    model.get_layer("off").bias.assign(np.array([1.0, 2.0, 3.0], "float32"))
    path = tmp_path / "m.h5"
    _save(model, path)
    entry = _model_config(path)["config"]["layers"][1]
    assert sorted(entry) == ["class_name", "config"]  # the legacy form: no "module"
    assert entry["class_name"] == "Offset" and entry["config"]["offset"] == 2.0
    with pytest.raises(ValueError, match="Offset.*custom_objects"):
        load_model(path, compile=False)
    restored = load_model(path, custom_objects={"Offset": Offset}, compile=False)
    x = normal(2, 3)
    assert_outputs_close(restored(x), model(x))


# -- the layout and Keras 3.15 interchange ------------------------------------------------------


def test_layout_matches_keras(tmp_path):
    ours, theirs = _functional(shoal), _functional(keras)
    for lib, m in ((shoal, ours), (keras, theirs)):
        m.compile(optimizer=lib.optimizers.Adam(name="adam"), loss=["mse", "mae"])
    _save(ours, tmp_path / "ours.h5")
    theirs.save(tmp_path / "theirs.h5")
    assert _layout(tmp_path / "ours.h5") == _layout(tmp_path / "theirs.h5")
    with h5py.File(tmp_path / "ours.h5", "r") as f, h5py.File(tmp_path / "theirs.h5", "r") as g:
        assert (
            json.loads(f.attrs["training_config"]).keys()
            == json.loads(g.attrs["training_config"]).keys()
        )
        assert f.attrs["keras_version"] == g.attrs["keras_version"]
    ours_layers = _model_config(tmp_path / "ours.h5")["config"]["layers"]
    theirs_layers = _model_config(tmp_path / "theirs.h5")["config"]["layers"]
    assert [sorted(e) for e in ours_layers] == [sorted(e) for e in theirs_layers]
    assert [e["class_name"] for e in ours_layers] == [e["class_name"] for e in theirs_layers]


def test_keras_file_loads_in_shoal(tmp_path):
    kmodel = _functional(keras)
    kmodel.compile(optimizer=keras.optimizers.RMSprop(0.005), loss=["mse", "mae"])
    path = tmp_path / "k.h5"
    kmodel.save(path)
    x = [normal(2, 4), normal(2, 3, seed=1)]
    restored = load_model(path)
    assert_outputs_close(restored.predict(x, verbose=0), kmodel.predict(x, verbose=0))
    assert isinstance(restored.optimizer, shoal.optimizers.RMSprop)
    assert float(restored.optimizer.learning_rate) == pytest.approx(0.005)
    assert restored.loss == ["mse", "mae"]


def test_shoal_file_loads_in_keras(tmp_path):
    model = _sequential(shoal)
    model.compile(optimizer=shoal.optimizers.Adam(0.02), loss="mean_squared_error")
    model.get_layer(index=1).moving_mean.assign(np.array([0.1, -0.2, 0.3], "float32"))
    path = tmp_path / "s.h5"
    _save(model, path)
    x = normal(3, 4)
    kmodel = keras.models.load_model(path)
    assert_outputs_close(kmodel.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(kmodel.optimizer, keras.optimizers.Adam)
    assert float(kmodel.optimizer.learning_rate) == pytest.approx(0.02)

    fmodel = _functional(shoal)
    _save(fmodel, tmp_path / "f.h5")
    xs = [normal(2, 4), normal(2, 3, seed=1)]
    kf = keras.models.load_model(tmp_path / "f.h5", compile=False)
    assert_outputs_close(kf.predict(xs, verbose=0), fmodel.predict(xs, verbose=0))


def test_tf_keras_2_style_file(tmp_path):
    """The tf.keras 2.x spellings: batch_input_shape, list inbound nodes, ':0' weight names."""
    kernel, bias = normal(4, 2), normal(2, seed=1)
    dense = {
        "name": "dense",
        "trainable": True,
        "dtype": "float32",
        "units": 2,
        "activation": "relu",
        "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }
    config = {
        "class_name": "Functional",
        "config": {
            "name": "model",
            "layers": [
                {
                    "class_name": "InputLayer",
                    "config": {
                        "batch_input_shape": [None, 4],
                        "dtype": "float32",
                        "sparse": False,
                        "ragged": False,
                        "name": "input_1",
                    },
                    "name": "input_1",
                    "inbound_nodes": [],
                },
                {
                    "class_name": "Dense",
                    "config": dense,
                    "name": "dense",
                    "inbound_nodes": [[["input_1", 0, 0, {}]]],
                },
            ],
            "input_layers": [["input_1", 0, 0]],
            "output_layers": [["dense", 0, 0]],
        },
    }
    training = {
        "loss": "mse",
        "metrics": [[{"class_name": "MeanMetricWrapper", "config": {
            "name": "accuracy", "dtype": "float32", "fn": "categorical_accuracy"}}]],
        "weighted_metrics": None,
        "loss_weights": None,
        "optimizer_config": {"class_name": "Adam", "config": {
            "name": "Adam", "weight_decay": None, "clipnorm": None, "global_clipnorm": None,
            "clipvalue": None, "use_ema": False, "ema_momentum": 0.99,
            "ema_overwrite_frequency": None, "jit_compile": True, "is_legacy_optimizer": False,
            "learning_rate": 0.003, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
            "amsgrad": False}},
    }  # fmt: skip
    path = tmp_path / "tf2.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.13.1"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        f.attrs["training_config"] = json.dumps(training).encode("utf8")
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = [b"input_1", b"dense"]
        weights.create_group("input_1").attrs["weight_names"] = []
        group = weights.create_group("dense")
        group.attrs["weight_names"] = [b"dense/kernel:0", b"dense/bias:0"]
        group["dense/kernel:0"] = kernel
        group["dense/bias:0"] = bias
    restored = load_model(path)
    x = normal(3, 4, seed=2)
    assert_outputs_close(restored.predict(x, verbose=0), np.maximum(x @ kernel + bias, 0))
    assert float(restored.optimizer.learning_rate) == pytest.approx(0.003)


# -- bad input, atomic saving -------------------------------------------------------------------


def test_bad_arguments_and_files(tmp_path):
    model = _sequential(shoal)
    with pytest.raises(TypeError, match="'filepath'.*int"):
        save_model(model, 123)
    with pytest.raises(TypeError, match="'include_optimizer'.*bool.*str"):
        save_model(model, tmp_path / "m.h5", include_optimizer="yes")
    with pytest.raises(ValueError, match="save_format.*'keras'.*m.h5"):
        save_model(model, tmp_path / "m.h5", save_format="keras")
    with pytest.raises(ValueError, match="'filepath'.*'.keras'.*'.h5'.*m.txt"):
        save_model(model, tmp_path / "m.txt")
    with pytest.raises(ValueError, match="missing.h5.*does not exist"):
        load_model(tmp_path / "missing.h5")
    (tmp_path / "junk.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="junk.h5.*not a readable HDF5"):
        load_model(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "weights_only.h5", "w") as f:
        f.attrs["layer_names"] = [b"dense"]
    with pytest.raises(ValueError, match="no model config.*load_weights"):
        load_model(tmp_path / "weights_only.h5")
    with h5py.File(tmp_path / "bad_config.h5", "w") as f:
        f.attrs["model_config"] = b"[1, 2]"
    with pytest.raises(ValueError, match="'model_config' does not describe a model"):
        load_model(tmp_path / "bad_config.h5")
    with pytest.raises(ValueError, match="weights only.*load_weights"):
        load_model(tmp_path / "m.weights.h5")


def test_failed_save_keeps_the_existing_file(tmp_path, monkeypatch):
    from shoal.saving import legacy_h5

    model = _sequential(shoal)
    path = tmp_path / "m.h5"
    _save(model, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(legacy_h5, "write_legacy_weights", broken)
    with pytest.raises(RuntimeError, match="disk full"), _legacy():
        save_model(_sequential(shoal), path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["m.h5"]  # no temporary file left behind
    with pytest.raises(FileExistsError, match="overwrite=False"), _legacy():
        save_model(model, path, overwrite=False)
    assert path.read_bytes() == before
