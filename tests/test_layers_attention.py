"""Attention, AdditiveAttention, MultiHeadAttention, PositionEmbedding, SinePositionEncoding."""

import os
import tempfile

import jax
import numpy as np
import pytest
from harness import check_gradients, make_input, run_layer_test

import shoal
from shoal.layers.attention import AdditiveAttention, Attention
from shoal.layers.multi_head_attention import MultiHeadAttention
from shoal.layers.position_embedding import PositionEmbedding, SinePositionEncoding

_PUBLIC = {
    "Attention": Attention,
    "AdditiveAttention": AdditiveAttention,
    "MultiHeadAttention": MultiHeadAttention,
    "PositionEmbedding": PositionEmbedding,
    "SinePositionEncoding": SinePositionEncoding,
}


def _close(a, b, rtol=1e-5, atol=1e-6):
    a_leaves, b_leaves = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(a_leaves) == len(b_leaves)
    for x, y in zip(a_leaves, b_leaves, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _bool_mask(shape, seed, p=0.7):
    mask = np.random.default_rng(seed).random(shape) < p
    mask[..., 0] = True  # every row attends somewhere
    return mask


Q_SHAPE, V_SHAPE = (2, 3, 4), (2, 5, 4)
QUERY_MASK = _bool_mask((2, 3), 1)
VALUE_MASK = _bool_mask((2, 5), 2)


# -- Attention / AdditiveAttention -------------------------------------------------


@pytest.mark.parametrize(
    "cls, kwargs, shapes, call_kwargs",
    [
        (Attention, {}, [Q_SHAPE, V_SHAPE], {}),
        (Attention, {"use_scale": True}, [Q_SHAPE, V_SHAPE], {"use_causal_mask": True}),
        (
            Attention,
            {"score_mode": "concat", "use_scale": True},
            [Q_SHAPE, (2, 5, 6), V_SHAPE],  # [query, value, key]: value has its own width
            {},
        ),
        (
            Attention,
            {"score_mode": "concat"},
            [Q_SHAPE, V_SHAPE],
            {"mask": [QUERY_MASK, VALUE_MASK], "use_causal_mask": True},
        ),
        (AdditiveAttention, {}, [Q_SHAPE, V_SHAPE], {"mask": [QUERY_MASK, VALUE_MASK]}),
        (AdditiveAttention, {"use_scale": False}, [Q_SHAPE, V_SHAPE], {"use_causal_mask": True}),
    ],
)
def test_attention_layers(cls, kwargs, shapes, call_kwargs):
    layer, out = run_layer_test(
        cls,
        kwargs,
        input_shape=shapes,
        call_kwargs=call_kwargs,
        expected_output_shape=(2, 3, shapes[1][-1]),
        # one save/load round trip per class is enough (it compiles two models)
        check_saving=len(shapes) == 3 or (cls is AdditiveAttention and not kwargs),
    )
    if "mask" in call_kwargs:  # masked query rows are zero
        np.testing.assert_array_equal(np.asarray(out)[~QUERY_MASK], 0)
    names = [w.name for w in layer.weights]
    if cls is AdditiveAttention:
        assert names == (["scale"] if kwargs.get("use_scale", True) else [])
    else:
        want = ["scale"] if kwargs.get("use_scale") else []
        assert names == want + (["concat_score_weight"] if kwargs.get("score_mode") else [])


@pytest.mark.parametrize(
    "cls, kwargs, call_kwargs",
    [
        (Attention, {"use_scale": True}, {"use_causal_mask": True}),
        (Attention, {"score_mode": "concat"}, {"mask": [QUERY_MASK, VALUE_MASK]}),
        (AdditiveAttention, {}, {"mask": [None, VALUE_MASK], "use_causal_mask": True}),
    ],
)
def test_attention_scores_match_keras(cls, kwargs, call_kwargs):
    """return_attention_scores=True (the harness checks single outputs only)."""
    import keras

    inputs = [make_input(Q_SHAPE), make_input(V_SHAPE, seed=1), make_input(V_SHAPE, seed=2)]
    call_kwargs = {**call_kwargs, "return_attention_scores": True}
    layer = cls(**kwargs)
    out, scores = layer(inputs, **call_kwargs)
    twin = getattr(keras.layers, cls.__name__)(**kwargs)
    twin(inputs)
    twin.set_weights([w + 0.5 for w in layer.get_weights()])
    layer.set_weights(twin.get_weights())
    _close(layer(inputs, **call_kwargs), twin(inputs, **call_kwargs))
    assert out.shape == (2, 3, 4) and scores.shape == (2, 3, 5)
    _close(np.asarray(scores).sum(-1), np.ones((2, 3)))
    spec = layer([shoal.Input(batch_shape=x.shape) for x in inputs], return_attention_scores=True)
    assert [t.shape for t in spec] == [(2, 3, 4), (2, 3, 5)]
    check_gradients(layer, inputs, call_kwargs)


def test_attention_scores_and_masks_by_hand():
    q, v = make_input(Q_SHAPE), make_input(V_SHAPE, seed=1)
    out, scores = Attention()(
        [q, v], mask=[None, VALUE_MASK], return_attention_scores=True, use_causal_mask=True
    )
    allowed = VALUE_MASK[:, None, :] & np.tril(np.ones((3, 5), bool))[None]
    logits = np.where(allowed, q @ v.transpose(0, 2, 1), -np.inf)
    want = np.exp(logits - logits.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    _close(scores, want)
    _close(out, want @ v)


def test_attention_dropout():
    q, v = make_input(Q_SHAPE), make_input(V_SHAPE, seed=1)
    layer = Attention(dropout=0.5, seed=3)
    plain = Attention()
    inference, scores = layer([q, v], return_attention_scores=True)
    _close(inference, plain([q, v]))
    shoal.utils.set_random_seed(0)
    trained, train_scores = layer([q, v], training=True, return_attention_scores=True)
    # The weights as applied are reported (dropped out and rescaled by 1 / (1 - rate)), as
    # Keras 3.15's Attention does.
    kept, full = np.asarray(train_scores), np.asarray(scores)
    assert (kept == 0).any()
    np.testing.assert_allclose(kept, np.where(kept == 0, 0, 2 * full), rtol=1e-5, atol=1e-6)
    assert not np.allclose(trained, inference)
    assert np.isfinite(np.asarray(trained)).all()


def test_attention_masks_from_embeddings_in_functional_models():
    import keras

    ids = np.array([[3, 4, 0, 0], [5, 1, 2, 0]], "int32")
    keys = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]], "int32")

    def build(lib):
        a, b = lib.Input((4,), dtype="int32"), lib.Input((5,), dtype="int32")
        x = lib.layers.Embedding(8, 4, mask_zero=True, name="e1")(a)
        y = lib.layers.Embedding(8, 4, mask_zero=True, name="e2")(b)
        attention = lib.layers.Attention(use_scale=True, name="att")
        out, scores = attention([x, y], return_attention_scores=True)
        pooled = lib.layers.GlobalAveragePooling1D()(out)
        return lib.Model([a, b], [out, scores, pooled])

    ours, theirs = build(shoal), build(keras)
    theirs.set_weights(ours.get_weights())
    got = ours.predict([ids, keys], verbose=0)
    want = theirs([ids, keys])
    _close(got, want)
    assert np.all(np.asarray(got[1])[..., ~(keys != 0)[0]][0] == 0)  # padded keys get no weight


def test_attention_errors():
    q = make_input(Q_SHAPE)
    with pytest.raises(ValueError, match=r"Attention.*'score_mode'.*\('dot', 'concat'\).*'add'"):
        Attention(score_mode="add")
    with pytest.raises(ValueError, match=r"Attention.*'dropout'.*\[0, 1\).*1\.5"):
        Attention(dropout=1.5)
    with pytest.raises(ValueError, match=r"AdditiveAttention.*'dropout'.*-0\.1"):
        AdditiveAttention(dropout=-0.1)
    with pytest.raises(
        ValueError, match=r"Attention.*'inputs'.*list.*single tensor of shape \(2, 3, 4\)"
    ):
        Attention()(q)
    with pytest.raises(ValueError, match=r"Attention.*'inputs'.*2 or 3.*got 1"):
        Attention()([q])
    with pytest.raises(ValueError, match=r"Attention.*last dimension of query and value.*4.*3"):
        Attention()([q, make_input((2, 5, 3))])
    with pytest.raises(ValueError, match=r"AdditiveAttention.*query and key.*expected 4, got 6"):
        AdditiveAttention()([q, make_input(V_SHAPE), make_input((2, 5, 6))])
    with pytest.raises(ValueError, match=r"Attention.*'mask'.*list"):
        Attention()([q, q], mask=QUERY_MASK)


# -- MultiHeadAttention ------------------------------------------------------------


def _keras_twin(layer, kwargs, args, call_kwargs):
    """The Keras layer with `layer`'s weights, and its output on the same call."""
    import keras

    twin = keras.layers.MultiHeadAttention(**kwargs)
    twin(*args, **call_kwargs)
    twin.set_weights(layer.get_weights())
    return twin, twin(*args, **call_kwargs)


QUERY = make_input((2, 3, 6), seed=10)
VALUE = make_input((2, 5, 4), seed=11)
KEY = make_input((2, 5, 3), seed=12)
ATTENTION_MASK = _bool_mask((2, 3, 5), 13)


X4 = make_input((2, 3, 2, 4), seed=14)  # attention over two axes
Y4 = make_input((2, 2, 3, 5), seed=15)


@pytest.mark.parametrize(
    "kwargs, args, call_kwargs",
    [
        ({"num_heads": 2, "key_dim": 3}, (QUERY, QUERY), {}),  # self-attention, fused kernel
        ({"num_heads": 2, "key_dim": 3}, (QUERY, VALUE), {"return_attention_scores": True}),
        (
            {"num_heads": 2, "key_dim": 3, "output_shape": 5},
            (QUERY, VALUE, KEY),
            {"use_causal_mask": True, "attention_mask": ATTENTION_MASK},
        ),
        (
            {"num_heads": 2, "key_dim": 3, "output_shape": (2, 4), "use_bias": False},
            (QUERY, VALUE),
            {"attention_mask": ATTENTION_MASK[:1], "return_attention_scores": True},
        ),
        ({"num_heads": 2, "key_dim": 3}, (QUERY, QUERY), {"use_causal_mask": True}),
        (
            {"num_heads": 2, "key_dim": 3, "use_gate": True, "sliding_window": 2},
            (QUERY, QUERY),
            {"return_attention_scores": True},
        ),
        (
            {"num_heads": 2, "key_dim": 3, "attention_axes": (1, 2)},
            (X4, Y4),
            {"attention_mask": _bool_mask((3, 2, 2, 3), 16), "return_attention_scores": True},
        ),
    ],
)
def test_multi_head_attention_matches_keras(kwargs, args, call_kwargs):
    layer = MultiHeadAttention(**kwargs)
    out = layer(*args, **call_kwargs)
    _, want = _keras_twin(layer, kwargs, args, call_kwargs)
    _close(out, want)
    # the shapes compute_output_shape and a symbolic call predict are the eager ones
    leaves = jax.tree_util.tree_leaves(out)
    assert tuple(leaves[0].shape) == layer.compute_output_shape(*[a.shape for a in args])
    symbolic = layer(
        *[shoal.Input(batch_shape=a.shape) for a in args],
        **{k: v for k, v in call_kwargs.items() if k != "attention_mask"},
    )
    assert [
        t.shape for t in jax.tree_util.tree_leaves(symbolic, is_leaf=shoal.backend.is_keras_tensor)
    ] == [tuple(x.shape) for x in leaves]


def test_multi_head_attention_value_dim_and_weights():
    """value_dim != key_dim. Keras 3.15's fused path fails there (it reshapes the output to
    the query's head size), so the reference is its explicit path (return_attention_scores)."""
    kwargs = {"num_heads": 2, "key_dim": 3, "value_dim": 4}
    layer = MultiHeadAttention(**kwargs)
    out = layer(QUERY, VALUE, KEY, attention_mask=ATTENTION_MASK)
    out_scores, scores = layer(
        QUERY, VALUE, KEY, attention_mask=ATTENTION_MASK, return_attention_scores=True
    )
    _, (want, want_scores) = _keras_twin(
        layer,
        kwargs,
        (QUERY, VALUE, KEY),
        {"attention_mask": ATTENTION_MASK, "return_attention_scores": True},
    )
    _close(out, want)
    _close(out_scores, want)
    _close(scores, want_scores)
    # Keras' names, shapes and order
    assert [(w.path, w.shape) for w in layer.weights] == [
        (f"{layer.name}/query/kernel", (6, 2, 3)),
        (f"{layer.name}/query/bias", (2, 3)),
        (f"{layer.name}/key/kernel", (3, 2, 3)),
        (f"{layer.name}/key/bias", (2, 3)),
        (f"{layer.name}/value/kernel", (4, 2, 4)),
        (f"{layer.name}/value/bias", (2, 4)),
        (f"{layer.name}/attention_output/kernel", (2, 4, 6)),
        (f"{layer.name}/attention_output/bias", (6,)),
    ]
    assert layer.count_params() == sum(int(np.prod(w.shape)) for w in layer.weights)


def test_multi_head_attention_mixed_precision():
    import keras

    layer = MultiHeadAttention(num_heads=2, key_dim=3, dtype="mixed_float16")
    out = layer(QUERY, VALUE)
    assert out.dtype == "float16" and layer.weights[0].dtype == "float32"
    twin = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, dtype="mixed_float16")
    twin(QUERY, VALUE)
    twin.set_weights(layer.get_weights())
    _close(np.asarray(out, "float32"), np.asarray(twin(QUERY, VALUE), "float32"), 1e-2, 2e-3)
    # compiled (as in fit): jax's fused kernel cannot take float16 on CPU; ours can
    weights = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]
    compiled = jax.jit(lambda w: layer.stateless_call(w, state, QUERY, VALUE)[0])(weights)
    _close(np.asarray(compiled, "float32"), np.asarray(out, "float32"), 1e-2, 2e-3)


@pytest.mark.parametrize("cross", [False, True])
def test_multi_head_attention_masks_from_embeddings(cross):
    """Query/value masks of Embedding(mask_zero=True) reach the attention as in Keras."""
    import keras

    ids = np.array([[3, 4, 1, 0], [5, 1, 0, 0]], "int32")
    other = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]], "int32")

    def build(lib, scores):
        inputs = [lib.Input((4,), dtype="int32"), lib.Input((5,), dtype="int32")]
        x = lib.layers.Embedding(8, 6, mask_zero=True, name="e1")(inputs[0])
        y = lib.layers.Embedding(8, 6, mask_zero=True, name="e2")(inputs[1]) if cross else x
        mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
        # self-attention positionally, cross-attention by keywords
        args, kwargs = ((), {"query": x, "value": y}) if cross else ((x, x), {})
        if scores:  # Keras' explicit path
            return lib.Model(
                inputs if cross else inputs[0], mha(*args, return_attention_scores=True, **kwargs)
            )
        out = mha(*args, **kwargs)  # the fused path
        pooled = lib.layers.GlobalAveragePooling1D()(out)  # uses the output's (query) mask
        return lib.Model(inputs if cross else inputs[0], [out, pooled])

    data = [ids, other] if cross else ids
    value_mask = (other if cross else ids) != 0
    for with_scores in (False, True):
        ours, theirs = build(shoal, with_scores), build(keras, with_scores)
        theirs.set_weights(ours.get_weights())
        got, want = ours.predict(data, verbose=0), theirs(data)
        _close(got, want)
        if with_scores:
            scores = np.asarray(got[1]).transpose(0, 3, 1, 2)  # (B, S, N, T)
            assert np.all(scores[~value_mask] == 0)
        else:  # the masks matter: the same weights without them give other outputs
            plain = build(shoal, False)
            plain.set_weights(ours.get_weights())
            shifted = [ids + 1, other + 1] if cross else ids + 1
            assert not np.allclose(plain(shifted)[1], got[1])


def test_multi_head_attention_explicit_masks():
    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    query_mask, value_mask = _bool_mask((2, 3), 20), _bool_mask((2, 5), 21)
    out, scores = layer(
        QUERY, VALUE, query_mask=query_mask, value_mask=value_mask, return_attention_scores=True
    )
    combined = query_mask[:, :, None] & value_mask[:, None, :]
    out2, scores2 = layer(QUERY, VALUE, attention_mask=combined, return_attention_scores=True)
    _close(out, out2)
    _close(scores, scores2)
    assert np.all(np.asarray(scores).transpose(0, 2, 3, 1)[~combined] == 0)


@pytest.mark.parametrize(
    "kwargs, args, call_kwargs",
    [
        ({"num_heads": 2, "key_dim": 3}, (QUERY, VALUE), {"attention_mask": ATTENTION_MASK}),
        (
            {"num_heads": 2, "key_dim": 3, "value_dim": 4, "use_gate": True},
            (QUERY, VALUE, KEY),
            {"use_causal_mask": True, "return_attention_scores": True},
        ),
    ],
)
def test_multi_head_attention_gradients(kwargs, args, call_kwargs):
    layer = MultiHeadAttention(**kwargs)
    layer(*args)
    check_gradients(layer, tuple(args), call_kwargs)


def test_multi_head_attention_dropout():
    layer = MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=1)
    inference = layer(QUERY, VALUE)
    _, scores = layer(QUERY, VALUE, return_attention_scores=True)
    _close(inference, layer(QUERY, VALUE, training=False))
    trained, train_scores = layer(QUERY, VALUE, training=True, return_attention_scores=True)
    _close(train_scores, scores)
    assert not np.allclose(trained, inference)


def test_multi_head_attention_config_and_saving():
    kwargs = {
        "num_heads": 2,
        "key_dim": 3,
        "value_dim": 2,
        "output_shape": (5,),
        "attention_axes": [1],
        "kernel_initializer": {"class_name": "Zeros", "config": {}},
        "bias_initializer": "ones",
        "kernel_regularizer": "l2",
        "use_gate": True,
        "dropout": 0.25,
        "seed": 4,
    }
    layer = MultiHeadAttention(**kwargs)
    out = layer(QUERY, VALUE)
    config = layer.get_config()
    clone = MultiHeadAttention.from_config(config)
    assert clone.get_config() == config
    clone(QUERY, VALUE)
    clone.set_weights(layer.get_weights())
    _close(clone(QUERY, VALUE), out)
    # Keras reads the config, and shoal reads Keras' config
    import keras

    twin = keras.layers.MultiHeadAttention.from_config(config)
    twin(QUERY, VALUE)
    twin.set_weights(layer.get_weights())
    _close(twin(QUERY, VALUE), out)
    MultiHeadAttention.from_config(twin.get_config())
    assert len(layer.losses) == 5  # the l2 kernel regularizer of each projection

    q, v = shoal.Input((3, 6)), shoal.Input((5, 4))
    fresh = MultiHeadAttention.from_config(config)
    model = shoal.Model([q, v], fresh(q, v))
    fresh.set_weights(layer.get_weights())
    before = model([QUERY, VALUE])
    _close(before, out)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
    _close(loaded([QUERY, VALUE]), before, 1e-6, 1e-6)


def test_multi_head_attention_loads_keras_weight_files():
    import keras

    def build(lib):
        q, v = lib.Input((3, 6)), lib.Input((5, 4))
        return lib.Model([q, v], lib.layers.MultiHeadAttention(2, 3, use_gate=True)(q, v))

    theirs, ours = build(keras), build(shoal)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.weights.h5")
        theirs.save_weights(path)
        ours.load_weights(path)
    _close(ours([QUERY, VALUE]), theirs([QUERY, VALUE]))


def test_multi_head_attention_errors():
    for kwargs, pattern in [
        ({"num_heads": 0, "key_dim": 2}, r"'num_heads' must be a positive integer, got 0"),
        ({"num_heads": 2, "key_dim": -1}, r"'key_dim' must be a positive integer, got -1"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": 0}, r"'value_dim'.*or None, got 0"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 1.0}, r"'dropout'.*\[0, 1\), got 1\.0"),
        ({"num_heads": 2, "key_dim": 2, "output_shape": "x"}, r"'output_shape'.*got 'x'"),
        ({"num_heads": 2, "key_dim": 2, "attention_axes": "a"}, r"'attention_axes'.*got 'a'"),
        (
            {"num_heads": 2, "key_dim": 2, "dropout": 0.1, "flash_attention": True},
            r"flash_attention=True.*dropout=0\.1",
        ),
    ]:
        with pytest.raises(ValueError, match=r"MultiHeadAttention.*" + pattern):
            MultiHeadAttention(**kwargs)

    layer = MultiHeadAttention(num_heads=2, key_dim=3)
    with pytest.raises(
        ValueError, match=r"MultiHeadAttention.*value and key.*\(2, 5, 4\).*\(2, 4, 3\)"
    ):
        layer(QUERY, VALUE, make_input((2, 4, 3)))
    layer(QUERY, VALUE)
    with pytest.raises(ValueError, match=r"'attention_mask'.*\(2, 3, 5\).*got shape \(2, 5, 3\)"):
        layer(QUERY, VALUE, attention_mask=np.ones((2, 5, 3), bool))
    with pytest.raises(ValueError, match=r"'value'.*last dimension 4.*got shape \(2, 5, 6\)"):
        layer(QUERY, QUERY[:, :1].repeat(5, 1))
    with pytest.raises(ValueError, match=r"'attention_axes'.*between 1 and 1.*\(3,\)"):
        MultiHeadAttention(2, 2, attention_axes=3)(QUERY, VALUE)
    with pytest.raises(ValueError, match=r"use_causal_mask.*exactly one axis"):
        x = make_input((2, 2, 2, 4))
        MultiHeadAttention(2, 2, attention_axes=(1, 2))(x, x, use_causal_mask=True)
    with pytest.raises(ValueError, match=r"return_attention_scores.*flash_attention"):
        MultiHeadAttention(2, 2, flash_attention=True)(QUERY, VALUE, return_attention_scores=True)


# -- position embeddings -----------------------------------------------------------


def test_position_embedding():
    x = make_input((2, 3, 4))

    def reference(data, weights):
        return np.broadcast_to(weights[0][:3], data.shape)

    layer, out = run_layer_test(
        PositionEmbedding,
        {"sequence_length": 5},
        input_data=x,
        expected_output_shape=(2, 3, 4),
        compare_keras=False,
        numpy_reference=reference,
    )
    assert [(w.name, w.shape) for w in layer.weights] == [("embeddings", (5, 4))]
    table = layer.get_weights()[0]
    np.testing.assert_allclose(layer(x, start_index=2), np.broadcast_to(table[2:5], x.shape))
    positions = np.array([[4, 0, 1], [2, 2, 3]])
    np.testing.assert_allclose(layer(x, positions=positions), table[positions])
    with pytest.raises(ValueError, match=r"PositionEmbedding.*6 steps.*sequence_length=5"):
        layer(make_input((2, 6, 4)))
    with pytest.raises(ValueError, match=r"PositionEmbedding.*'sequence_length'.*got 0"):
        PositionEmbedding(0)


def test_sine_position_encoding():
    x = make_input((2, 5, 6))

    def reference(data, weights, start=0):
        steps, dim = data.shape[-2:]
        pos = np.arange(steps)[:, None] + start
        i = np.arange(dim)[None]
        angle = pos / np.power(100.0, 2 * (i // 2) / dim)
        return np.broadcast_to(np.where(i % 2 == 0, np.sin(angle), np.cos(angle)), data.shape)

    layer, out = run_layer_test(
        SinePositionEncoding,
        {"max_wavelength": 100},
        input_data=x,
        expected_output_shape=(2, 5, 6),
        compare_keras=False,
        numpy_reference=reference,
    )
    np.testing.assert_allclose(layer(x, start_index=3), reference(x, None, 3), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"SinePositionEncoding.*'max_wavelength'.*got -1"):
        SinePositionEncoding(max_wavelength=-1)
