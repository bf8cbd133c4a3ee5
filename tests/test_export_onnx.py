"""ONNX export: onnxruntime (CPU) outputs equal `model.predict` for every supported layer.

Each case builds a 1-2 layer model around the layer, gives it random weights (nonzero
biases, BN statistics), exports it, and compares onnxruntime at batch sizes 2 and 5 (one
export, dynamic batch) with one `predict` at batch 5.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from export_cases import (  # noqa: E402
    cheap_initializers,  # noqa: F401  (autouse fixture)
    cli_parser,
    functional_multi_input,
    make_inputs,
    mlp,
    randomize,
    seq,
    small_mnist_convnet,
    text_lstm,
)

import shoal  # noqa: E402
from shoal import layers as L  # noqa: E402
from shoal.export.onnx import export_onnx  # noqa: E402

BATCHES = (2, 5)


def check_export(model, inputs=None, seed=0, opset=None):
    """Export `model` and assert onnxruntime matches predict at each batch size."""
    inputs = make_inputs(model, max(BATCHES), seed) if inputs is None else inputs
    proto = export_onnx(model) if opset is None else export_onnx(model, opset=opset)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names == list(model.input_names)
    out_names = [o.name for o in session.get_outputs()]
    assert len(set(out_names)) == len(out_names) == len(model.output_names)
    for got, layer_name in zip(out_names, model.output_names, strict=True):
        assert got.startswith(layer_name)  # duplicates get a suffix
    x = inputs[0] if len(inputs) == 1 else inputs
    want = model.predict(x, batch_size=max(BATCHES), verbose=0)
    want = list(want) if isinstance(want, (list, tuple)) else [want]
    for n in BATCHES:
        got = session.run(None, {k: v[:n] for k, v in zip(names, inputs, strict=True)})
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, np.asarray(w)[:n], rtol=1e-5, atol=1e-6)
    return proto


def op_types(proto) -> list:
    return [n.op_type for n in proto.graph.node]


# -- layer cases: (id, model factory) -------------------------------------------------------

ACTIVATIONS = (
    "linear relu sigmoid tanh softmax log_softmax elu selu celu softplus softsign relu6 "
    "hard_tanh hard_sigmoid hard_silu silu gelu leaky_relu exponential mish log_sigmoid "
    "tanh_shrink"
).split()


def activations_model():
    x = shoal.Input((3, 4))
    outs = [L.Activation(name, name=f"act_{name}")(x) for name in ACTIVATIONS]
    return shoal.Model(x, outs)


def dense_activations_model():
    x = shoal.Input((6,))
    return shoal.Model(x, [L.Dense(3, activation=a)(x) for a in ("relu", "softmax", "gelu")])


def activation_layers_model():
    x = shoal.Input((3, 4))
    outs = [
        L.ReLU()(x),
        L.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2)(x),
        L.ReLU(max_value=0.7)(x),
        L.ReLU(negative_slope=0.2)(x),
        L.LeakyReLU(negative_slope=0.1)(x),
        L.ELU(alpha=0.5)(x),
        L.Softmax(axis=1)(x),
        L.Softmax(axis=[1, 2])(x),
        L.PReLU()(x),
        L.PReLU(shared_axes=[1])(x),
    ]
    return shoal.Model(x, outs)


def merging_model():
    a, b, c = shoal.Input((4,), name="a"), shoal.Input((4,), name="b"), shoal.Input((4,), name="c")
    d = shoal.Input((3, 4), name="d")
    outs = [
        L.Add()([a, b, c]),
        L.Subtract()([a, b]),
        L.Multiply()([a, b, c]),
        L.Average()([a, b]),
        L.Maximum()([a, b, c]),
        L.Minimum()([a, b]),
        L.Concatenate()([a, b]),
        L.Add()([d, a]),  # Keras aligns ranks: (batch, 4) -> (batch, 1, 4)
        L.Concatenate(axis=1)([d, d]),
    ]
    return shoal.Model([a, b, c, d], outs)


def conv_merge_model():
    # Convolutions publish channels-first values; merges and BN stay in that layout.
    x = shoal.Input((6, 6, 2))
    a = L.Conv2D(3, 3, padding="same")(x)
    b = L.Conv2D(3, 1)(x)
    s = L.Add()([a, b])
    s = L.BatchNormalization()(s)
    s = L.ReLU()(s)
    c = L.Concatenate()([s, a])
    return shoal.Model(x, [L.GlobalAveragePooling2D()(c), L.Flatten()(c)])


LAYER_CASES = {
    "activations": activations_model,
    "dense_activations": dense_activations_model,
    "activation_layers": activation_layers_model,
    "dense_3d_no_bias": lambda: seq(L.Dense(3, use_bias=False), L.Dense(2), shape=(4, 5)),
    # convolutions
    "conv1d": lambda: seq(
        L.Conv1D(4, 3, activation="relu"), L.Conv1D(2, 2, strides=2, padding="same"), shape=(9, 3)
    ),
    "conv1d_dilated_causal": lambda: seq(
        L.Conv1D(4, 3, dilation_rate=2, padding="causal"), L.Conv1D(4, 2, groups=2), shape=(9, 2)
    ),
    "conv2d_valid_same": lambda: seq(
        L.Conv2D(4, 3), L.Conv2D(3, (2, 3), strides=(2, 1), padding="same"), shape=(7, 6, 2)
    ),
    "conv2d_dilation_groups": lambda: seq(
        L.Conv2D(4, 3, dilation_rate=2, padding="same"), L.Conv2D(2, 1, groups=2), shape=(6, 6, 2)
    ),
    "conv2d_channels_first": lambda: seq(
        L.Conv2D(3, 3, data_format="channels_first", padding="same"),
        L.MaxPooling2D(data_format="channels_first"),
        L.Flatten(data_format="channels_first"),
        shape=(2, 6, 6),
    ),
    "conv3d": lambda: seq(L.Conv3D(2, 2, padding="same", strides=2), shape=(4, 4, 3, 2)),
    "depthwise_separable": lambda: seq(
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
        L.SeparableConv2D(3, 2, activation="relu"),
        shape=(5, 5, 2),
    ),
    "depthwise_separable_1d": lambda: seq(
        L.DepthwiseConv1D(3), L.SeparableConv1D(3, 2, strides=2, padding="same"), shape=(8, 2)
    ),
    # pooling
    "pool1d": lambda: seq(
        L.MaxPooling1D(2), L.AveragePooling1D(3, strides=1, padding="same"), shape=(9, 3)
    ),
    "pool2d": lambda: seq(
        L.MaxPooling2D(3, strides=2, padding="same"),
        L.AveragePooling2D(2, padding="same"),
        shape=(6, 6, 2),
    ),
    "pool2d_valid": lambda: seq(
        L.AveragePooling2D((2, 3), strides=(1, 2)), L.MaxPooling2D(2), shape=(6, 7, 2)
    ),
    "pool3d": lambda: seq(
        L.MaxPooling3D(2), L.AveragePooling3D(2, padding="same"), shape=(4, 4, 5, 2)
    ),
    "global_pool_1d": lambda: seq(L.Conv1D(3, 2), L.GlobalAveragePooling1D(), shape=(6, 2)),
    "global_max_1d_keepdims": lambda: seq(L.GlobalMaxPooling1D(keepdims=True), shape=(6, 2)),
    "global_pool_2d": lambda: seq(L.Conv2D(3, 2), L.GlobalMaxPooling2D(), shape=(5, 5, 2)),
    "global_avg_2d_keepdims": lambda: seq(
        L.Conv2D(3, 2), L.GlobalAveragePooling2D(keepdims=True), shape=(5, 5, 2)
    ),
    "global_pool_3d": lambda: seq(L.GlobalAveragePooling3D(), shape=(3, 3, 3, 2)),
    "global_max_3d": lambda: seq(L.GlobalMaxPooling3D(), shape=(3, 3, 3, 2)),
    # reshaping
    "flatten_after_conv": lambda: seq(L.Conv2D(3, 2), L.Flatten(), L.Dense(2), shape=(4, 5, 2)),
    "reshape_permute": lambda: seq(
        L.Reshape((3, -1)), L.Permute((2, 1)), L.Reshape((2, 2, 3)), shape=(12,)
    ),
    "permute_after_conv": lambda: seq(L.Conv2D(2, 2), L.Permute((3, 1, 2)), shape=(4, 5, 2)),
    "repeat_vector": lambda: seq(L.Dense(3), L.RepeatVector(4), shape=(5,)),
    "upsampling_1d": lambda: seq(L.UpSampling1D(3), shape=(4, 2)),
    "upsampling_2d": lambda: seq(L.Conv2D(2, 1), L.UpSampling2D((2, 3)), shape=(3, 4, 2)),
    "upsampling_2d_bilinear": lambda: seq(
        L.UpSampling2D(2, interpolation="bilinear"), shape=(3, 4, 2)
    ),
    "upsampling_3d": lambda: seq(L.UpSampling3D((1, 2, 2)), shape=(2, 3, 2, 2)),
    "zero_padding": lambda: seq(
        L.ZeroPadding1D((1, 2)),
        L.Reshape((7, 2, 1)),
        L.ZeroPadding2D(((1, 0), (2, 1))),
        shape=(4, 2),
    ),  # fmt: skip
    "zero_padding_3d": lambda: seq(L.ZeroPadding3D(1), shape=(2, 2, 2, 1)),
    "cropping": lambda: seq(
        L.Cropping1D((1, 2)), L.Reshape((3, 2, 2)), L.Cropping2D(((1, 0), (0, 1))), shape=(6, 4)
    ),
    "cropping_3d": lambda: seq(L.Cropping3D(((1, 0), (0, 1), (1, 1))), shape=(3, 3, 4, 1)),
    "conv_pad_crop": lambda: seq(
        L.Conv2D(2, 1),
        L.ZeroPadding2D(1),
        L.Cropping2D(((0, 1), (1, 0))),
        L.Conv2D(2, 2),
        shape=(4, 4, 1),
    ),  # fmt: skip
    # regularization (identity at inference)
    "dropouts": lambda: seq(
        L.Dropout(0.5),
        L.SpatialDropout1D(0.3),
        L.GaussianNoise(0.2),
        L.GaussianDropout(0.2),
        L.ActivityRegularization(l1=0.1),
        L.Identity(),
        L.Dense(2),
        shape=(3, 4),
    ),  # fmt: skip
    "spatial_dropout_2d": lambda: seq(L.Conv2D(2, 2), L.SpatialDropout2D(0.5), shape=(4, 4, 1)),
    # preprocessing (augmentation: identity at inference)
    "preprocessing_image": lambda: seq(
        L.RandomFlip(),
        L.RandomRotation(0.2),
        L.RandomZoom(0.1),
        L.RandomTranslation(0.1, 0.1),
        L.RandomContrast(0.2),
        L.RandomBrightness(0.1),
        L.Rescaling([0.5, 2.0, 1.0], offset=0.25),
        L.Normalization(mean=[0.1, -0.2, 0.3], variance=[1.5, 0.5, 2.0]),
        L.Normalization(axis=(1, 2), mean=0.5, variance=4.0, invert=True),
        L.CenterCrop(4, 5),
        L.Conv2D(2, 2),
        shape=(6, 8, 3),
    ),
    "rescaling_int": lambda: seq(L.Rescaling(1 / 255, offset=-0.5), shape=(4, 3), dtype="int32"),
    # normalization
    "batch_norm_dense": lambda: seq(L.Dense(4), L.BatchNormalization(), shape=(3,)),
    "batch_norm_conv": lambda: seq(
        L.Conv2D(3, 2), L.BatchNormalization(), L.MaxPooling2D(), shape=(5, 5, 2)
    ),
    "batch_norm_axis1": lambda: seq(L.BatchNormalization(axis=1, center=False), shape=(3, 4)),
    "layer_norm": lambda: seq(L.LayerNormalization(), L.Dense(2), shape=(3, 4)),
    "layer_norm_axes": lambda: seq(
        L.LayerNormalization(axis=[1, 2]), L.LayerNormalization(axis=1, scale=False), shape=(3, 4)
    ),
    "conv_merge": conv_merge_model,
    "merging": merging_model,
    # embedding / recurrent
    "embedding": lambda: seq(L.Embedding(10, 3), shape=(4,), dtype="int32"),
    "embedding_float_ids": lambda: seq(L.Embedding(10, 3), L.Flatten(), shape=(4,)),
    "simple_rnn": lambda: seq(L.SimpleRNN(3, return_sequences=True), L.SimpleRNN(2), shape=(4, 3)),
    "simple_rnn_relu_backwards": lambda: seq(
        L.SimpleRNN(3, activation="relu", go_backwards=True, return_sequences=True), shape=(4, 3)
    ),
    "lstm_sequences": lambda: seq(
        L.LSTM(3, return_sequences=True), L.LSTM(2, go_backwards=True), shape=(5, 3)
    ),
    "lstm_backwards_sequences": lambda: seq(
        L.LSTM(3, return_sequences=True, go_backwards=True, use_bias=False), shape=(5, 3)
    ),
    "lstm_scan_activations": lambda: seq(
        L.LSTM(3, recurrent_activation="hard_sigmoid", activation="gelu", return_sequences=True),
        shape=(4, 3),
    ),
    "gru": lambda: seq(L.GRU(3, return_sequences=True), L.GRU(2, go_backwards=True), shape=(5, 3)),
    "gru_reset_before": lambda: seq(
        L.GRU(3, reset_after=False, return_sequences=True), L.Dense(2), shape=(5, 3)
    ),
    "gru_scan_activations": lambda: seq(
        L.GRU(3, activation="elu", reset_after=False), shape=(5, 3)
    ),
    "rnn_cell": lambda: seq(L.RNN(L.LSTMCell(3)), shape=(4, 2)),
    "bidirectional_concat": lambda: seq(
        L.Bidirectional(L.LSTM(3, return_sequences=True)), L.Bidirectional(L.GRU(2)), shape=(4, 3)
    ),
    "bidirectional_modes": lambda: seq(
        L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="sum"),
        L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode="mul"),
        L.Bidirectional(L.LSTM(2), merge_mode="ave"),
        shape=(4, 3),
    ),
    "bidirectional_custom_backward": lambda: seq(
        L.Bidirectional(
            L.LSTM(3, return_sequences=True),
            backward_layer=L.GRU(2, return_sequences=True, go_backwards=True),
        ),
        shape=(4, 3),
    ),
    "time_distributed": lambda: seq(
        L.TimeDistributed(L.Dense(3, activation="tanh")),
        L.TimeDistributed(L.Conv1D(2, 2)),
        shape=(3, 4, 2),
    ),  # fmt: skip
}


@pytest.mark.parametrize("case", sorted(LAYER_CASES))
def test_layer_matches_predict(case):
    model = randomize(LAYER_CASES[case](), seed=len(case))
    check_export(model, seed=len(case))


# -- multiple outputs, states, masks --------------------------------------------------------


def test_rnn_return_state_and_initial_state():
    x = shoal.Input((4, 3), name="x")
    seq_out, h, c = L.LSTM(3, return_sequences=True, return_state=True)(x)
    gru_out = L.GRU(3)(seq_out, initial_state=h)
    bi = L.Bidirectional(L.SimpleRNN(2, return_state=True), merge_mode=None)(x)
    bi_lstm = L.Bidirectional(L.LSTM(3))(x, initial_state=[h, c, c, h])
    model = randomize(shoal.Model(x, [seq_out, h, c, gru_out, *bi, bi_lstm]))
    proto = check_export(model)
    assert "LSTM" in op_types(proto) and "Scan" not in op_types(proto)


def text_ids(batch=5, steps=6, vocab=12, seed=0):
    """Ids with zeros (padding) at the start, the end and in the middle of sequences."""
    ids = np.random.default_rng(seed).integers(1, vocab, (batch, steps)).astype("int32")
    ids[0, :2] = 0  # left padding
    ids[1, 4:] = 0  # right padding
    ids[2, 2] = 0  # a hole
    ids[4, :] = 0  # fully masked
    return ids


@pytest.mark.parametrize(
    "rnn",
    [
        lambda: L.LSTM(3),
        lambda: L.GRU(3, return_sequences=True, go_backwards=True),
        lambda: L.SimpleRNN(3, return_sequences=True),
        lambda: L.Bidirectional(L.LSTM(2, return_sequences=True)),
        lambda: L.Bidirectional(L.GRU(2), merge_mode="sum"),
    ],
    ids=["lstm", "gru_backwards_sequences", "simple_rnn_sequences", "bi_lstm", "bi_gru"],
)
def test_masked_rnn_matches_predict(rnn):
    model = randomize(
        seq(L.Embedding(12, 3, mask_zero=True), rnn(), shape=(6,), dtype="int32"), seed=3
    )
    proto = check_export(model, inputs=[text_ids()])
    assert "Scan" in op_types(proto)


def test_masking_layer_and_masked_average():
    x = shoal.Input((5, 2))
    m = L.Masking(mask_value=0.0)(x)
    out = [L.LSTM(2)(m), L.GlobalAveragePooling1D()(L.Dense(3)(m))]
    model = randomize(shoal.Model(x, out), seed=4)
    data = np.random.default_rng(4).standard_normal((5, 5, 2)).astype("float32")
    data[0, 1] = 0.0
    data[1, 3:] = 0.0
    check_export(model, inputs=[data])


def test_nested_models_are_inlined():
    block = seq(L.Conv2D(2, 2, activation="relu"), L.BatchNormalization(), shape=(5, 5, 1))
    a, b = shoal.Input((5, 5, 1), name="left"), shoal.Input((5, 5, 1), name="right")
    merged = L.Concatenate()([block(a), block(b)])  # one nested model, called twice
    model = randomize(shoal.Model([a, b], L.Dense(2)(L.Flatten()(merged))), seed=5)
    check_export(model)


def test_mask_from_nested_model():
    encoder = seq(L.Embedding(12, 3, mask_zero=True), L.Dense(3), shape=(6,), dtype="int32")
    x = shoal.Input((6,), dtype="int32")
    model = randomize(shoal.Model(x, L.GRU(2)(encoder(x))), seed=6)
    proto = check_export(model, inputs=[text_ids()])
    assert "Scan" in op_types(proto)


# -- example models -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_models():
    models = {
        "mlp": mlp(),
        "mnist_convnet": small_mnist_convnet(),
        "text_lstm": text_lstm(),
        "text_bigru": seq(
            L.Embedding(12, 4),
            L.Bidirectional(L.GRU(4)),
            L.Dense(2, activation="softmax"),
            shape=(6,),
            dtype="int32",
        ),  # fmt: skip
        "functional_multi_input": functional_multi_input(),
    }
    return {name: randomize(model, seed=i) for i, (name, model) in enumerate(models.items())}


@pytest.mark.parametrize(
    "name", ["mlp", "mnist_convnet", "text_lstm", "text_bigru", "functional_multi_input"]
)
def test_example_model_matches_predict(example_models, name):
    model = example_models[name]
    proto = check_export(model)
    if name == "mnist_convnet":
        # NHWC -> NCHW once before the first convolution and back once before Flatten.
        assert op_types(proto).count("Transpose") == 2
    if name == "text_bigru":
        gru = [n for n in proto.graph.node if n.op_type == "GRU"]
        assert len(gru) == 1
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gru[0].attribute}
        assert attrs["direction"] == b"bidirectional" and attrs["linear_before_reset"] == 1


def test_file_interface(example_models, tmp_path):
    from shoal.export import export_model

    model = example_models["functional_multi_input"]
    path = tmp_path / "model.onnx"
    export_model(model, path, format="onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    assert [i.name for i in proto.graph.input] == ["numbers", "tokens"]
    assert [o.name for o in proto.graph.output] == ["label", "score"]
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param == "batch"
    # Weights are initializers named after their layer.
    kernels = [i.name for i in proto.graph.initializer if i.name.endswith("/kernel")]
    assert len(kernels) == 4 and all(k.split("/")[0] in model_layer_names(model) for k in kernels)


def model_layer_names(model):
    return {layer.name for layer in model.layers}


def test_newer_opset(example_models):
    check_export(example_models["mnist_convnet"], opset=18)


def test_cli_command(example_models, tmp_path, capsys):
    parser = cli_parser()
    model = example_models["mnist_convnet"]
    model.save(str(tmp_path / "convnet.keras"))
    out = tmp_path / "convnet.onnx"
    args = parser.parse_args(["export", str(tmp_path / "convnet.keras"), str(out)])
    assert args.func(args) == 0
    assert "Saved the onnx export" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    x = make_inputs(model, max(BATCHES))[0]
    np.testing.assert_allclose(
        session.run(None, {session.get_inputs()[0].name: x})[0],
        model.predict(x, verbose=0),
        rtol=1e-5,
        atol=1e-6,
    )
    args = parser.parse_args(["export", str(tmp_path / "convnet.keras"), str(tmp_path / "m.xyz")])
    assert args.func(args) == 2
    assert "cannot tell the format" in capsys.readouterr().err
