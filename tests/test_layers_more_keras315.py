"""Adaptive pooling, GroupQueryAttention, ReversibleEmbedding, HashedCrossing and Pipeline,
against Keras 3.15 (JAX backend) given the same weights."""

import os
import tempfile

import jax
import numpy as np
import pytest
from harness import check_gradients, make_input, save_load_round_trip

import shoal
from shoal.layers.adaptive_pooling import (
    AdaptiveAveragePooling1D,
    AdaptiveAveragePooling2D,
    AdaptiveAveragePooling3D,
    AdaptiveMaxPooling1D,
    AdaptiveMaxPooling2D,
    AdaptiveMaxPooling3D,
)
from shoal.layers.group_query_attention import GroupQueryAttention
from shoal.layers.hashed_crossing import HashedCrossing
from shoal.layers.pipeline import Pipeline
from shoal.layers.reversible_embedding import ReversibleEmbedding


def _keras():
    import keras

    return keras


def _close(a, b, rtol=1e-5, atol=1e-5):
    a_leaves, b_leaves = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(a_leaves) == len(b_leaves)
    for x, y in zip(a_leaves, b_leaves, strict=True):
        np.testing.assert_allclose(
            np.asarray(x, "float64"), np.asarray(y, "float64"), rtol=rtol, atol=atol
        )


def _fit_one_step(model, x, y, loss="mse"):
    model.compile(optimizer="sgd", loss=loss)
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=len(y), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    after = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


def _symbolic_shapes(out):
    return [
        tuple(t.shape)
        for t in jax.tree_util.tree_leaves(out, is_leaf=shoal.backend.is_keras_tensor)
    ]


# -- adaptive pooling -----------------------------------------------------------------------

POOL_CASES = [
    (AdaptiveAveragePooling1D, 3, (2, 7, 3)),
    (AdaptiveMaxPooling1D, (4,), (2, 7, 3)),
    (AdaptiveAveragePooling2D, (2, 3), (2, 5, 7, 3)),
    (AdaptiveMaxPooling2D, 3, (2, 5, 7, 3)),
    (AdaptiveAveragePooling3D, (2, 3, 2), (1, 5, 4, 3, 2)),
    (AdaptiveMaxPooling3D, 2, (1, 5, 4, 3, 2)),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("cls, output_size, shape", POOL_CASES)
def test_adaptive_pooling_matches_keras(cls, output_size, shape, data_format):
    x = make_input(shape, seed=1)
    layer = cls(output_size, data_format=data_format)
    out = layer(x)
    want = getattr(_keras().layers, cls.__name__)(output_size, data_format=data_format)(x)
    _close(out, want)
    assert tuple(out.shape) == layer.compute_output_shape(shape)
    assert _symbolic_shapes(layer(shoal.Input(batch_shape=(None, *shape[1:])))) == [
        (None, *out.shape[1:])
    ]
    config = layer.get_config()
    clone = cls.from_config(config)
    assert clone.get_config() == config
    _close(clone(x), out, 0, 0)
    # Keras reads shoal's config and shoal reads Keras'
    twin = getattr(_keras().layers, cls.__name__).from_config(config)
    _close(twin(x), out)
    assert cls.from_config(twin.get_config()).get_config() == config


def test_adaptive_pooling_gradients_and_integers():
    layer = AdaptiveAveragePooling2D((2, 3))
    check_gradients(layer, (make_input((1, 5, 7, 2), seed=2),))
    check_gradients(AdaptiveMaxPooling1D(3), (make_input((2, 7, 2), seed=3),))
    ints = np.arange(14, dtype="int32").reshape(1, 7, 2)
    out = AdaptiveAveragePooling1D(2)(ints)  # a mean of integers is a float
    assert out.dtype == np.float32
    _close(out, _keras().layers.AdaptiveAveragePooling1D(2)(ints.astype("float32")))


def test_adaptive_pooling_trains_and_saves():
    x = make_input((4, 6, 5, 2), seed=4)
    y = make_input((4, 1), seed=5)
    inputs = shoal.Input((6, 5, 2))
    h = AdaptiveAveragePooling2D((2, 2))(inputs)
    h = AdaptiveMaxPooling2D(1, data_format="channels_first")(h)
    outputs = shoal.layers.Dense(1)(shoal.layers.Flatten()(h))
    model = shoal.Model(inputs, outputs)
    _fit_one_step(model, x, y)
    save_load_round_trip(model, x)


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: AdaptiveAveragePooling2D((2, 2, 2)), TypeError, ["output_size", "(2, 2, 2)"]),
        (lambda: AdaptiveMaxPooling1D("3"), TypeError, ["output_size", "'3'"]),
        (lambda: AdaptiveMaxPooling3D(0), ValueError, ["output_size", "positive", "0"]),
        (lambda: AdaptiveAveragePooling1D(2, data_format="nhwc"), ValueError, ["data_format"]),
    ],
)
def test_adaptive_pooling_errors(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in words:
        assert word in str(info.value)


def test_adaptive_pooling_wrong_rank():
    with pytest.raises(ValueError, match="ndim|rank"):
        AdaptiveMaxPooling2D(2)(np.zeros((2, 5, 3), "float32"))


# -- GroupQueryAttention ----------------------------------------------------------------------


def _bool_mask(shape, seed, p=0.7):
    mask = np.random.default_rng(seed).random(shape) < p
    mask[..., 0] = True  # every row attends somewhere
    return mask


QUERY = make_input((2, 3, 6), seed=10)
VALUE = make_input((2, 5, 4), seed=11)
KEY = make_input((2, 5, 3), seed=12)
ATTENTION_MASK = _bool_mask((2, 3, 5), 13)
GQA = {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2}


def _gqa_twin(layer, kwargs, args, call_kwargs):
    twin = _keras().layers.GroupQueryAttention(**kwargs)
    twin(*args)
    twin.set_weights(layer.get_weights())
    return twin, twin(*args, **call_kwargs)


@pytest.mark.parametrize(
    "kwargs, args, call_kwargs",
    [
        (GQA, (QUERY, QUERY), {}),  # self-attention, fused kernel
        (GQA, (QUERY, VALUE, KEY), {"return_attention_scores": True}),
        (GQA, (QUERY, QUERY), {"use_causal_mask": True}),  # the fused causal kernel
        (GQA, (QUERY, QUERY), {"use_causal_mask": True, "return_attention_scores": True}),
        (
            {**GQA, "num_key_value_heads": 1, "use_bias": False},  # multi-query attention
            (QUERY, VALUE, KEY),
            {"use_causal_mask": True, "attention_mask": ATTENTION_MASK},
        ),
        (
            GQA,
            (QUERY, VALUE),
            {
                "query_mask": _bool_mask((2, 3), 14),
                "value_mask": _bool_mask((2, 5), 15),
                "return_attention_scores": True,
            },
        ),
        (GQA, (QUERY, VALUE), {"attention_mask": ATTENTION_MASK[:1]}),  # broadcast batch
        (
            {**GQA, "use_gate": True, "sliding_window": 2},
            (QUERY, QUERY),
            {"return_attention_scores": True, "use_causal_mask": True},
        ),
        ({**GQA, "num_key_value_heads": 4}, (QUERY, VALUE), {"key_mask": _bool_mask((2, 5), 16)}),
    ],
)
def test_group_query_attention_matches_keras(kwargs, args, call_kwargs):
    layer = GroupQueryAttention(**kwargs)
    out = layer(*args, **call_kwargs)
    _, want = _gqa_twin(layer, kwargs, args, call_kwargs)
    _close(out, want)
    leaves = jax.tree_util.tree_leaves(out)
    assert tuple(leaves[0].shape) == layer.compute_output_shape(*[a.shape for a in args])
    if call_kwargs.get("return_attention_scores"):
        heads = kwargs["num_query_heads"]
        assert leaves[1].shape == (2, heads, 3, args[1].shape[1])
    symbolic = layer(
        *[shoal.Input(batch_shape=a.shape) for a in args],
        **{k: v for k, v in call_kwargs.items() if not k.endswith("mask")},
    )
    assert _symbolic_shapes(symbolic) == [tuple(x.shape) for x in leaves]


def test_group_query_attention_weights_and_masked_scores():
    layer = GroupQueryAttention(**GQA, use_gate=True)
    _, scores = layer(
        QUERY, VALUE, KEY, attention_mask=ATTENTION_MASK, return_attention_scores=True
    )
    name = layer.name
    assert [(w.path, w.shape) for w in layer.weights] == [
        (f"{name}/query/kernel", (6, 4, 2)),
        (f"{name}/query/bias", (4, 2)),
        (f"{name}/key/kernel", (3, 2, 2)),
        (f"{name}/key/bias", (2, 2)),
        (f"{name}/gate/kernel", (6, 4, 2)),
        (f"{name}/gate/bias", (4, 2)),
        (f"{name}/value/kernel", (4, 2, 2)),
        (f"{name}/value/bias", (2, 2)),
        (f"{name}/attention_output/kernel", (4, 2, 6)),
        (f"{name}/attention_output/bias", (6,)),
    ]
    assert layer.name.startswith("grouped_query_attention")
    scores = np.asarray(scores).transpose(0, 2, 3, 1)  # (B, T, S, heads)
    assert np.all(scores[~ATTENTION_MASK] == 0)
    np.testing.assert_allclose(scores.sum(axis=2), 1.0, rtol=1e-5)


def test_group_query_attention_gradients_and_dropout():
    layer = GroupQueryAttention(**GQA)
    layer(QUERY, VALUE)
    check_gradients(
        layer, (QUERY, VALUE), {"attention_mask": ATTENTION_MASK, "return_attention_scores": True}
    )

    drop = GroupQueryAttention(**GQA, dropout=0.5, seed=1)
    inference, scores = drop(QUERY, VALUE, return_attention_scores=True)
    _close(inference, drop(QUERY, VALUE, training=False))
    trained, train_scores = drop(QUERY, VALUE, training=True, return_attention_scores=True)
    _close(train_scores, scores)  # the scores are returned before dropout, as in Keras
    assert not np.allclose(trained, inference)


def test_group_query_attention_config_and_regularizers():
    kwargs = {
        **GQA,
        "dropout": 0.25,
        "use_bias": False,
        "use_gate": True,
        "sliding_window": 3,
        "kernel_initializer": {"class_name": "Zeros", "config": {}},
        "bias_initializer": "ones",
        "kernel_regularizer": "l2",
        "activity_regularizer": "l2",
        "seed": 4,
    }
    layer = GroupQueryAttention(**kwargs)
    out = layer(QUERY, VALUE)
    config = layer.get_config()
    clone = GroupQueryAttention.from_config(config)
    assert clone.get_config() == config
    clone(QUERY, VALUE)
    clone.set_weights(layer.get_weights())
    _close(clone(QUERY, VALUE), out)
    twin = _keras().layers.GroupQueryAttention.from_config(config)
    twin(QUERY, VALUE)
    twin.set_weights(layer.get_weights())
    _close(twin(QUERY, VALUE), out)
    assert len(layer.losses) == len(twin.losses)  # 4 kernels + 4 + 1 activities
    keras_config = twin.get_config()
    ours = GroupQueryAttention.from_config(keras_config).get_config()
    assert {k: v for k, v in ours.items() if k != "name"} == {
        k: v for k, v in config.items() if k != "name"
    }


# Keras' GQA warns that its EinsumDense sub-layers drop the (propagated) masks.
@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
def test_group_query_attention_masks_from_embeddings_trains_and_saves():
    keras = _keras()
    ids = np.array([[3, 4, 1, 0], [5, 1, 0, 0]], "int32")

    def build(lib):
        inputs = lib.Input((4,), dtype="int32")
        x = lib.layers.Embedding(8, 6, mask_zero=True, name="e")(inputs)
        gqa = (GroupQueryAttention if lib is shoal else lib.layers.GroupQueryAttention)(
            **GQA, name="gqa"
        )
        out = gqa(x, x)
        pooled = lib.layers.GlobalAveragePooling1D()(out)  # uses the output (query) mask
        return lib.Model(inputs, lib.layers.Dense(1)(pooled))

    ours, theirs = build(shoal), build(keras)
    theirs.set_weights(ours.get_weights())
    _close(ours.predict(ids, verbose=0), theirs(ids))
    _fit_one_step(ours, ids, np.ones((2, 1), "float32"))
    save_load_round_trip(ours, ids)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({**GQA, "num_query_heads": 3}, ValueError, ["num_query_heads", "divisible", "3"]),
        ({**GQA, "head_dim": 0}, ValueError, ["head_dim", "positive integer", "0"]),
        ({**GQA, "num_key_value_heads": 1.5}, ValueError, ["num_key_value_heads", "1.5"]),
        ({**GQA, "dropout": 1.5}, ValueError, ["dropout", "[0, 1)", "1.5"]),
        ({**GQA, "sliding_window": -1}, ValueError, ["sliding_window", "-1"]),
        ({**GQA, "flash_attention": "yes"}, ValueError, ["flash_attention", "'yes'"]),
        ({**GQA, "flash_attention": True, "dropout": 0.1}, ValueError, ["dropout", "0.1"]),
        ({**GQA, "seed": "a"}, ValueError, ["seed", "'a'"]),
        ({**GQA, "kernel_initializer": "nope"}, ValueError, ["nope"]),
    ],
)
def test_group_query_attention_argument_errors(kwargs, error, words):
    with pytest.raises(error) as info:
        GroupQueryAttention(**kwargs)
    message = str(info.value)
    assert "GroupedQueryAttention" in message
    for word in words:
        assert word in message


def test_group_query_attention_call_errors():
    layer = GroupQueryAttention(**GQA)
    with pytest.raises(ValueError, match="attention_mask.*got shape \\(2, 5, 3\\)"):
        layer(QUERY, VALUE, attention_mask=np.ones((2, 5, 3), bool))
    with pytest.raises(ValueError, match="'query' must have shape"):
        GroupQueryAttention(**GQA)(np.zeros((2, 3, 2, 6), "float32"), QUERY)
    layer(QUERY, VALUE)
    with pytest.raises(ValueError, match="'value' must have shape \\(batch, steps, 4\\)"):
        layer(QUERY, QUERY)
    with pytest.raises(ValueError, match="value and key"):
        layer(QUERY, VALUE, np.zeros((2, 4, 4), "float32"))
    if jax.devices()[0].platform != "gpu":
        flash = GroupQueryAttention(**GQA, flash_attention=True)
        with pytest.raises(ValueError, match="flash_attention=True needs a GPU"):
            flash(QUERY, QUERY)
        with pytest.raises(ValueError, match="return_attention_scores"):
            flash(QUERY, QUERY, return_attention_scores=True)


# -- ReversibleEmbedding ----------------------------------------------------------------------

IDS = np.array([[1, 2, 0, 4], [3, 0, 0, 5]], "int32")


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"tie_weights": False},
        {"logit_soft_cap": 0.05, "mask_zero": True},
        {"tie_weights": False, "reverse_dtype": "float16", "logit_soft_cap": 2.0},
    ],
)
def test_reversible_embedding_matches_keras(kwargs):
    layer = ReversibleEmbedding(7, 3, **kwargs)
    hidden = layer(IDS)
    hidden_in = make_input((2, 4, 3), seed=20)
    logits = layer(hidden_in, reverse=True)
    twin = _keras().layers.ReversibleEmbedding(7, 3, **kwargs)
    twin(IDS)
    twin.set_weights(layer.get_weights())
    _close(hidden, twin(IDS))
    tol = 2e-3 if "reverse_dtype" in kwargs else 1e-5
    want = twin(hidden_in, reverse=True)
    assert logits.dtype == want.dtype
    _close(logits, want, tol, tol)
    assert logits.shape == layer.compute_output_shape(hidden_in.shape, reverse=True) == (2, 4, 7)
    assert hidden.shape == layer.compute_output_shape(IDS.shape) == (2, 4, 3)
    names = [w.name for w in layer.weights]
    assert names == (
        ["embeddings"] if kwargs.get("tie_weights", True) else ["embeddings", "reverse_embeddings"]
    )
    if "logit_soft_cap" in kwargs:
        assert np.abs(np.asarray(logits)).max() <= kwargs["logit_soft_cap"]
    config = layer.get_config()
    clone = ReversibleEmbedding.from_config(config)
    assert clone.get_config() == config
    clone.build()
    clone.set_weights(layer.get_weights())
    _close(clone(hidden_in, reverse=True), logits, 0, 0)
    twin_config = twin.get_config()
    assert ReversibleEmbedding.from_config(twin_config).get_config() == config
    if "reverse_dtype" not in kwargs:  # float16 is too coarse for finite differences
        # A cap of 0.05 bends tanh within a step of 1e-3 for some initial weights (1.7% of
        # seeds measured): a smaller step there; the gradient itself is exact.
        eps = 1e-4 if kwargs.get("logit_soft_cap", 1.0) < 0.1 else 1e-3
        check_gradients(layer, (hidden_in,), {"reverse": True}, eps=eps)


def test_reversible_embedding_masks_weights_arg_and_mixed_precision():
    keras = _keras()

    def build(lib, cls):
        ids = lib.Input((4,), dtype="int32")
        emb = cls(7, 3, mask_zero=True, tie_weights=False, name="emb")
        hidden = emb(ids)
        pooled = lib.layers.GlobalAveragePooling1D()(hidden)  # honours the ids' mask
        logits = emb(hidden, reverse=True)
        return lib.Model(ids, [pooled, logits]), hidden, logits

    ours, hidden, logits = build(shoal, ReversibleEmbedding)
    theirs, _, _ = build(keras, keras.layers.ReversibleEmbedding)
    assert hidden._keras_mask is not None and logits._keras_mask is None
    theirs.set_weights(ours.get_weights())
    _close(ours.predict(IDS, verbose=0), theirs(IDS))

    table, reverse = make_input((7, 3), seed=21), make_input((3, 7), seed=22)
    layer = ReversibleEmbedding(7, 3, tie_weights=False, weights=[table, reverse])
    _close(layer.get_weights(), [table, reverse], 0, 0)

    mixed = ReversibleEmbedding(7, 3, dtype="mixed_float16")
    mixed.build()
    twin = keras.layers.ReversibleEmbedding(7, 3, dtype="mixed_float16")
    twin(IDS)
    twin.set_weights(mixed.get_weights())
    got, want = mixed(IDS), twin(IDS)
    assert got.dtype == want.dtype == "float16"
    _close(got, want, 1e-3, 1e-3)
    # Reverse: float16 hidden states against the float32 table (autocast=False, as for
    # Embedding) give float32 logits. Keras gives float16 for a top-level call (its
    # autocast scope ignores autocast=False there) and float32 inside a mixed model.
    hidden = make_input((2, 4, 3), seed=23).astype("float16")
    got, want = mixed(hidden, reverse=True), twin(hidden, reverse=True)
    assert got.dtype == "float32"
    _close(got, want, 2e-3, 2e-3)
    half = ReversibleEmbedding(7, 3, dtype="mixed_float16", reverse_dtype="float16")
    assert half(hidden, reverse=True).dtype == "float16"


def test_reversible_embedding_trains_and_saves():
    ids = shoal.Input((4,), dtype="int32")
    emb = ReversibleEmbedding(7, 3, tie_weights=False, logit_soft_cap=5.0)
    hidden = shoal.layers.Dense(3)(emb(ids))
    model = shoal.Model(ids, emb(hidden, reverse=True))
    targets = np.array([[1, 2, 3, 4], [3, 1, 1, 5]], "int32")
    loss = shoal.losses.SparseCategoricalCrossentropy(from_logits=True)
    _fit_one_step(model, IDS, targets, loss=loss)
    save_load_round_trip(model, IDS)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"tie_weights": "yes"}, TypeError, ["tie_weights", "bool", "'yes'"]),
        ({"logit_soft_cap": -1.0}, ValueError, ["logit_soft_cap", "positive", "-1.0"]),
        ({"reverse_dtype": "int32"}, ValueError, ["reverse_dtype", "floating", "'int32'"]),
        ({"reverse_dtype": "nope"}, ValueError, ["reverse_dtype", "'nope'"]),
        ({"output_dim": 0}, ValueError, ["output_dim", "0"]),
    ],
)
def test_reversible_embedding_errors(kwargs, error, words):
    args = {"input_dim": 7, "output_dim": 3, **kwargs}
    with pytest.raises(error) as info:
        ReversibleEmbedding(**args)
    for word in ["ReversibleEmbedding", *words]:
        assert word in str(info.value)


# -- HashedCrossing ---------------------------------------------------------------------------

FEAT1 = np.array(["A", "B", "A", "B", "A"])
FEAT2 = np.array([101, 101, 101, 102, 102])


def test_hashed_crossing_matches_keras_examples():
    # Keras' documented outputs (it runs TensorFlow's tf.sparse.cross_hashed)
    out = HashedCrossing(num_bins=5)((FEAT1, FEAT2))
    np.testing.assert_array_equal(out, [1, 4, 1, 1, 3])
    assert out.dtype == np.int64
    onehot = HashedCrossing(num_bins=5, output_mode="one_hot")((FEAT1, FEAT2))
    np.testing.assert_array_equal(onehot, np.eye(5, dtype="float32")[[1, 4, 1, 1, 3]])
    assert onehot.dtype == np.float32
    column = HashedCrossing(num_bins=5, output_mode="one_hot")((FEAT1[:, None], FEAT2[:, None]))
    np.testing.assert_array_equal(column, onehot)  # (batch, 1) -> (batch, num_bins)
    np.testing.assert_array_equal(
        HashedCrossing(num_bins=5)((FEAT1[:, None], FEAT2[:, None])), [[1], [4], [1], [1], [3]]
    )
    assert HashedCrossing(num_bins=10)((np.array("A"), np.array(101))) == 1
    assert HashedCrossing(num_bins=10)((np.array("A"), np.array(101))).shape == ()


# tf.sparse.cross_hashed(columns, num_bins) as computed by TensorFlow (what Keras runs).
TF_CROSSES = [
    ([["a", "bb", "hello world", "", "A"], ["x", "y", "z", "w", "A"]], 7, [4, 5, 4, 1, 5]),
    (
        [["a", "bb", "hello world", "", "A"], ["x", "y", "z", "w", "A"]],
        1000003,
        [830744, 4754, 668103, 343570, 386170],
    ),
    (
        [[0, 1, -1, 2**40, -(2**62)], [5, 6, 7, 8, 9]],
        1000003,
        [988958, 361243, 844837, 643845, 340740],
    ),
    (
        [["a", "b", "c", "d", "e"], [1, 2, 3, 4, 5], ["p", "q", "r", "s", "t"]],
        1000003,
        [313656, 276804, 180014, 688892, 205730],
    ),
    (
        [["x" * 100, "y" * 40, "z" * 17, "w" * 64, "v" * 65], [3, 3, 3, 3, 3]],
        1000003,
        [61199, 846961, 12026, 998834, 832960],
    ),
]


@pytest.mark.parametrize("columns, num_bins, want", TF_CROSSES)
def test_hashed_crossing_matches_tensorflow(columns, num_bins, want):
    got = HashedCrossing(num_bins)([np.array(c) for c in columns])
    np.testing.assert_array_equal(got, want)


def test_hashed_crossing_inputs_and_config():
    layer = HashedCrossing(num_bins=7)
    base = layer((FEAT1, FEAT2))
    # bytes and str, int32 and int64, lists of Python values: the same crosses
    np.testing.assert_array_equal(layer((FEAT1.astype("S"), FEAT2.astype("int32"))), base)
    np.testing.assert_array_equal(layer([list(FEAT1), list(FEAT2)]), base)
    # three features cross too
    three = layer((FEAT1, FEAT2, np.array([-1, 2, 3, 2**40, 0])))
    assert three.shape == (5,) and np.all((three >= 0) & (three < 7))
    assert layer.compute_output_shape([(5,), (5,)]) == (5,)
    assert HashedCrossing(3, output_mode="one_hot").compute_output_shape([(5, 1), (5, 1)]) == (5, 3)
    assert HashedCrossing(3, dtype="int32")((FEAT1, FEAT2)).dtype == np.int32
    config = layer.get_config()
    clone = HashedCrossing.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_array_equal(clone((FEAT1, FEAT2)), base)
    # Keras' own config (its HashedCrossing needs TensorFlow to run, so only the config)
    keras_config = {
        "num_bins": 7,
        "output_mode": "int",
        "sparse": False,
        "name": "hc",
        "dtype": "int64",
    }
    np.testing.assert_array_equal(HashedCrossing.from_config(keras_config)((FEAT1, FEAT2)), base)


def test_hashed_crossing_feeds_a_model_that_trains():
    crosses = HashedCrossing(num_bins=4, output_mode="one_hot")((FEAT1, FEAT2))
    inputs = shoal.Input((4,))
    model = shoal.Model(inputs, shoal.layers.Dense(1)(inputs))
    _fit_one_step(model, crosses, np.ones((5, 1), "float32"))


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: HashedCrossing(0), ValueError, ["num_bins", "0"]),
        (lambda: HashedCrossing(3, output_mode="count"), ValueError, ["output_mode", "'count'"]),
        (lambda: HashedCrossing(3, sparse=True), ValueError, ["sparse", "True"]),
        (lambda: HashedCrossing(3, dtype="float32"), ValueError, ["dtype", "'float32'"]),
        (lambda: HashedCrossing(3)(FEAT1), ValueError, ["list or tuple", "ndarray"]),
        (lambda: HashedCrossing(3)([FEAT1]), ValueError, ["at least two", "length 1"]),
        (lambda: HashedCrossing(3)((FEAT1, FEAT2[:4])), ValueError, ["same shape", "(4,)"]),
        (
            lambda: HashedCrossing(3)((np.zeros((2, 2), "int32"),) * 2),
            ValueError,
            ["(batch, 1)", "(2, 2)"],
        ),
        (
            lambda: HashedCrossing(3)((np.ones(2, "float32"), np.ones(2, "int32"))),
            ValueError,
            ["integers or strings", "float32"],
        ),
        (
            lambda: HashedCrossing(3)((shoal.Input(()), shoal.Input(()))),
            ValueError,
            ["on the host", "before fit()"],
        ),
    ],
)
def test_hashed_crossing_errors(make, error, words):
    with pytest.raises(error) as info:
        make()
    for word in ["HashedCrossing", *words]:
        assert word in str(info.value)


# -- Pipeline -----------------------------------------------------------------------------


def test_pipeline_matches_keras_and_round_trips():
    keras = _keras()
    x = make_input((2, 5), seed=30)
    pipe = Pipeline([shoal.layers.Dense(4), shoal.layers.ReLU(), shoal.layers.Dense(2)])
    out = pipe(x)
    assert pipe.layers[0].built and len(pipe.weights) == 4
    twin = keras.layers.Pipeline(
        [keras.layers.Dense(4), keras.layers.ReLU(), keras.layers.Dense(2)]
    )
    twin(x)
    twin.set_weights(pipe.get_weights())
    _close(out, twin(x))
    assert pipe.compute_output_shape((None, 5)) == (None, 2)
    assert _symbolic_shapes(pipe(shoal.Input((5,)))) == [(None, 2)]

    config = pipe.get_config()
    assert set(config) == {"layers", "name"}
    assert [c["class_name"] for c in config["layers"]] == ["Dense", "ReLU", "Dense"]
    clone = Pipeline.from_config(config)
    assert clone.get_config()["layers"] == config["layers"]
    clone(x)
    clone.set_weights(pipe.get_weights())
    _close(clone(x), out, 0, 0)
    # Keras' config reads back in shoal, and shoal's in Keras
    ours = Pipeline.from_config(twin.get_config())
    ours(x)
    ours.set_weights(pipe.get_weights())
    _close(ours(x), out)
    theirs = keras.layers.Pipeline.from_config(config)
    theirs(x)
    theirs.set_weights(pipe.get_weights())
    _close(theirs(x), out)


def test_pipeline_training_flag_defaults_to_true():
    x = np.ones((4, 8), "float32")
    pipe = Pipeline([shoal.layers.Dropout(0.5, seed=1)])
    assert not np.allclose(pipe(x), x)  # Keras' default: training=True
    _close(pipe(x, training=False), x, 0, 0)
    model = shoal.Sequential([shoal.Input((8,)), pipe])
    _close(model.predict(x, verbose=0), x, 0, 0)  # the model's inference flag wins


def test_pipeline_masks_train_and_save():
    keras = _keras()
    ids = np.array([[3, 4, 1, 0], [5, 1, 0, 0]], "int32")

    def build(lib, pipeline_cls):
        inputs = lib.Input((4,), dtype="int32")
        pipe = pipeline_cls([lib.layers.Embedding(8, 3, mask_zero=True), lib.layers.Dense(3)])
        pooled = lib.layers.GlobalAveragePooling1D()(pipe(inputs))  # needs the mask
        return lib.Model(inputs, lib.layers.Dense(1)(pooled))

    ours, theirs = build(shoal, Pipeline), build(keras, keras.layers.Pipeline)
    theirs.set_weights(ours.get_weights())
    got = ours.predict(ids, verbose=0)
    _close(got, theirs(ids))
    _close(ours(ids), got)  # eager call
    _fit_one_step(ours, ids, np.ones((2, 1), "float32"))
    loaded = save_load_round_trip(ours, ids)
    assert isinstance(loaded.layers[1], Pipeline)


@pytest.mark.parametrize("layers", [shoal.layers.Dense(2), [shoal.layers.Dense(2), "relu"], None])
def test_pipeline_errors(layers):
    with pytest.raises(TypeError) as info:
        Pipeline(layers)
    assert "Pipeline" in str(info.value) and "'layers'" in str(info.value)
    with pytest.raises(ValueError, match="'layers'"):
        Pipeline.from_config({"name": "p"})


# -- files written by Keras ---------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
def test_keras_saved_model_with_the_new_layers_loads():
    keras = _keras()
    inputs = keras.Input((4,), dtype="int32")
    emb = keras.layers.ReversibleEmbedding(7, 6, tie_weights=False, mask_zero=True)
    h = emb(inputs)
    h = keras.layers.GroupQueryAttention(
        head_dim=2, num_query_heads=4, num_key_value_heads=1, use_gate=True
    )(h, h)
    h = keras.layers.Pipeline([keras.layers.Dense(6), keras.layers.ReLU()])(h)
    pooled = keras.layers.AdaptiveMaxPooling1D(3)(h)
    model = keras.Model(inputs, [pooled, emb(h, reverse=True)])
    want = model(IDS)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "k.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
    _close(loaded.predict(IDS, verbose=0), want)
