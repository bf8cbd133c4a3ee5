"""TFLite export: the LiteRT interpreter's outputs equal `model.predict` for every supported layer.

Each case builds a small model (several layers side by side where they share an input, so
that one `predict` compiles once), gives it random weights (nonzero biases, BN statistics),
exports it with a dynamic batch size, and runs the LiteRT interpreter at batch sizes 1 and
3 (resized), comparing with one `predict` at batch 3. int8 (dynamic-range) exports are
compared within 1e-2.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flatbuffers")
litert = pytest.importorskip("ai_edge_litert.interpreter")

from export_cases import (  # noqa: E402
    cheap_initializers,  # noqa: F401  (autouse fixture)
    functional_multi_input,
    make_inputs,
    mlp,
    randomize,
    seq,
    text_lstm,
)

import shoal  # noqa: E402
from shoal import layers as L  # noqa: E402
from shoal.export.tflite import export_tflite, supported_layers  # noqa: E402
from shoal.export.tflite.builder import schema  # noqa: E402

Interpreter = litert.Interpreter
BATCHES = (1, 3)


def text_ids(batch=3, steps=6, vocab=12):
    """Token ids with padding zeros at the end of some rows (and one almost empty row)."""
    ids = np.random.default_rng(7).integers(1, vocab, (batch, steps)).astype("int32")
    ids[0, 4:] = 0
    ids[-1, 1:] = 0
    return ids


def run_tflite(content, inputs, batch=None):
    """Run the interpreter on `inputs` (resized to `batch` rows); outputs in model order."""
    interpreter = Interpreter(model_content=content)
    details = interpreter.get_input_details()
    xs = [x if batch is None else x[:batch] for x in inputs]
    for d, x in zip(details, xs, strict=True):
        if tuple(d["shape"]) != x.shape:
            interpreter.resize_tensor_input(d["index"], x.shape)
    interpreter.allocate_tensors()
    for d, x in zip(details, xs, strict=True):
        interpreter.set_tensor(d["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def predict(model, inputs):
    want = model.predict(inputs[0] if len(inputs) == 1 else inputs, verbose=0)
    return [np.asarray(w) for w in (want if isinstance(want, (list, tuple)) else [want])]


def assert_close(got, want, quantized=False):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        if quantized:
            np.testing.assert_allclose(g, w, rtol=1e-2, atol=1e-2 * np.abs(w).max())
        else:
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def check_export(model, inputs=None, quantize=None, want=None):
    """Export `model` (dynamic batch) and assert LiteRT matches predict at each batch size."""
    inputs = make_inputs(model, max(BATCHES)) if inputs is None else inputs
    content = export_tflite(model, quantize=quantize, batch_size=None)
    want = predict(model, inputs) if want is None else want
    for n in BATCHES:
        assert_close(run_tflite(content, inputs, n), [w[:n] for w in want], quantize is not None)
    return content, want


def op_names(content) -> list:
    model = schema.ModelT.InitFromPackedBuf(content, 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = model.operatorCodes
    return [names[codes[op.opcodeIndex].builtinCode] for op in model.subgraphs[0].operators]


# -- layer cases ---------------------------------------------------------------------------

ACTIVATIONS = (
    "linear relu relu6 sigmoid tanh softmax log_softmax elu selu leaky_relu gelu silu "
    "hard_sigmoid hard_silu exponential softsign"
).split()


def vector_model():
    """Activations, activation layers, Dense variants and merges on (batch, 5) inputs."""
    a, b = shoal.Input((5,), name="a"), shoal.Input((5,), name="b")
    d = shoal.Input((3, 5), name="d")
    outs = [L.Activation(name, name=f"act_{name}")(a) for name in ACTIVATIONS]
    outs += [
        L.Dense(4, activation="relu", use_bias=False)(a),
        L.Dense(3, activation="softmax")(a),
        L.Dense(2, activation="gelu")(d),  # rank 3: keep_num_dims
        L.ReLU()(a),
        L.ReLU(max_value=6.0)(a),
        L.ReLU(max_value=0.7)(a),
        L.ReLU(negative_slope=0.2)(a),
        L.ReLU(max_value=0.5, negative_slope=0.1, threshold=0.2)(a),
        L.LeakyReLU(negative_slope=0.1)(a),
        L.ELU()(a),
        L.ELU(alpha=0.5)(a),
        L.Softmax()(d),
        L.Add()([a, b]),
        L.Subtract()([a, b]),
        L.Multiply()([a, b]),
        L.Average()([a, b]),
        L.Maximum()([a, b]),
        L.Minimum()([a, b]),
        L.Concatenate()([a, b]),
        L.Add()([d, a]),  # Keras aligns ranks: (batch, 5) -> (batch, 1, 5)
        L.Concatenate(axis=1)([d, d]),
        L.Identity()(L.Dropout(0.5)(L.GaussianNoise(0.1)(a))),
        L.GaussianDropout(0.2)(L.ActivityRegularization(l1=0.1)(a)),
        L.RepeatVector(2)(a),
        L.Permute((2, 1))(d),
        L.Reshape((5, 3))(d),
        L.Flatten()(d),
        L.BatchNormalization()(d),
        L.LayerNormalization()(d),
        L.LayerNormalization(axis=[1, 2], center=False)(d),
    ]
    return shoal.Model([a, b, d], outs, name="vector")


def image_model():
    x = shoal.Input((7, 7, 3))
    v = shoal.Input((3, 4, 3, 2))
    outs = [
        L.GlobalAveragePooling3D()(v),
        L.GlobalMaxPooling3D(keepdims=True)(v),
        L.ZeroPadding3D(((1, 0), (0, 1), (1, 1)))(v),
        L.Cropping3D(((1, 0), (1, 2), (0, 1)))(v),
        L.BatchNormalization()(L.SpatialDropout3D(0.2)(v)),
        L.Conv2D(4, 3, activation="relu")(x),
        L.Conv2D(4, 3, strides=2, padding="same", activation="relu6")(x),
        L.Conv2D(2, (3, 2), dilation_rate=2, activation="tanh", use_bias=False)(x),
        L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x),
        L.DepthwiseConv2D(2, strides=2, activation="relu")(x),
        L.MaxPooling2D(2)(x),
        L.MaxPooling2D(3, strides=2, padding="same")(x),
        L.AveragePooling2D(2)(x),
        L.AveragePooling2D(3, strides=2, padding="same")(x),
        L.GlobalAveragePooling2D()(x),
        L.GlobalMaxPooling2D(keepdims=True)(x),
        L.ZeroPadding2D(((1, 0), (2, 1)))(x),
        L.BatchNormalization()(x),
        L.SpatialDropout2D(0.3)(x),
        L.SeparableConv2D(3, 3, depth_multiplier=2, padding="same", activation="relu")(x),
        L.SeparableConv2D(2, 2, strides=2, use_bias=False)(x),
        L.PReLU(shared_axes=[1, 2])(x),
        L.UpSampling2D((2, 3))(x),
        L.Cropping2D(((1, 2), (0, 1)))(x),
    ]
    return shoal.Model([x, v], outs, name="image")


def sequence_model():
    x = shoal.Input((6, 4))
    outs = [
        L.Conv1D(3, 3, padding="same", activation="relu")(L.SpatialDropout1D(0.2)(x)),
        L.Conv1D(3, 2, padding="causal", dilation_rate=2)(x),
        L.Conv1D(2, 3, strides=2)(x),
        L.DepthwiseConv1D(3, depth_multiplier=2)(x),
        L.MaxPooling1D(2)(x),
        L.AveragePooling1D(3, strides=1, padding="same")(x),
        L.GlobalAveragePooling1D()(x),
        L.GlobalMaxPooling1D()(x),
        L.ZeroPadding1D(2)(x),
        L.Cropping1D((1, 2))(x),
        L.SeparableConv1D(3, 2, dilation_rate=2)(x),
        L.PReLU()(x),
        L.SimpleRNN(3)(x),
        L.SimpleRNN(3, activation="relu", return_sequences=True, go_backwards=True)(x),
        L.GRU(3)(x),
        L.GRU(3, reset_after=False, return_sequences=True)(x),
        L.GRU(2, reset_after=False, use_bias=False, go_backwards=True)(x),
        L.LSTM(3)(x),  # fused UNIDIRECTIONAL_SEQUENCE_LSTM
        L.LSTM(3, return_sequences=True, go_backwards=True)(x),
        L.LSTM(2, activation="relu", recurrent_activation="hard_sigmoid")(x),  # unrolled
        *L.LSTM(2, return_state=True)(x),  # unrolled: the cell state is an output
        L.Bidirectional(L.LSTM(2, return_sequences=True))(x),
        L.Bidirectional(L.GRU(2), merge_mode="ave")(x),
    ]
    return shoal.Model(x, outs, name="sequence")


def embedding_model():
    ids = shoal.Input((6,), dtype="int32")
    floats = shoal.Input((6,))  # float ids are truncated, as in Keras
    return shoal.Model(
        [ids, floats],
        [L.Embedding(10, 3)(ids), L.GlobalAveragePooling1D()(L.Embedding(10, 2)(floats))],
        name="embedding",
    )


def preprocessing_model():
    """Augmentation (identities at inference), Rescaling of float and integer pixels,
    Normalization given and adapted (set after `randomize`, see test), CenterCrop."""
    x = shoal.Input((6, 8, 3))
    pixels = shoal.Input((6, 8, 3), dtype="int32")
    augmented = x
    for layer in (
        L.RandomFlip(),
        L.RandomRotation(0.2),
        L.RandomZoom(0.1),
        L.RandomTranslation(0.1, 0.1),
        L.RandomContrast(0.2),
        L.RandomBrightness(0.1),
    ):
        augmented = layer(augmented)
    outs = [
        augmented,
        L.Rescaling(1 / 255, offset=-0.5)(pixels),
        L.Rescaling([0.5, 2.0, 1.0])(x),
        L.Normalization(name="adapted")(x),
        L.Normalization(axis=(1, 2), mean=0.5, variance=4.0, invert=True)(x),
        L.CenterCrop(4, 5)(x),
    ]
    return shoal.Model([x, pixels], outs, name="preprocessing")


LAYER_MODELS = {
    "preprocessing": preprocessing_model,
    "vector": vector_model,
    "image": image_model,
    "sequence": sequence_model,
    "embedding": embedding_model,
}


@pytest.mark.parametrize("name", sorted(LAYER_MODELS))
def test_layers_match_predict(name):
    model = randomize(LAYER_MODELS[name](), seed=len(name))
    inputs = make_inputs(model, max(BATCHES))
    if name == "preprocessing":  # statistics from data, not `randomize`'s normals
        data = np.random.default_rng(5).normal(3.0, 2.0, (16, 6, 8, 3))
        model.get_layer("adapted").adapt(data)
    if name == "embedding":
        inputs[1] = np.random.default_rng(2).uniform(0, 9.9, inputs[1].shape).astype("float32")
    content, want = check_export(model, inputs)
    if name == "sequence":
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in op_names(content)
    if name in ("image", "sequence"):
        # int8 weights in conv, depthwise, separable and the RNNs' FULLY_CONNECTED: a wiring
        # check. A layer alone with a few random channels shows the hybrid kernels' input
        # quantization at a few percent; the example models below are held to 1e-2.
        content = export_tflite(model, quantize="dynamic", batch_size=None)
        for g, w in zip(run_tflite(content, inputs), want, strict=True):
            np.testing.assert_allclose(g, w, atol=5e-2 * np.abs(w).max())


def test_every_supported_layer_is_tested():
    tested = {
        type(layer).__name__
        for build in LAYER_MODELS.values()
        for layer in build().layers
        if not isinstance(layer, L.InputLayer)
    }
    tested |= {"Masking", "Sequential", "Functional"}  # in the tests below
    assert set(supported_layers()) <= tested


# -- masks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.GRU(4),
        lambda: L.LSTM(3, return_sequences=True),
        lambda: L.SimpleRNN(3),
        lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)),
        lambda: L.GlobalAveragePooling1D(),
    ],
    ids=["gru", "lstm_sequences", "simple_rnn", "bidirectional_lstm", "global_average"],
)
def test_masked_sequences_match_predict(make):
    model = randomize(seq(L.Embedding(12, 5, mask_zero=True), make(), shape=(6,), dtype="int32"))
    check_export(model, [text_ids()])


def test_initial_state_with_masks():
    """Masked first steps repeat the initial state (scan) or output zeros (unroll=True)."""
    x, h0 = shoal.Input((6,), dtype="int32", name="ids"), shoal.Input((4,), name="h0")
    e = L.Embedding(12, 3, mask_zero=True)(x)
    outs = [
        L.GRU(4, return_sequences=True, unroll=True)(e, initial_state=[h0]),
        *L.LSTM(4, return_sequences=True, return_state=True)(e, initial_state=[h0, h0]),
    ]
    model = randomize(shoal.Model([x, h0], outs), seed=4)
    ids = text_ids()
    ids[1, 0] = 0  # a masked first step
    check_export(model, [ids, make_inputs(model, max(BATCHES))[1]])


def test_masking_layer_and_nested_models():
    block = seq(L.Conv2D(2, 2, activation="relu"), L.BatchNormalization(), shape=(5, 5, 1))
    a, b = shoal.Input((5, 5, 1), name="left"), shoal.Input((5, 5, 2), name="right")
    merged = L.Concatenate()([block(a), block(L.Conv2D(1, 1)(b))])  # one model, called twice
    x = shoal.Input((4, 3), name="seq")
    masked = L.GRU(2)(L.Masking(0.0)(x))
    model = randomize(shoal.Model([a, b, x], [L.Dense(2)(L.Flatten()(merged)), masked]), 3)
    inputs = make_inputs(model, max(BATCHES))
    inputs[2][0, 2:] = 0.0
    check_export(model, inputs)


def test_mask_through_dense_in_nested_model_and_identity_output():
    encoder = seq(L.Embedding(12, 3, mask_zero=True), L.Dense(3), shape=(6,), dtype="int32")
    x = shoal.Input((6,), dtype="int32")
    v = shoal.Input((2,), name="passthrough")
    model = randomize(shoal.Model([x, v], [L.GRU(2)(encoder(x)), L.Dropout(0.1)(v)]), seed=6)
    inputs = [text_ids(), np.ones((3, 2), "float32")]
    check_export(model, inputs)


# -- example models ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_models():
    from shoal.cli import build_mnist_convnet

    models = {
        "mlp": mlp(),
        "mnist_convnet": build_mnist_convnet(),
        "text_lstm": text_lstm(),
        "gru": seq(
            L.GRU(6, return_sequences=True), L.GRU(4, reset_after=False), L.Dense(2), shape=(5, 3)
        ),
        "functional_multi_input": functional_multi_input(),
    }
    out = {}
    for i, (name, model) in enumerate(models.items()):
        model = randomize(model, seed=i)
        inputs = make_inputs(model, max(BATCHES))
        out[name] = (model, inputs, predict(model, inputs))
    return out


EXAMPLES = ["mlp", "mnist_convnet", "text_lstm", "gru", "functional_multi_input"]


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("quantize", [None, "dynamic"])
def test_example_model_matches_predict(example_models, name, quantize):
    model, inputs, want = example_models[name]
    content, _ = check_export(model, inputs, quantize=quantize, want=want)
    interpreter = Interpreter(model_content=content)
    types = {t["name"]: t["dtype"] for t in interpreter.get_tensor_details()}
    has_int8 = any(dtype == np.int8 for dtype in types.values())
    assert has_int8 == (quantize == "dynamic")


def test_quantized_file_is_smaller(example_models):
    model, _, _ = example_models["mnist_convnet"]
    full = export_tflite(model)
    small = export_tflite(model, quantize="dynamic")
    assert len(small) < len(full) / 3


def test_fixed_batch_file_interface_and_signature(example_models, tmp_path):
    model, inputs, want = example_models["functional_multi_input"]
    path = tmp_path / "sub" / "model.tflite"
    content = export_tflite(model, path, batch_size=3)
    assert path.read_bytes() == content
    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()
    assert [d["name"] for d in details] == ["numbers", "tokens"]
    assert [tuple(d["shape"]) for d in details] == [(3, 6), (3, 5)]
    assert [d["dtype"] for d in details] == [np.float32, np.int32]
    assert_close(run_tflite(content, inputs), want)
    runner = interpreter.get_signature_runner("serving_default")
    got = runner(numbers=inputs[0], tokens=inputs[1])
    assert sorted(got) == ["label", "score"]
    assert_close([got["label"], got["score"]], want)


def test_repeated_runs_start_from_zero_states(example_models):
    """The fused LSTM's state tensors are zeroed at every invoke (no state carried over)."""
    model, inputs, want = example_models["text_lstm"]
    content = export_tflite(model, batch_size=3)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in op_names(content)
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    output = interpreter.get_output_details()[0]["index"]
    for x in (inputs[0], inputs[0][::-1].copy(), inputs[0]):
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        expected = want[0] if x is inputs[0] else want[0][::-1]
        np.testing.assert_allclose(interpreter.get_tensor(output), expected, rtol=1e-5, atol=1e-6)


# -- errors --------------------------------------------------------------------------------


def test_unsupported_layer_names_it_and_lists_supported():
    model = seq(L.Dense(3), L.Conv1DTranspose(2, 2), shape=(4, 2))
    with pytest.raises(ValueError) as info:
        export_tflite(model)
    message = str(info.value)
    assert "conv1d_transpose" in message and "Conv1DTranspose" in message
    assert "Supported layers" in message and "Dense" in message and "LSTM" in message


@pytest.mark.parametrize(
    "make, shape, needle",
    [
        (lambda: L.Dense(2, activation="softplus"), (3,), "softplus"),
        (lambda: L.GRU(2, stateful=True), (4, 3), "stateful"),
        (lambda: L.Conv2D(2, 2, data_format="channels_first"), (1, 4, 4), "channels_first"),
        (lambda: L.Lambda(lambda x: x * 2), (3,), "Lambda"),
        (lambda: L.Softmax(axis=1), (3, 4), "axis"),
    ],
    ids=["activation", "stateful", "channels_first", "lambda", "softmax_axis"],
)
def test_unsupported_configurations_raise(make, shape, needle):
    model = seq(make(), shape=shape, batch_size=2 if needle == "stateful" else None)
    with pytest.raises(ValueError, match=needle):
        export_tflite(model)


def test_masked_layer_without_mask_support_raises():
    model = seq(L.Embedding(5, 3, mask_zero=True), L.Softmax(), shape=(4,), dtype="int32")
    with pytest.raises(ValueError, match="mask"):
        export_tflite(model)


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"quantize": "int4"}, "quantize"), ({"batch_size": 0}, "batch_size")],
)
def test_bad_arguments_raise(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        export_tflite(seq(L.Dense(2), shape=(3,)), **kwargs)


def test_unknown_input_length_raises():
    with pytest.raises(ValueError, match="fixed size"):
        export_tflite(seq(L.LSTM(2), shape=(None, 3)))


def test_keras_format_name_litert(example_models, tmp_path):
    # Keras 3 calls this format "litert": `model.export(path, format="litert")` runs as is.
    model, inputs, want = example_models["functional_multi_input"]
    path = tmp_path / "model.tflite"
    content = model.export(path, format="litert")
    assert path.read_bytes() == content
    assert_close(run_tflite(content, inputs), want)
