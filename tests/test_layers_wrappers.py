"""Wrapper layers: Bidirectional and TimeDistributed, against Keras 3 given the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import make_input, run_layer_test

import shoal
from shoal.layers.core import Dense
from shoal.layers.embedding import Embedding
from shoal.layers.wrappers import Bidirectional, TimeDistributed, Wrapper


def _recurrent_layers():
    try:
        from shoal.layers import recurrent
    except ImportError:
        recurrent = None
    return {
        name: getattr(shoal.layers, name, None) or getattr(recurrent, name, None)
        for name in ("LSTM", "GRU", "SimpleRNN")
    }


RNN_LAYERS = _recurrent_layers()
needs_recurrent = pytest.mark.skipif(
    RNN_LAYERS["LSTM"] is None or RNN_LAYERS["GRU"] is None,
    reason="LSTM / GRU (shoal.layers.recurrent) are not available",
)


def _public_classes():
    from shoal.layers import conv_lstm, masking, wrappers

    classes = {
        "Bidirectional": wrappers.Bidirectional,
        "TimeDistributed": wrappers.TimeDistributed,
        "Wrapper": wrappers.Wrapper,
        "Masking": masking.Masking,
        "ConvLSTM1D": conv_lstm.ConvLSTM1D,
        "ConvLSTM2D": conv_lstm.ConvLSTM2D,
        "ConvLSTM3D": conv_lstm.ConvLSTM3D,
    }
    classes.update((name, cls) for name, cls in RNN_LAYERS.items() if cls is not None)
    return classes


@pytest.fixture(autouse=True)
def _findable_by_name(monkeypatch):
    """Saving writes, and loading finds, built-in classes by their name in shoal.layers.
    Until shoal/layers/__init__.py exports these classes, export them for each test."""
    from shoal.saving import serialization

    missing = {n: c for n, c in _public_classes().items() if not hasattr(shoal.layers, n)}
    if missing:
        for name, cls in missing.items():
            monkeypatch.setattr(shoal.layers, name, cls, raising=False)
        monkeypatch.setattr(shoal.layers, "__all__", [*shoal.layers.__all__, *missing])
        monkeypatch.setattr(serialization, "_INDEX", {})
    yield


@shoal.saving.register_keras_serializable(package="shoal_tests")
class TinyRNN(shoal.layers.Layer):
    """A test-only SimpleRNN (`h = tanh(x W + h U + b)`) with Keras' RNN semantics:
    go_backwards (outputs in processing order), masks (masked steps keep the state and
    repeat the previous output, or give zeros with zero_output_for_mask), return_state.
    Weights are named and ordered as keras.layers.SimpleRNN's."""

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.zero_output_for_mask = zero_output_for_mask
        self.supports_masking = True

    def build(self, sequences_shape, initial_state_shape=None):
        self.kernel = self.add_weight(shape=(sequences_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="orthogonal", name="recurrent_kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.built = True

    def call(self, sequences, initial_state=None, mask=None, training=None):
        z = jnp.swapaxes(sequences, 0, 1) @ self.kernel.value + self.bias.value
        if initial_state is None:
            h0 = jnp.zeros((sequences.shape[0], self.units), z.dtype)
        else:
            h0 = initial_state[0]
        recurrent = self.recurrent_kernel.value

        def step(h, xs):
            z_t, m_t = xs
            new = jnp.tanh(z_t + h @ recurrent)
            if m_t is None:
                return new, new
            keep = m_t[:, None]
            out = jnp.where(keep, new, jnp.zeros_like(new) if self.zero_output_for_mask else h)
            return jnp.where(keep, new, h), out

        masks = None if mask is None else jnp.swapaxes(jnp.asarray(mask, bool), 0, 1)
        h, outputs = jax.lax.scan(step, h0, (z, masks), reverse=self.go_backwards)
        if self.go_backwards:
            outputs = jnp.flip(outputs, 0)
        output = jnp.swapaxes(outputs, 0, 1) if self.return_sequences else outputs[-1]
        return (output, h) if self.return_state else output

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        output = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        return [output, (batch, self.units)] if self.return_state else output

    def compute_mask(self, inputs, previous_mask=None):
        output_mask = previous_mask if self.return_sequences else None
        return [output_mask, None] if self.return_state else output_mask

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "zero_output_for_mask": self.zero_output_for_mask,
        }


def _keras():
    import keras

    return keras


def _rnn_pair(kind, units, **kwargs):
    """(shoal layer, Keras layer) of the same recurrent kind and arguments."""
    keras = _keras()
    if kind == "tiny":
        return TinyRNN(units, **kwargs), keras.layers.SimpleRNN(units, **kwargs)
    return RNN_LAYERS[kind](units, **kwargs), getattr(keras.layers, kind)(units, **kwargs)


# Padded id sequences: post-padding, pre-padding and a padded step in the middle.
IDS = np.array([[1, 2, 3, 4, 5], [4, 1, 2, 0, 0], [0, 0, 5, 3, 2], [3, 0, 1, 0, 0]], dtype="int32")


def _parity_branches(kind):
    """Pairs of (shoal, Keras) Bidirectional layers covering every option."""
    keras = _keras()
    pairs = []
    for merge_mode in ("concat", "sum", "mul", "ave", None):
        for return_sequences in (False, True):
            s, k = _rnn_pair(kind, 3, return_sequences=return_sequences)
            pairs.append(
                (
                    Bidirectional(s, merge_mode=merge_mode),
                    keras.layers.Bidirectional(k, merge_mode=merge_mode),
                )
            )
    for merge_mode in ("concat", None):
        s, k = _rnn_pair(kind, 3, return_sequences=True, return_state=True)
        pairs.append(
            (
                Bidirectional(s, merge_mode=merge_mode),
                keras.layers.Bidirectional(k, merge_mode=merge_mode),
            )
        )
    s, k = _rnn_pair(kind, 2, return_sequences=True)
    sb, kb = _rnn_pair(kind, 4, return_sequences=True, go_backwards=True)
    pairs.append(
        (
            Bidirectional(s, merge_mode="concat", backward_layer=sb),
            keras.layers.Bidirectional(k, merge_mode="concat", backward_layer=kb),
        )
    )
    return pairs


def _flat(x):
    return [np.asarray(v) for v in jax.tree_util.tree_leaves(x)]


@pytest.mark.parametrize(
    "kind",
    [
        "tiny",
        pytest.param("LSTM", marks=needs_recurrent),
        pytest.param("GRU", marks=needs_recurrent),
    ],
)
def test_bidirectional_matches_keras_with_embedding_mask(kind):
    keras = _keras()
    pairs = _parity_branches(kind)
    s_in = shoal.Input((IDS.shape[1],), dtype="int32")
    k_in = keras.Input((IDS.shape[1],), dtype="int32")
    s_emb, k_emb = Embedding(6, 4, mask_zero=True), keras.layers.Embedding(6, 4, mask_zero=True)
    s_x, k_x = s_emb(s_in), k_emb(k_in)
    s_outs = [s(s_x) for s, _ in pairs]
    k_outs = [k(k_x) for _, k in pairs]
    s_model = shoal.Model(s_in, s_outs)
    k_model = keras.Model(k_in, k_outs)
    s_emb.set_weights(k_emb.get_weights())
    for s, k in pairs:
        assert [tuple(w.shape) for w in s.weights] == [tuple(w.shape) for w in k.weights]
        assert [w.name for w in s.weights] == [w.name for w in k.weights]
        s.set_weights(k.get_weights())
    got, want = s_model.predict(IDS, verbose=0), k_model.predict(IDS, verbose=0)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        g, w = _flat(g), _flat(w)
        assert [a.shape for a in g] == [b.shape for b in w], index
        for a, b in zip(g, w, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"branch {index}")
    # Output masks: sequences keep the input mask, merged/last outputs have none.
    for (s, _), out in zip(pairs, s_outs, strict=True):
        first = jax.tree_util.tree_leaves(out, is_leaf=shoal.backend.is_keras_tensor)[0]
        has_mask = getattr(first, "_keras_mask", None) is not None
        assert has_mask == s.return_sequences


def test_bidirectional_backward_layer_is_config_copy_with_go_backwards_flipped():
    layer = Bidirectional(TinyRNN(3, return_sequences=True, name="rnn"), merge_mode="sum")
    assert layer.forward_layer.name == "forward_rnn"
    assert layer.backward_layer.name == "backward_rnn"
    assert not layer.forward_layer.go_backwards and layer.backward_layer.go_backwards
    assert layer.forward_layer.units == layer.backward_layer.units == 3
    # Bidirectional forces zero outputs for masked steps when returning sequences.
    assert layer.forward_layer.zero_output_for_mask and layer.backward_layer.zero_output_for_mask
    x = make_input((2, 4, 5))
    layer(x)
    names = [w.path for w in layer.weights]
    assert names == [
        f"{layer.name}/forward_rnn/kernel",
        f"{layer.name}/forward_rnn/recurrent_kernel",
        f"{layer.name}/forward_rnn/bias",
        f"{layer.name}/backward_rnn/kernel",
        f"{layer.name}/backward_rnn/recurrent_kernel",
        f"{layer.name}/backward_rnn/bias",
    ]
    # `weights=` sets forward then backward weights at build.
    weights = [np.full(w.shape, i, "float32") for i, w in enumerate(layer.weights)]
    again = Bidirectional(TinyRNN(3, return_sequences=True), weights=weights)
    again(x)
    for got, want in zip(again.get_weights(), weights, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "kwargs, call_kwargs",
    [
        ({"merge_mode": "concat"}, {}),
        ({"merge_mode": "ave", "return_sequences": True}, {"mask": IDS[:2, :4] != 0}),
        ({"merge_mode": None, "return_sequences": True, "return_state": True}, {}),
    ],
)
def test_bidirectional_harness(kwargs, call_kwargs):
    merge_mode = kwargs.pop("merge_mode")
    run_layer_test(
        Bidirectional,
        {"layer": TinyRNN(3, **kwargs), "merge_mode": merge_mode},
        input_shape=(2, 4, 3),
        call_kwargs=call_kwargs,
        compare_keras=False,
    )


def test_bidirectional_initial_state_halves():
    keras = _keras()
    s = Bidirectional(TinyRNN(3, return_sequences=True))
    k = keras.layers.Bidirectional(keras.layers.SimpleRNN(3, return_sequences=True))
    x = make_input((2, 4, 5))
    states = [make_input((2, 3), seed=1), make_input((2, 3), seed=2)]
    s(x)
    k(x)
    s.set_weights(k.get_weights())
    np.testing.assert_allclose(
        s(x, initial_state=states),
        k(x, initial_state=states),
        rtol=1e-5,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match=r"Bidirectional .*'initial_state'.*even"):
        s(x, initial_state=states[:1])


class _PlainCell(shoal.layers.Layer):
    """An unregistered RNN cell: `h = tanh(x k + h)`."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.k = self.add_weight(shape=(input_shape[-1], self.units), name="k")
        self.built = True

    def call(self, inputs, states):
        h = jnp.tanh(inputs @ self.k.value + states[0])
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@needs_recurrent
def test_bidirectional_over_generic_rnn_with_unregistered_cell():
    from shoal.layers.recurrent import RNN

    layer = Bidirectional(RNN(_PlainCell(3), return_sequences=True), merge_mode="sum")
    x = make_input((2, 4, 5))
    out = np.asarray(layer(x))
    assert out.shape == (2, 4, 3)
    k_f, k_b = (w.numpy() for w in layer.weights)
    forward = np.asarray(RNN(_PlainCell(3), return_sequences=True, weights=[k_f])(x))
    backward = np.asarray(
        RNN(_PlainCell(3), return_sequences=True, go_backwards=True, weights=[k_b])(x)
    )
    np.testing.assert_allclose(out, forward + backward[:, ::-1], rtol=1e-5, atol=1e-6)


@needs_recurrent
def test_bidirectional_stateful_states_are_not_weights():
    layer = Bidirectional(RNN_LAYERS["LSTM"](2, stateful=True))
    x = make_input((2, 3, 4))
    first = np.asarray(layer(x))
    assert layer.stateful and len(layer.states) == 4
    assert len(layer.weights) == 6  # the states are variables, not weights (as Keras)
    assert not np.allclose(np.asarray(layer(x)), first)  # the states carried over
    layer.reset_state()
    np.testing.assert_allclose(layer(x), first, rtol=1e-6, atol=1e-6)
    with pytest.raises(AttributeError, match=r"Bidirectional .*stateful"):
        Bidirectional(TinyRNN(2)).reset_state()


def test_bidirectional_errors_name_argument():
    with pytest.raises(ValueError, match=r"Bidirectional .*'layer'.*recurrent layer.*Dense"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match=r"Bidirectional .*'layer'.*Layer instance.*got 3"):
        Bidirectional(3)
    with pytest.raises(ValueError, match=r"Bidirectional .*'merge_mode'.*'concat'.*got 'max'"):
        Bidirectional(TinyRNN(2), merge_mode="max")
    with pytest.raises(ValueError, match=r"Bidirectional .*'backward_layer'.*go_backwards"):
        Bidirectional(TinyRNN(2), backward_layer=TinyRNN(2))
    with pytest.raises(ValueError, match=r"Bidirectional .*'return_sequences'.*True.*False"):
        Bidirectional(
            TinyRNN(2, return_sequences=True), backward_layer=TinyRNN(2, go_backwards=True)
        )
    with pytest.raises(ValueError, match=r"Bidirectional .*'backward_layer'.*recurrent"):
        Bidirectional(TinyRNN(2), backward_layer=Dense(2))


def test_bidirectional_symbolic_shapes():
    x = shoal.Input((5, 4))
    assert Bidirectional(TinyRNN(3))(x).shape == (None, 6)
    assert Bidirectional(TinyRNN(3, return_sequences=True), merge_mode="mul")(x).shape == (
        None,
        5,
        3,
    )
    out = Bidirectional(TinyRNN(3, return_state=True), merge_mode=None)(x)
    assert [t.shape for t in out] == [(None, 3)] * 4
    layer = Bidirectional(TinyRNN(3, return_sequences=True, return_state=True))
    assert layer.compute_output_shape((None, 5, 4)) == [(None, 5, 6), (None, 3), (None, 3)]


# -- TimeDistributed ---------------------------------------------------------------------


def _keras_time_distributed(shoal_layer, keras_inner, x, **call_kwargs):
    keras = _keras()
    reference = keras.layers.TimeDistributed(keras_inner)
    reference(x, **call_kwargs)
    reference.set_weights(shoal_layer.get_weights())
    return np.asarray(reference(x, **call_kwargs))


def test_time_distributed_dense():
    keras = _keras()
    # Fixed weights: drawn from the global stream they depend on the tests run before, and
    # some draws put a ReLU kink within the finite-difference step (a 15% gradient error).
    shoal.utils.set_random_seed(0)
    layer, out = run_layer_test(
        TimeDistributed,
        {"layer": Dense(4, activation="relu")},
        input_shape=(2, 3, 5),
        expected_output_shape=(2, 3, 4),
        compare_keras=False,
    )
    x = make_input((2, 3, 5))
    want = _keras_time_distributed(layer, keras.layers.Dense(4, activation="relu"), x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    assert [w.name for w in layer.weights] == ["kernel", "bias"]


def test_time_distributed_conv2d():
    keras = _keras()
    layer, out = run_layer_test(
        TimeDistributed,
        {"layer": shoal.layers.Conv2D(3, 2)},
        input_shape=(2, 3, 4, 4, 2),
        expected_output_shape=(2, 3, 3, 3, 3),
        compare_keras=False,
        check_saving=False,
    )
    x = make_input((2, 3, 4, 4, 2))
    want = _keras_time_distributed(layer, keras.layers.Conv2D(3, 2), x)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    assert TimeDistributed(shoal.layers.Conv2D(3, 2))(shoal.Input((None, 4, 4, 2))).shape == (
        None,
        None,
        3,
        3,
        3,
    )


def test_time_distributed_passes_mask_through_and_to_inner_layer():
    keras = _keras()
    # The output mask is the input mask (Keras 3), so a later RNN skips the padding.
    s_in = shoal.Input((5,), dtype="int32")
    k_in = keras.Input((5,), dtype="int32")
    s_emb, k_emb = Embedding(6, 4, mask_zero=True), keras.layers.Embedding(6, 4, mask_zero=True)
    s_td, k_td = TimeDistributed(Dense(3)), keras.layers.TimeDistributed(keras.layers.Dense(3))
    s_rnn, k_rnn = TinyRNN(2), keras.layers.SimpleRNN(2)
    s_mid = s_td(s_emb(s_in))
    assert s_mid._keras_mask is not None and s_mid._keras_mask.shape == (None, 5)
    s_model = shoal.Model(s_in, s_rnn(s_mid))
    k_model = keras.Model(k_in, k_rnn(k_td(k_emb(k_in))))
    for s, k in ((s_emb, k_emb), (s_td, k_td), (s_rnn, k_rnn)):
        s.set_weights(k.get_weights())
    np.testing.assert_allclose(s_model(IDS), k_model(IDS), rtol=1e-5, atol=1e-6)

    # A mask-aware inner layer receives each timestep's mask (folded into the batch).
    x = make_input((2, 3, 4, 5))
    mask = make_input((2, 3, 4), "int32", high=2).astype(bool)
    layer = TimeDistributed(TinyRNN(2, return_sequences=True))
    out = layer(x, mask=mask)
    want = _keras_time_distributed(
        layer, keras.layers.SimpleRNN(2, return_sequences=True), x, mask=mask
    )
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)


def test_time_distributed_shape_by_tracing():
    """Inner layers without compute_output_shape still give symbolic shapes."""
    layer = TimeDistributed(shoal.layers.Lambda(lambda v: jnp.concatenate([v, v], -1)))
    assert layer(shoal.Input((3, 4))).shape == (None, 3, 8)
    assert layer(np.ones((2, 3, 4), "float32")).shape == (2, 3, 8)


def test_time_distributed_errors_name_argument():
    with pytest.raises(ValueError, match=r"TimeDistributed .*'layer'.*Layer instance.*got 'x'"):
        TimeDistributed("x")
    with pytest.raises(ValueError, match=r"TimeDistributed .*'inputs'.*rank >= 3.*\(2, 3\)"):
        TimeDistributed(Dense(2))(np.zeros((2, 3), "float32"))
    layer = TimeDistributed(Dense(2))
    with pytest.raises(ValueError, match=r"TimeDistributed .*'mask'.*\(2, 3, \.\.\.\).*\(2, 4\)"):
        layer(np.zeros((2, 3, 4), "float32"), mask=np.ones((2, 4), bool))
    assert issubclass(TimeDistributed, Wrapper)


# -- files interchange with Keras ---------------------------------------------------------


def _interop_models(api, layers):
    """The same model in Keras or shoal: ids -> Embedding(mask_zero) -> Bidirectional(LSTM)
    -> TimeDistributed(Dense); features -> Masking -> Bidirectional(GRU, backward_layer);
    frames -> Bidirectional(ConvLSTM2D)."""
    ids = api.Input((5,), dtype="int32")
    x = layers.Embedding(6, 4, mask_zero=True)(ids)
    x = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(x)
    x = layers.TimeDistributed(layers.Dense(2))(x)
    features = api.Input((5, 3))
    y = layers.Masking()(features)
    backward = layers.GRU(2, go_backwards=True, return_sequences=True)
    y = layers.Bidirectional(layers.GRU(3, return_sequences=True), backward_layer=backward)(y)
    frames = api.Input((3, 4, 4, 2))
    z = layers.Bidirectional(layers.ConvLSTM2D(2, 3, padding="same"), merge_mode="sum")(frames)
    return api.Model([ids, features, frames], [x, y, z])


@needs_recurrent
@pytest.mark.parametrize("direction", ["keras_to_shoal", "shoal_to_keras"])
def test_saved_files_interchange_with_keras(direction, tmp_path):
    keras = _keras()
    features = make_input((4, 5, 3))
    features[1, 3:] = 0.0  # masked steps
    data = [IDS, features, make_input((4, 3, 4, 4, 2), seed=1)]
    path = str(tmp_path / "model.keras")
    if direction == "keras_to_shoal":
        source = _interop_models(keras, keras.layers)
        source.save(path)
        loaded = shoal.saving.load_model(path)
    else:
        source = _interop_models(shoal, shoal.layers)
        source.save(path)
        loaded = keras.saving.load_model(path)
    want = source.predict(data, verbose=0)
    got = loaded.predict(data, verbose=0)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# -- training ----------------------------------------------------------------------------


def _token_data(n, steps=12, seed=0):
    """Variable-length id sequences padded with 0; label: does token 3 occur?"""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, steps), "int32")
    y = np.zeros((n, 1), "float32")
    for i in range(n):
        length = rng.integers(3, steps + 1)
        tokens = rng.choice([1, 2, 4, 5, 6, 7], size=length)
        if rng.random() < 0.5:
            tokens[rng.integers(length)] = 3
        x[i, :length] = tokens
        y[i, 0] = float(3 in tokens)
    return x, y


def test_bidirectional_text_classifier_trains():
    """Embedding(mask_zero) -> Bidirectional(LSTM) -> Dense learns a padded-sequence task.

    (With TinyRNN standing in while the recurrent package is unavailable.)"""
    shoal.utils.set_random_seed(0)
    x_train, y_train = _token_data(512, seed=0)
    x_test, y_test = _token_data(256, seed=1)
    rnn = TinyRNN(8) if RNN_LAYERS["LSTM"] is None else RNN_LAYERS["LSTM"](8)
    model = shoal.Sequential(
        [
            shoal.Input((x_train.shape[1],), dtype="int32"),
            Embedding(8, 8, mask_zero=True),
            Bidirectional(rnn),
            Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=shoal.optimizers.Adam(0.02), loss="binary_crossentropy", metrics=["accuracy"]
    )
    model.fit(x_train, y_train, batch_size=64, epochs=12, verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.9
    # Padding is ignored: extra trailing zeros do not change predictions.
    longer = np.concatenate([x_test[:8], np.zeros((8, 4), "int32")], axis=1)
    model_longer = shoal.Sequential([shoal.Input((longer.shape[1],), dtype="int32")] + model.layers)
    np.testing.assert_allclose(
        model_longer.predict(longer, verbose=0), model.predict(x_test[:8], verbose=0), atol=1e-5
    )
