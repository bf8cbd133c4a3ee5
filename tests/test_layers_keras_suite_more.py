"""More faults found by running Keras 3.15's own layer unit tests (and a few known gaps)
against shoal; each case is compared with Keras 3.15 (JAX backend)."""

import re
import warnings

import numpy as np
import pytest

import shoal


def _keras():
    import keras

    return keras


def _lib(name):
    return shoal if name == "shoal" else _keras()


def _summary_text(model) -> str:
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=80)
    # Keras numbers layer and model names per process: compare the name stems (and so
    # the text without the padding that follows a name).
    text = re.sub(r"\b([a-z][a-z_]*?)_\d+\b", r"\1", "\n".join(lines))
    return re.sub(r" +", " ", text)


def _summaries_of_eagerly_built_models(lib):
    class TwoDense(lib.Model):
        def __init__(self):
            super().__init__(name="two_dense")
            self.d1 = lib.layers.Dense(4)
            self.d2 = lib.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    x = np.ones((3, 5), "float32")
    subclassed = TwoDense()
    subclassed(x)
    sequential = lib.Sequential([lib.layers.Dense(4), lib.layers.Dense(2)])
    sequential(x)
    return (
        _summary_text(subclassed),
        _summary_text(sequential),
        sequential.compute_output_shape((None, 5)),
        sequential(np.ones((7, 5), "float32")).shape,
        subclassed.get_build_config(),
    )


def test_summary_shows_the_shapes_an_eager_call_built_with():
    ours, theirs = (
        _summaries_of_eagerly_built_models(shoal),
        _summaries_of_eagerly_built_models(_keras()),
    )
    assert "(3, 4)" in ours[0] and "(3, 2)" in ours[1]
    assert ours[0] == theirs[0]
    assert ours[1] == theirs[1]
    assert tuple(ours[2]) == tuple(theirs[2]) == (None, 2)
    assert tuple(ours[3]) == tuple(theirs[3]) == (7, 2)
    assert tuple(ours[4]["input_shape"]) == tuple(theirs[4]["input_shape"]) == (3, 5)


def _functional_output_shapes(lib):
    a = lib.Input((3,), name="a")
    b = lib.Input((4,), name="b", dtype="int32")
    joined = lib.layers.Concatenate()(
        [lib.layers.Dense(2)(a), lib.layers.Embedding(10, 2)(b)[:, 0]]
    )
    model = lib.Model({"a": a, "b": b}, [joined, lib.layers.Dense(1)(joined)])
    return [
        model.compute_output_shape({"a": (None, 3), "b": (None, 4)}),
        model.compute_output_shape({"a": (5, 3), "b": (5, 4)}),
    ]


def test_functional_compute_output_shape_follows_the_given_batch_size():
    ours, theirs = _functional_output_shapes(shoal), _functional_output_shapes(_keras())
    assert [[tuple(s) for s in x] for x in ours] == [[tuple(s) for s in x] for x in theirs]
    assert tuple(ours[1][1]) == (5, 1)


# -- ReversibleEmbedding.quantize --------------------------------------------------------------
_IDS = np.array([[1, 2, 3], [4, 0, 5]])
_HIDDEN = np.sin(np.arange(30)).reshape(2, 3, 5).astype("float32")


def _quantized_reversible(lib, mode, block_size, tie):
    layer = lib.layers.ReversibleEmbedding(7, 5, tie_weights=tie, logit_soft_cap=2.0)
    layer.build()
    layer.embeddings.assign(np.linspace(-1, 1, 35).reshape(7, 5).astype("float32") ** 3)
    if not tie:
        layer.reverse_embeddings.assign(np.cos(np.arange(35)).reshape(5, 7).astype("float32"))
    config = None
    if block_size is not None:
        config = lib.quantizers.Int4QuantizationConfig(block_size=block_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras' own, from numpy
        layer.quantize(mode, config=config)
    store = {}
    layer.save_own_variables(store)
    return (
        [(w.path.split("/")[-1], tuple(w.shape), str(w.dtype), w.trainable) for w in layer.weights],
        [np.asarray(w.numpy()) for w in layer.weights],
        np.asarray(layer(_IDS)),
        np.asarray(layer(_HIDDEN, reverse=True)),
        [np.asarray(store[k]) for k in sorted(store, key=int)],
        layer.dtype_policy.name,
    )


@pytest.mark.parametrize(
    "mode, block_size, tie",
    [
        ("int8", None, True),
        ("int8", None, False),
        ("int4", None, True),
        ("int4", None, False),
        ("int4", -1, True),
        ("int4", -1, False),
        ("int4", 2, True),
        ("int4", 2, False),
    ],
)
def test_reversible_embedding_quantize_as_keras(mode, block_size, tie):
    ours = _quantized_reversible(shoal, mode, block_size, tie)
    theirs = _quantized_reversible(_keras(), mode, block_size, tie)
    assert ours[0] == theirs[0]  # names, shapes, dtypes, order, all frozen
    for a, b in zip(ours[1], theirs[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-5, atol=1e-6)  # embedding
    np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-5, atol=1e-5)  # reverse=True
    assert len(ours[4]) == len(theirs[4])  # the weights file
    for a, b in zip(ours[4], theirs[4], strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert ours[5] == theirs[5]


def _reversible_model(lib, mode, tie):
    ids = lib.Input((3,), dtype="int32")
    hidden = lib.Input((3, 5))
    layer = lib.layers.ReversibleEmbedding(7, 5, tie_weights=tie, name="rev")
    model = lib.Model([ids, hidden], [layer(ids), layer(hidden, reverse=True)])
    layer.embeddings.assign(np.linspace(-1, 1, 35).reshape(7, 5).astype("float32") ** 3)
    if not tie:
        layer.reverse_embeddings.assign(np.cos(np.arange(35)).reshape(5, 7).astype("float32"))
    config = lib.quantizers.Int4QuantizationConfig(block_size=2) if mode == "int4" else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # Keras' own DeprecationWarning from numpy too
        model.quantize(mode, config=config)
    assert any("InputLayer" in str(w.message) for w in caught)  # it cannot be quantized
    return model


@pytest.mark.parametrize("mode, tie", [("int8", False), ("int4", False), ("int4", True)])
def test_quantized_reversible_embedding_saved_file_loads_in_keras_and_back(mode, tie, tmp_path):
    keras = _keras()
    ours, theirs = _reversible_model(shoal, mode, tie), _reversible_model(keras, mode, tie)
    inputs = [_IDS, _HIDDEN]
    expected = [np.asarray(o) for o in theirs.predict(inputs, verbose=0)]
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    loaded_by_keras = keras.saving.load_model(tmp_path / "ours.keras")
    loaded_by_shoal = shoal.saving.load_model(tmp_path / "theirs.keras")
    for model in (ours, loaded_by_keras, loaded_by_shoal):
        for got, want in zip(model.predict(inputs, verbose=0), expected, strict=True):
            np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    assert [w.path for w in loaded_by_shoal.weights] == [w.path for w in theirs.weights]


def _lora_store(lib, mode):
    layer = lib.layers.ReversibleEmbedding(7, 5, tie_weights=False)
    layer.build()
    layer.reverse_embeddings.assign(np.cos(np.arange(35)).reshape(5, 7).astype("float32"))
    if mode:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Keras' own, from numpy
            layer.quantize(mode)
    layer.enable_lora(2)
    store = {}
    layer.save_own_variables(store)
    layer.load_own_variables(store)
    return [(tuple(np.shape(v)), str(np.asarray(v).dtype)) for v in store.values()], np.asarray(
        layer(_HIDDEN, reverse=True)
    )


@pytest.mark.parametrize("mode", [None, "int8"])
def test_untied_reversible_embedding_with_lora_saves_the_reverse_table(mode):
    ours, theirs = _lora_store(shoal, mode), _lora_store(_keras(), mode)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-5, atol=1e-5)


# -- Embedding.embeddings reads as Keras' property -----------------------------------------
def _embeddings_views(lib):
    layer = lib.layers.Embedding(3, 2)
    layer.build()
    layer.embeddings.assign(np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], "float32"))
    layer.enable_lora(2, lora_alpha=3.0)
    layer.lora_embeddings_a.assign(np.array([[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "float32"))
    layer.lora_embeddings_b.assign(np.array([[0.5, 0.5], [0.6, 0.6]], "float32"))
    merged = np.asarray(layer.embeddings)  # the table plus the LoRA update
    packed = lib.layers.Embedding(4, 5)
    packed.build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras' own, from numpy
        packed.quantize("int4")
    unpacked = np.asarray(packed.embeddings)  # the int4 values, unpacked
    from_variable = lib.quantizers.unpack_int4(packed.weights[0], 5, axis=-1)
    return merged, unpacked, np.asarray(from_variable), str(unpacked.dtype)


def test_embedding_table_property_as_keras():
    keras = _keras()
    keras.utils.set_random_seed(0)
    shoal.utils.set_random_seed(0)
    ours, theirs = _embeddings_views(shoal), _embeddings_views(keras)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    np.testing.assert_allclose(ours[0][0], [0.265, 0.365], rtol=1e-6)  # 0.1 + 1.5 * 0.11
    assert ours[1].shape == theirs[1].shape == (4, 5)
    assert ours[3] == theirs[3] == "int8"
    np.testing.assert_array_equal(ours[2], ours[1])  # a Variable unpacks too
    np.testing.assert_array_equal(theirs[2], theirs[1])


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.UnitNormalization(axis=-1),
        lambda lib: lib.layers.MaxPooling1D(2),
        lambda lib: lib.layers.AveragePooling2D((2, 2)),
    ],
)
def test_stateless_layers_are_built_at_instantiation(make):
    assert make(shoal).built and make(_keras()).built
    layer = make(shoal)
    shape = (1, 4, 4, 2) if isinstance(layer, shoal.layers.AveragePooling2D) else (1, 4, 2)
    x = np.arange(np.prod(shape), dtype="float32").reshape(shape)
    theirs = make(_keras())(x)
    np.testing.assert_allclose(np.asarray(layer(x)), np.asarray(theirs), rtol=1e-6)


def test_pooling_input_too_small_is_a_clear_error():
    with pytest.raises(ValueError, match="too small for kernel/pool size"):
        shoal.layers.MaxPooling1D(5)(np.ones((1, 3, 2), "float32"))


def _quantized_after_lora(lib, make, mode):
    layer = make(lib)
    layer.build()
    layer.weights[0].assign(np.linspace(-1, 1, 35).reshape(7, 5).astype("float32") ** 3)
    if getattr(layer, "tie_weights", True) is False:
        layer.reverse_embeddings.assign(np.cos(np.arange(35)).reshape(5, 7).astype("float32"))
    layer.enable_lora(2)
    layer.lora_embeddings_a.assign(np.cos(np.arange(14)).reshape(7, 2).astype("float32"))
    layer.lora_embeddings_b.assign(np.sin(np.arange(10)).reshape(2, 5).astype("float32") * 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras' own, from numpy
        layer.quantize(mode)
    store = {}
    layer.save_own_variables(store)
    outputs = [np.asarray(layer(_IDS))]
    if hasattr(layer, "tie_weights"):
        outputs.append(np.asarray(layer(_HIDDEN, reverse=True)))
    return [w.path.split("/")[-1] for w in layer.weights], outputs, list(store.values())


@pytest.mark.parametrize("mode", ["int8", "int4"])
@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.layers.Embedding(7, 5),
        lambda lib: lib.layers.ReversibleEmbedding(7, 5, tie_weights=False),
    ],
)
def test_embedding_quantized_after_enable_lora_as_keras(make, mode):
    ours, theirs = (
        _quantized_after_lora(shoal, make, mode),
        _quantized_after_lora(_keras(), make, mode),
    )
    assert ours[0] == theirs[0]  # the factors first, then the quantized variables
    for a, b in zip(ours[1] + ours[2], theirs[1] + theirs[2], strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_cudnn", [True, False])
def test_bidirectional_keeps_use_cudnn(use_cudnn):
    for lib in (shoal, _keras()):
        bidi = lib.layers.Bidirectional(lib.layers.LSTM(1, use_cudnn=use_cudnn))
        assert bidi.forward_layer.use_cudnn is use_cudnn
        assert bidi.backward_layer.use_cudnn is use_cudnn
