"""Mask routing in Functional graphs, as Keras 3's `Layer.__call__` does it.

A tensor's mask reaches `mask=` when the layer has exactly one tensor argument, and
`<name>_mask=` (MultiHeadAttention's `query_mask`/`value_mask`/`key_mask`) when it has
several; masks the user passes win. Every model is compared with the same model in Keras.
"""

import json

import jax
import numpy as np
import pytest

import shoal

keras = pytest.importorskip("keras")

IDS = np.array([[3, 4, 1, 0], [5, 1, 0, 0]], "int32")
OTHER = np.array([[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]], "int32")
KEYS = np.array([[2, 2, 0, 0, 0], [1, 3, 4, 5, 0]], "int32")


def _close(a, b, rtol=1e-5, atol=1e-6):
    a_leaves, b_leaves = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(a_leaves) == len(b_leaves)
    for x, y in zip(a_leaves, b_leaves, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _twins(build):
    """(shoal model, Keras model with the same weights)."""
    ours, theirs = build(shoal), build(keras)
    theirs.set_weights(ours.get_weights())
    return ours, theirs


# -- MultiHeadAttention ---------------------------------------------------------------------


def _mha_model(lib, mode="self", masked=True):
    """Embedding(mask_zero) -> MultiHeadAttention -> GlobalAveragePooling1D -> Dense."""
    a = lib.Input((4,), dtype="int32")
    b = lib.Input((5,), dtype="int32")
    c = lib.Input((5,), dtype="int32")
    x = lib.layers.Embedding(8, 6, mask_zero=masked, name="e1")(a)
    mha = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3, name="mha")
    if mode == "self":
        inputs, out = a, mha(x, x)
    elif mode == "value_kwarg":
        inputs, out = a, mha(x, value=x)
    else:
        y = lib.layers.Embedding(8, 6, mask_zero=masked, name="e2")(b)
        if mode == "cross":
            inputs, out = [a, b], mha(query=x, value=y)
        else:  # a separate key: its own mask
            z = lib.layers.Embedding(8, 6, mask_zero=masked, name="e3")(c)
            inputs, out = [a, b, c], mha(x, y, z)
    pooled = lib.layers.GlobalAveragePooling1D()(out)  # uses the output's (query's) mask
    return lib.Model(inputs, lib.layers.Dense(2, name="head")(pooled))


def _mha_data(mode):
    return {"cross": [IDS, OTHER], "key": [IDS, OTHER, KEYS]}.get(mode, IDS)


@pytest.mark.parametrize("mode", ["self", "value_kwarg", "cross", "key"])
def test_multi_head_attention_masks_match_keras(mode):
    ours, theirs = _twins(lambda lib: _mha_model(lib, mode))
    data = _mha_data(mode)
    got = ours.predict(data, verbose=0)
    _close(got, theirs.predict(data, verbose=0))
    # the masks matter: the same model without them gives other predictions
    plain = _mha_model(shoal, mode, masked=False)
    plain.set_weights(ours.get_weights())
    assert not np.allclose(plain.predict(data, verbose=0), got)


def test_multi_head_attention_gets_each_tensors_mask():
    """query_mask/value_mask/key_mask come from the query/value/key tensors' masks."""
    seen = []

    class Spy(shoal.layers.MultiHeadAttention):
        def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None):
            seen.append((query_mask, value_mask, key_mask))
            return super().call(query, value, key, query_mask, value_mask, key_mask)

    a, b, c = (shoal.Input((n,), dtype="int32") for n in (4, 5, 5))
    x = shoal.layers.Embedding(8, 6, mask_zero=True)(a)
    y = shoal.layers.Embedding(8, 6, mask_zero=True)(b)
    z = shoal.layers.Embedding(8, 6)(c)  # no mask
    model = shoal.Model([a, b, c], Spy(num_heads=2, key_dim=3)(x, key=z, value=y))
    seen.clear()
    model([IDS, OTHER, KEYS])
    query_mask, value_mask, key_mask = seen[-1]
    np.testing.assert_array_equal(query_mask, IDS != 0)
    np.testing.assert_array_equal(value_mask, OTHER != 0)
    assert key_mask is None


@pytest.mark.parametrize("mode", ["self", "value_kwarg", "cross"])
@pytest.mark.parametrize("masked", [True, False])
def test_multi_head_attention_models_save_and_load_across_libraries(mode, masked, tmp_path):
    ours, theirs = _twins(lambda lib: _mha_model(lib, mode, masked))
    data = _mha_data(mode)
    config = ours.get_config()
    node = next(la for la in config["layers"] if la["name"] == "mha")["inbound_nodes"][0]
    assert "mask" not in node["kwargs"], json.dumps(node)  # Keras cannot bind it
    want = ours.predict(data, verbose=0)
    ours.save(tmp_path / "shoal.keras")
    _close(keras.saving.load_model(tmp_path / "shoal.keras").predict(data, verbose=0), want)
    theirs.save(tmp_path / "keras.keras")
    _close(shoal.saving.load_model(tmp_path / "keras.keras").predict(data, verbose=0), want)


# -- custom layers -------------------------------------------------------------------------


def _custom_layers(lib):
    ops = lib.ops

    class Layer(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

    class Pull(Layer):
        """Scales `inputs` by a masked sum over `other`: the result depends on other's mask."""

        def call(self, inputs, other, other_mask=None):
            weights = ops.mean(other, axis=-1)
            if other_mask is not None:
                weights = ops.where(other_mask, weights, 0.0)
            return inputs * ops.sum(weights, axis=-1)[:, None, None]

    class ZeroMasked(Layer):
        """Zeroes masked steps (a layer taking `mask`)."""

        def call(self, inputs, mask=None):
            if mask is None:
                return inputs
            return inputs * ops.cast(mask, inputs.dtype)[..., None]

    return Pull, ZeroMasked


def test_custom_layer_receives_the_mask_of_other():
    def build(lib):
        pull, _ = _custom_layers(lib)
        a, b = lib.Input((4,), dtype="int32"), lib.Input((5,), dtype="int32")
        x = lib.layers.Embedding(8, 3, mask_zero=True, name="e1")(a)
        y = lib.layers.Embedding(8, 3, mask_zero=True, name="e2")(b)
        return lib.Model([a, b], [pull()(x, y), pull()(x, other=y)])

    ours, theirs = _twins(build)
    got = ours([IDS, OTHER])
    _close(got, theirs([IDS, OTHER]))
    # without other's mask the result differs
    pull, _ = _custom_layers(shoal)
    x, y = ours.get_layer("e1")(IDS), ours.get_layer("e2")(OTHER)
    _close(got[0], pull()(x, y, other_mask=OTHER != 0))
    # called eagerly, the arrays hand over the masks they carry (as Keras' layer call does)
    _close(got[0], pull()(x, y))
    # without other's mask the result differs
    assert not np.allclose(got[0], pull()(np.asarray(x), np.asarray(y)))


def test_explicit_masks_win_over_routed_ones():
    explicit = np.array([[True, False, True, True], [False, True, True, True]])
    other_explicit = np.array([[True] * 5, [True, True, False, False, False]])

    def build(lib):
        pull, zero_masked = _custom_layers(lib)
        a, b = lib.Input((4,), dtype="int32"), lib.Input((5,), dtype="int32")
        m, n = lib.Input((4,), dtype="bool"), lib.Input((5,), dtype="bool")
        x = lib.layers.Embedding(8, 3, mask_zero=True, name="e1")(a)
        y = lib.layers.Embedding(8, 3, mask_zero=True, name="e2")(b)
        outs = [zero_masked()(x), zero_masked()(x, mask=m), pull()(x, y, other_mask=n)]
        return lib.Model([a, b, m, n], outs)

    ours, theirs = _twins(build)
    data = [IDS, OTHER, explicit, other_explicit]
    got = ours(data)
    _close(got, theirs(data))
    x = np.asarray(ours.get_layer("e1")(IDS))
    _close(got[0], x * (IDS != 0)[..., None])  # routed
    _close(got[1], x * explicit[..., None])  # given


def test_mask_reaches_a_keyword_only_first_argument():
    def build(lib):
        _, zero_masked = _custom_layers(lib)
        a = lib.Input((4,), dtype="int32")
        x = lib.layers.Embedding(8, 3, mask_zero=True)(a)
        return lib.Model(a, zero_masked()(inputs=x))

    ours, theirs = _twins(build)
    got = ours(IDS)
    _close(got, theirs(IDS))
    assert np.all(np.asarray(got)[IDS == 0] == 0)


def test_rnn_with_initial_state_is_routed_as_in_keras():
    """Two tensor arguments and no `sequences_mask`: Keras 3 leaves `mask` unset."""

    def build(lib):
        a, h = lib.Input((4,), dtype="int32"), lib.Input((3,))
        x = lib.layers.Embedding(8, 2, mask_zero=True)(a)
        seq = lib.layers.SimpleRNN(3, return_sequences=True)(x, initial_state=h)
        return lib.Model([a, h], [seq, lib.layers.GlobalAveragePooling1D()(seq)])

    ours, theirs = _twins(build)
    data = [IDS, np.full((2, 3), 0.5, "float32")]
    _close(ours(data), theirs(data))


# -- Attention / AdditiveAttention / Sequential ---------------------------------------------


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_attention_layers_get_a_list_of_masks(name):
    def build(lib):
        a, b = lib.Input((4,), dtype="int32"), lib.Input((5,), dtype="int32")
        x = lib.layers.Embedding(8, 4, mask_zero=True, name="e1")(a)
        y = lib.layers.Embedding(8, 4, name="e2")(b)  # no mask: the list is [mask, None]
        z = lib.layers.Embedding(8, 4, mask_zero=True, name="e3")(b)
        layer = getattr(lib.layers, name)(name="att")
        out, scores = layer([x, z], return_attention_scores=True)
        half = layer([x, y])
        pooled = lib.layers.GlobalAveragePooling1D()(out)
        return lib.Model([a, b], [out, scores, half, pooled])

    ours, theirs = _twins(build)
    got = ours.predict([IDS, OTHER], verbose=0)
    _close(got, theirs.predict([IDS, OTHER], verbose=0))
    assert np.all(np.asarray(got[1])[~np.broadcast_to((OTHER != 0)[:, None, :], (2, 4, 5))] == 0)


def test_sequential_routes_masks():
    def build(lib):
        return lib.Sequential(
            [
                lib.Input((4,), dtype="int32"),
                lib.layers.Embedding(8, 4, mask_zero=True),
                lib.layers.GlobalAveragePooling1D(),
                lib.layers.Dense(2),
            ]
        )

    ours, theirs = _twins(build)
    _close(ours.predict(IDS, verbose=0), theirs.predict(IDS, verbose=0))


def test_masks_leave_nested_models():
    """A nested Functional or Sequential model's output masks reach the outer graph."""

    def build(lib):
        a = lib.Input((4,), dtype="int32")
        inner = lib.Model(a, lib.layers.Embedding(8, 4, mask_zero=True, name="e1")(a))
        stack = lib.Sequential(
            [lib.Input((4,), dtype="int32"), lib.layers.Embedding(8, 4, mask_zero=True)]
        )
        b = lib.Input((4,), dtype="int32")
        pool = lib.layers.GlobalAveragePooling1D()
        return lib.Model(b, [pool(inner(b)), pool(stack(b))])

    ours, theirs = _twins(build)
    got = ours.predict(IDS, verbose=0)
    _close(got, theirs.predict(IDS, verbose=0))
    embedded = np.asarray(ours.layers[1].get_layer("e1")(IDS))
    want = (embedded * (IDS != 0)[..., None]).sum(1) / (IDS != 0).sum(1, keepdims=True)
    _close(got[0], want)


# -- masks carried by arrays (eager calls, subclassed models) --------------------------------


class _Scale:
    """A mask-propagating custom layer, in each library."""

    @staticmethod
    def make(lib):
        class Scale(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.supports_masking = True
                self.seen = []

            def call(self, x, mask=None):
                self.seen.append(mask is not None)
                return x * 2.0

        return Scale


def test_subclassed_model_masks_without_passing_them():
    """Embedding(mask_zero) -> custom layer -> LSTM in a subclassed model: the padded
    sequence gives the unpadded one's result in both libraries (masks ride on arrays)."""
    for lib in (shoal, keras):
        scale = _Scale.make(lib)

        class M(lib.Model):
            def __init__(self, lib=lib, scale=scale):
                super().__init__()
                self.e = lib.layers.Embedding(20, 4, mask_zero=True)
                self.s = scale()
                self.rnn = lib.layers.LSTM(3)

            def call(self, x):
                return self.rnn(self.s(self.e(x)))

        model = M()
        padded = np.asarray(model(np.array([[3, 4, 0, 0]])))
        plain = np.asarray(model(np.array([[3, 4]])))
        np.testing.assert_allclose(padded, plain, atol=1e-5)
        assert model.s.seen[0]
    embedded = shoal.layers.Embedding(5, 2, mask_zero=True)(np.array([[1, 0]]))
    np.testing.assert_array_equal(embedded._keras_mask, [[True, False]])


def test_custom_layer_sees_the_mask_while_the_graph_is_built():
    layer = _Scale.make(shoal)()
    inp = shoal.Input((None,), dtype="int32")
    out = layer(shoal.layers.Embedding(10, 3, mask_zero=True)(inp))
    assert layer.seen and all(layer.seen)
    model = shoal.Model(inp, shoal.layers.LSTM(2)(out))
    np.testing.assert_allclose(
        model.predict(np.array([[1, 2, 0]]), verbose=0),
        model.predict(np.array([[1, 2]]), verbose=0),
        atol=1e-6,
    )


def test_sequential_without_input_takes_other_sequence_lengths():
    """Built on length-5 batches, it still fits and predicts other lengths (as Keras)."""
    model = shoal.Sequential(
        [shoal.layers.Embedding(50, 4, mask_zero=True), shoal.layers.LSTM(3), shoal.layers.Dense(1)]
    )
    model.compile("adam", "mse")

    def batches():
        for length in (5, 7, 5):
            yield np.random.randint(1, 50, (4, length)), np.zeros((4, 1), "float32")

    model.fit(batches(), epochs=1, verbose=0)
    assert model.predict(np.random.randint(1, 50, (2, 11)), verbose=0).shape == (2, 1)
    with pytest.raises(ValueError, match=r"expects shape \(None, 5\).*\(2, 3, 2\)"):
        model(np.ones((2, 3, 2)))  # the wrong rank still fails at once
