"""Faults found by running Keras 3.15's own quantizers / distribution / distillation /
wrappers / legacy / export / applications unit tests against shoal; each test compares with
Keras 3.15 where it can."""

import os
import pickle
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
import pytest

import shoal

# -- quantizers ---------------------------------------------------------------------------


def test_quantizers_get_takes_snake_case_names():
    for lib in (keras, shoal):
        quantizer = lib.quantizers.get("abs_max_quantizer")
        assert type(quantizer).__name__ == "AbsMaxQuantizer"
        assert quantizer.value_range == (-127, 127)


def test_fake_quant_with_min_max_vars_symbolic_is_a_graph_node():
    data = np.linspace(-4.0, 4.0, 24, dtype="float32").reshape(2, 3, 4)
    outputs = []
    for lib in (keras, shoal):
        x = lib.Input((3, 4), batch_size=2)
        # Defaults only: Keras' symbolic path drops num_bits / narrow_range / axis (a Keras
        # bug shoal does not copy).
        y = lib.quantizers.fake_quant_with_min_max_vars(x, -3.0, 3.0)
        assert isinstance(y, lib.KerasTensor)
        assert tuple(y.shape) == (2, 3, 4)
        outputs.append(np.asarray(lib.Model(x, y).predict(data, verbose=0)))
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-6)


# -- pickling (scikit-learn's check_estimators_pickle, joblib) -----------------------------


def _trained(lib):
    x = np.random.RandomState(0).rand(8, 4).astype("float32")
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3), lib.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :1], epochs=1, batch_size=8, verbose=0)
    return model, x


def test_trained_model_pickles_like_keras():

    for lib in (keras, shoal):
        model, x = _trained(lib)
        restored = pickle.loads(pickle.dumps(model))
        assert type(restored).__name__ == "Sequential"
        np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
        assert type(restored.optimizer).__name__ == "Adam"
        assert int(np.asarray(restored.optimizer.iterations)) == 1


def test_sklearn_classifier_one_class_message_names_one_class():
    # scikit-learn's check_fit2d_1sample accepts only messages naming "one class" (or
    # "1 sample", ...); Keras says "only one class is present".
    from sklearn.utils._testing import raises

    estimator = shoal.wrappers.SKLearnClassifier(model=lambda X, y: None)
    with raises(ValueError, match=["one class"]):
        estimator.fit(np.zeros((1, 3)), np.zeros((1,)))


# -- distribution -------------------------------------------------------------------------


def test_device_mesh_rejects_empty_axis_name():
    import jax

    devices = jax.devices()[:1]
    with pytest.raises(ValueError, match="axis_names"):
        shoal.distribution.DeviceMesh((1,), "", devices)
    with pytest.raises(ValueError, match="axis_names"):
        keras.distribution.DeviceMesh((1,), "", devices)


# -- export -------------------------------------------------------------------------------


def test_onnx_export_takes_keras_opset_version_and_input_spec_names(tmp_path):
    # Keras' `model.export(..., format="onnx")` takes `opset_version` and names the graph
    # inputs after the input signature's `InputSpec.name` (Keras' onnx_test).
    import onnx

    model = shoal.Sequential([shoal.Input((4,)), shoal.layers.Dense(2)])
    path = str(tmp_path / "model.onnx")
    spec = shoal.layers.InputSpec(name="custom_input", shape=(None, 4), dtype="float32")
    model.export(path, format="onnx", opset_version=18, input_signature=[spec])
    proto = onnx.load(path)
    assert proto.opset_import[0].version == 18
    assert [i.name for i in proto.graph.input] == ["custom_input"]


# -- saving (Keras' legacy_h5_format_test) -------------------------------------------------


def _lambda_model(lib, mean):
    inputs = lib.Input((2, 3))
    outputs = lib.layers.Lambda(
        lambda x, mu, std: (x - mu) / std,
        arguments={"mu": lib.ops.convert_to_tensor(mean), "std": 2.0},
    )(inputs)
    return lib.Model(inputs, outputs)


def test_lambda_tensor_arguments_survive_save_and_load(tmp_path):
    mean = np.arange(6, dtype="float32").reshape(2, 3)
    x = np.ones((1, 2, 3), "float32")
    for ext in ("keras", "h5"):
        results = []
        for lib in (keras, shoal):
            path = str(tmp_path / f"{lib.__name__}.{ext}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the legacy .h5 warning
                _lambda_model(lib, mean).save(path)
                loaded = lib.saving.load_model(path, safe_mode=False)
            np.testing.assert_array_equal(np.asarray(loaded.layers[1].arguments["mu"]), mean)
            results.append(np.asarray(loaded.predict(x, verbose=0)))
        np.testing.assert_allclose(results[1], results[0])
    # The config holds the tensor as Keras' `__tensor__` entry.
    configs = [
        _lambda_model(lib, mean).layers[1].get_config()["arguments"] for lib in (keras, shoal)
    ]
    assert configs[1] == configs[0]


def test_legacy_h5_save_creates_missing_folders(tmp_path):
    # Keras creates the folders for a legacy .h5 model file; for .keras it does not.
    for lib in (keras, shoal):
        path = tmp_path / lib.__name__ / "deeper" / "model.h5"
        model = lib.Sequential([lib.Input((2,)), lib.layers.Dense(1)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy .h5 warning
            model.save(str(path))
        assert path.is_file()
