"""ONNX export refuses what it cannot write exactly, with messages that say what and why."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from export_cases import (  # noqa: E402
    Scale,
    cheap_initializers,  # noqa: F401  (autouse fixture)
    seq,
    subclassed_model,
)

import shoal  # noqa: E402
from shoal import layers as L  # noqa: E402
from shoal.export import export_model  # noqa: E402
from shoal.export.onnx import ExportError, export_onnx, supported_layers  # noqa: E402


class MyDense(L.Dense):
    def call(self, x):
        return super().call(x) + 1.0


def test_supported_layers_lists_the_families():
    names = set(supported_layers())
    for name in (
        "Dense", "Conv2D", "MaxPooling2D", "Flatten", "BatchNormalization", "LSTM", "GRU",
        "SimpleRNN", "Bidirectional", "Embedding", "Concatenate", "Dropout", "InputLayer",
    ):  # fmt: skip
        assert name in names


def test_export_error_is_a_value_error():
    assert issubclass(ExportError, ValueError)


def test_lambda_layer_is_refused():
    model = seq(L.Dense(3), L.Lambda(lambda x: x * 2, name="double"), shape=(4,))
    with pytest.raises(
        ValueError, match=r"layer 'double' of class Lambda.*Supported layers:.*Dense"
    ):
        export_onnx(model)


def test_custom_layer_is_refused():
    model = seq(Scale(name="scale"), shape=(4,))
    with pytest.raises(ValueError, match=r"layer 'scale' of class Scale.*Custom layers"):
        export_onnx(model)


def test_subclass_of_supported_layer_is_refused():
    model = seq(MyDense(2, name="mine"), shape=(4,))
    with pytest.raises(ValueError, match=r"'mine' of class MyDense.*subclass"):
        export_onnx(model)


def test_unsupported_activation_is_refused():
    model = seq(L.Dense(2, activation=lambda x: x * 3, name="odd"), shape=(4,))
    with pytest.raises(ValueError, match=r"Dense 'odd'.*activation.*supported activations"):
        export_onnx(model)


def test_stateful_rnn_is_refused():
    x = shoal.Input(batch_shape=(2, 3, 4))
    model = shoal.Model(x, L.LSTM(2, stateful=True, name="stateful_lstm")(x))
    with pytest.raises(ValueError, match=r"LSTM 'stateful_lstm' is stateful"):
        export_onnx(model)


def test_masked_multiply_is_refused():
    x = shoal.Input((5,), dtype="int32")
    e = L.Embedding(10, 3, mask_zero=True)(x)
    out = L.Multiply(name="mul")([e, e])
    with pytest.raises(ValueError, match=r"Multiply 'mul' receives a mask"):
        export_onnx(shoal.Model(x, out))


def test_mask_from_unsupported_producer_is_refused():
    a, b = shoal.Input((5,), dtype="int32"), shoal.Input((5,), dtype="int32")
    ea = L.Embedding(10, 3, mask_zero=True)(a)
    eb = L.Embedding(10, 3, mask_zero=True)(b)
    joined = L.Concatenate(axis=1, name="join")([ea, eb])
    model = shoal.Model([a, b], L.LSTM(2)(joined))
    with pytest.raises(ValueError, match=r"mask produced by Concatenate 'join' cannot be"):
        export_onnx(model)


def test_training_true_in_graph_is_refused():
    x = shoal.Input((4,))
    model = shoal.Model(x, L.Dropout(0.5, name="always")(x, training=True))
    with pytest.raises(ValueError, match=r"Dropout 'always' is called with training=True"):
        export_onnx(model)


def test_operation_on_symbolic_tensors_is_refused():
    x = shoal.Input((4,))
    model = shoal.Model(x, L.Dense(2)(x) + 1.0)
    with pytest.raises(ValueError, match=r"applies the operation .* only layers can be exported"):
        export_onnx(model)


def test_subclassed_model_is_refused():
    with pytest.raises(ValueError, match=r"no layer graph.*format='stablehlo'"):
        export_onnx(subclassed_model())


def test_unbuilt_sequential_is_refused():
    with pytest.raises(ValueError, match=r"is not built"):
        export_onnx(shoal.Sequential([L.Dense(2)]))


def test_float16_model_is_refused():
    model = seq(L.Dense(2, dtype="float16", name="half"), shape=(4,))
    with pytest.raises(ValueError, match=r"Dense 'half' computes in float16"):
        export_onnx(model)


def test_bad_opset_and_format():
    model = seq(L.Dense(2), shape=(4,))
    with pytest.raises(ValueError, match=r"'opset' must be an integer >= 17 .*got 13"):
        export_onnx(model, opset=13)
    with pytest.raises(
        ValueError, match=r"'format' must be one of 'onnx', 'tflite', 'stablehlo' .*got 'tfjs'"
    ):
        export_model(model, "m.tfjs", format="tfjs")
