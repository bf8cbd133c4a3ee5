"""Faults found by running Keras 3.15's own unit tests (losses, metrics, optimizers, ...)
against shoal; each case compares with Keras 3.15 on its JAX backend."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402


def _both(fn):
    """fn(library) for Keras and for shoal."""
    return fn(keras), fn(shoal)


@pytest.mark.parametrize("name", ["Accuracy", "BinaryAccuracy", "Mean"])
def test_metric_weights_broadcast_over_an_axis_count_once_per_element(name):
    # Keras' metrics/accuracy_metrics_test.py::test_weighted_nd_broadcast_weights: weights of
    # shape (1, 2) for values (2, 2) are broadcast before they are summed into `count`.
    y_true, y_pred = np.array([[1, 2], [3, 4]]), np.array([[0, 2], [3, 4]])

    def run(lib):
        metric = getattr(lib.metrics, name)()
        args = (y_true == y_pred,) if name == "Mean" else (y_true, y_pred)
        metric.update_state(*args, sample_weight=np.array([[1.0, 0.0]]))
        return [*(float(v) for v in metric.variables), float(metric.result())]

    ref, got = _both(run)
    assert got == pytest.approx(ref)


@pytest.mark.parametrize("name", ["crossentropy", "CE"])
def test_compile_crossentropy_picks_binary_sparse_or_categorical_from_shapes(name):
    x = np.full((4, 2), 0.3, np.float32)
    cases = [(1, np.ones((4, 1))), (3, np.eye(3)[[0, 1, 2, 0]]), (3, np.array([0, 1, 2, 0]))]

    def run(lib):
        out = []
        for units, y in cases:
            model = lib.Sequential(
                [lib.Input((2,)), lib.layers.Dense(units, kernel_initializer="ones")]
            )
            model.compile(optimizer="sgd", loss=name)
            out.append(model.evaluate(x, y, verbose=0))
        return out

    ref, got = _both(run)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_losses_and_metrics_apply_the_mask_y_pred_carries():
    # Keras' losses/loss_test.py::test_mask: a loss (and a metric) called on a masking layer's
    # output leaves the masked entries out.
    x = np.array([[1, 2, 0, 0], [3, 0, 0, 0]])
    y = np.array([[[1], [0], [1], [1]], [[0], [1], [0], [1]]], np.float32)

    def run(lib):
        inputs = lib.Input((4,), dtype="int32")
        h = lib.layers.Embedding(5, 3, mask_zero=True, embeddings_initializer="ones")(inputs)
        out = lib.layers.Dense(1, kernel_initializer="ones", activation="sigmoid")(h)
        y_pred = lib.Model(inputs, out)(x)
        accuracy = lib.metrics.BinaryAccuracy(threshold=0.99)
        accuracy.update_state(y, y_pred)
        return [
            float(lib.losses.BinaryCrossentropy()(y, y_pred)),
            float(lib.losses.MeanSquaredError(reduction="sum")(y, y_pred)),
            float(accuracy.result()),
        ]

    ref, got = _both(run)
    np.testing.assert_allclose(got, ref, rtol=1e-5)


def test_optimizer_set_weights():
    # Keras' optimizers/optimizer_test.py::test_set_weights.
    def run(lib):
        x = lib.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
        first = lib.optimizers.Adam()
        first.apply_gradients([(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), x)])
        second = lib.optimizers.Adam()
        with pytest.raises(ValueError, match="You are calling `set_weights\\(\\)`"):
            second.set_weights(first.variables)
        second.build([x])
        second.set_weights(first.variables)
        return [np.asarray(v) for v in second.variables]

    ref, got = _both(run)
    assert len(got) == len(ref)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b)
    optimizer = shoal.optimizers.SGD(momentum=0.9)
    optimizer.build([shoal.Variable(np.zeros(3, np.float32))])
    weights = [np.asarray(v) for v in optimizer.variables]
    with pytest.raises(ValueError, match="weights.*shape \\(3,\\).*got \\(2,\\)"):
        optimizer.set_weights([*weights[:-1], np.zeros(2)])
    with pytest.raises(ValueError, match="weights.*list of 3 arrays.*got 1"):
        optimizer.set_weights(weights[:1])


def test_metric_tracks_variables_and_submetrics_in_containers():
    # Keras' metrics/metric_test.py::test_variable_tracking / test_submetric_tracking.
    def run(lib):
        sizes = []
        for value in (
            [lib.Variable(0.0), lib.Variable(1.0)],
            {"a": lib.Variable(0.0), "b": lib.Variable(1.0)},
            {"a": [lib.Variable(0.0), lib.Variable(1.0)]},
            {"1": lib.metrics.Mean(), "2": lib.metrics.Mean()},
            [lib.metrics.Sum(), (lib.metrics.Sum(),)],
        ):
            metric = lib.metrics.Mean()
            metric.more = value
            sizes.append(len(metric.variables))
        return sizes

    ref, got = _both(run)
    assert got == ref == [4, 4, 4, 6, 4]


def test_metric_stateless_update_accepts_its_variables_as_values():
    # Keras' metrics/metric_test.py::test_stateless_update_state starts from `metric.variables`.
    def run(lib):
        metric = lib.metrics.Mean()
        values = metric.variables
        for batch in (np.array([1.0, 2.0]), np.array([6.0])):
            values = metric.stateless_update_state(values, batch)
        return [float(v) for v in values]

    ref, got = _both(run)
    assert got == ref == [9.0, 3.0]


def test_variable_from_a_named_initializer():
    def run(lib):
        v = lib.Variable(initializer="ones", shape=(2, 3), dtype="float16")
        return np.asarray(v), str(v.dtype)

    (ref, ref_dtype), (got, got_dtype) = _both(run)
    np.testing.assert_array_equal(got, ref)
    assert got_dtype == ref_dtype == "float16"


def test_sequential_runs_nested_inputs_and_infers_shapes_without_a_graph():
    # Keras' models/sequential_test.py: test_dict_inputs, test_list_inputs,
    # test_compute_output_shape (on an unbuilt model).
    x = {"a": np.ones((3, 2), np.float32), "b": np.full((3, 2), 2.0, np.float32)}

    def run(lib):
        class Scale(lib.layers.Layer):
            def call(self, inputs):
                return {k: v * 3.0 for k, v in inputs.items()}

        class Pick(lib.layers.Layer):
            def call(self, inputs):
                return [inputs["a"], inputs["b"]]

        out = lib.Sequential([Scale(), Pick()])(x)
        unbuilt = lib.Sequential([lib.layers.Dense(4), lib.layers.Dense(8)])
        return (
            type(out).__name__,
            [np.asarray(o) for o in out],
            unbuilt.compute_output_shape((1, 2)),
        )

    (ref_type, ref, ref_shape), (got_type, got, got_shape) = _both(run)
    assert got_type == ref_type == "list"
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b)
    assert tuple(got_shape) == tuple(ref_shape) == (1, 8)


def test_functional_dict_inputs_ignore_extra_keys_with_a_warning():
    # Keras' models/functional_test.py::test_input_dict_with_extra_field.
    x = {"a": np.ones((4, 3), np.float32), "b": np.ones((4, 1), np.float32)}

    def run(lib):
        a = lib.Input(shape=(3,), name="a")
        model = lib.Model({"a": a}, lib.layers.Dense(1, kernel_initializer="ones")(a))
        with pytest.warns(UserWarning, match="structure of `inputs` doesn't match"):
            return np.asarray(model(x))

    ref, got = _both(run)
    np.testing.assert_allclose(got, ref)
    a = shoal.Input(shape=(3,), name="a")
    model = shoal.Model({"a": a, "c": shoal.Input(shape=(1,), name="c")}, a)
    with pytest.raises(ValueError, match="missing: \\['c'\\]"):
        model(x)


def test_empty_sequential_compiles_and_layer_add_variable():
    # Keras' callbacks/early_stopping_test.py compiles `Sequential()` before any layer;
    # callbacks/callback_test.py builds its state with `Layer.add_variable`.
    def run(lib):
        model = lib.Sequential()
        model.compile(loss="mse", optimizer="sgd")
        model.add(lib.layers.Dense(2, kernel_initializer="ones"))
        loss = model.evaluate(np.ones((4, 3)), np.zeros((4, 2)), verbose=0)

        class Scale(lib.layers.Layer):
            def build(self, input_shape):
                self.v = self.add_variable((2,), "ones", trainable=False, name="v")

            def call(self, x):
                return x * self.v

        layer = Scale()
        out = layer(np.full((1, 2), 3.0, np.float32))
        return loss, np.asarray(out), layer.weights[0].name, layer.weights[0].trainable

    ref, got = _both(run)
    assert got[0] == pytest.approx(ref[0])
    np.testing.assert_allclose(got[1], ref[1])
    assert got[2:] == ref[2:] == ("v", False)


def _two_output_results(lib, outputs_as, loss, metrics):
    inputs = lib.Input((3,))
    a = lib.layers.Dense(1, name="dense_a", kernel_initializer="ones")(inputs)
    b = lib.layers.Dense(1, name="dense_b", activation="sigmoid", kernel_initializer="ones")(inputs)
    model = lib.Model(inputs, outputs_as(a, b))
    model.compile(optimizer="sgd", loss=loss, metrics=metrics)
    x = np.full((4, 3), 0.1, np.float32)
    y = outputs_as(np.ones((4, 1)), np.zeros((4, 1)))
    return model.evaluate(x, y, verbose=0, return_dict=True)


@pytest.mark.parametrize(
    "loss, metrics",
    [
        ("mse", ["mae", "mse"]),  # one metric per output, as Keras reads a list of that length
        ("mse", ["mae", ["mse", "accuracy"]]),
        (["mse", ["binary_crossentropy"]], None),  # an output's loss as a one-entry list
    ],
)
def test_compile_list_specs_are_per_output(loss, metrics):
    # Keras' models/model_test.py::test_functional_list_outputs_(nested_)list_losses.
    ref, got = _both(lambda lib: _two_output_results(lib, lambda a, b: [a, b], loss, metrics))
    assert sorted(got) == sorted(ref)
    assert got == pytest.approx(ref, rel=1e-5)


def test_compile_names_dict_outputs_by_their_keys():
    # Keras' models/model_test.py::test_functional_dict_outputs_with_single_tensor: a dict
    # output's losses and metrics go by the dict's keys, not by the layers' names.
    def outputs_as(a, b):
        return {"zeta": a, "alpha": b}

    loss, metrics = {"zeta": "mse", "alpha": ["mae"]}, {"alpha": "mse"}
    ref, got = _both(lambda lib: _two_output_results(lib, outputs_as, loss, metrics))
    assert sorted(got) == sorted(ref) == ["alpha_loss", "alpha_mse", "loss", "zeta_loss"]
    assert got == pytest.approx(ref, rel=1e-5)


def test_functional_optional_input_given_none():
    # Keras' models/functional_test.py::test_optional_inputs / test_required_input_none_raises.
    def run(lib):
        class AddIfGiven(lib.layers.Layer):
            def call(self, x, y=None):
                return x if y is None else x + y

            def compute_output_shape(self, x_shape, y_shape=None):
                return x_shape

        i1 = lib.Input((2,), name="i1")
        i2 = lib.Input((2,), name="i2", optional=True)
        model = lib.Model([i1, i2], AddIfGiven()(i1, i2))
        ones = np.ones((2, 2), np.float32)
        return [np.asarray(model([ones, None])), np.asarray(model([ones, ones]))]

    ref, got = _both(run)
    for a, b in zip(got, ref, strict=True):
        np.testing.assert_allclose(a, b)
    i1, i2 = shoal.Input((2,), name="i1"), shoal.Input((2,), name="i2")
    model = shoal.Model([i1, i2], shoal.layers.Add()([i1, i2]))
    with pytest.raises(ValueError, match="input 'i1' is not optional"):
        model([None, np.ones((2, 2))])


@pytest.mark.parametrize("fmt", ["tf", "grain"])
def test_timeseries_dataset_takes_keras_format_argument(fmt):
    # Keras 3.15's dataset utilities take `format=` ("tf" or "grain"); shoal's datasets
    # serve both (timeseries, image and text utilities alike).
    data = np.arange(10)
    ds = shoal.utils.timeseries_dataset_from_array(
        data, data * 2, sequence_length=3, batch_size=4, format=fmt
    )
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    np.testing.assert_array_equal(y, [0, 2, 4, 6])
    with pytest.raises(ValueError, match="argument 'format' must be one of"):
        shoal.utils.timeseries_dataset_from_array(data, None, sequence_length=3, format="numpy")
    with pytest.raises(ValueError, match="argument 'format'"):
        shoal.utils.text_dataset_from_directory(".", format="torch")
