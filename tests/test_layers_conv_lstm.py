"""ConvLSTM1D / 2D / 3D against Keras 3 given the same weights, and their RNN semantics."""

import jax
import numpy as np
import pytest
from harness import make_input, run_layer_test
from test_layers_wrappers import _findable_by_name

import shoal
from shoal.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D, ConvLSTMCell

__all__ = ["_findable_by_name"]  # the autouse fixture, shared with the wrappers tests


def _keras_twin(cls, kwargs, x, weights):
    """The Keras layer of the same class and arguments, holding `weights`.

    Built with zeros initializers (cheap to build); the weights are then copied in."""
    import keras

    cheap = {"kernel_initializer": "zeros", "recurrent_initializer": "zeros"}
    reference = getattr(keras.layers, cls.__name__)(**{**kwargs, **cheap})
    reference(x)
    reference.set_weights(weights)
    return reference


# Few distinct weight shapes (filters 2, kernel 3, 2 channels): every build of a new
# shape compiles its initializers, which dominates these tests' time.
CASES = [
    (ConvLSTM1D, {"filters": 2, "kernel_size": 3, "return_sequences": True}, (2, 3, 6, 2),
     (2, 3, 4, 2)),
    (ConvLSTM1D, {"filters": 2, "kernel_size": 3, "padding": "same", "go_backwards": True,
                  "return_state": True}, (2, 3, 6, 2), [(2, 6, 2)] * 3),
    (ConvLSTM2D, {"filters": 2, "kernel_size": 3, "padding": "same", "go_backwards": True,
                  "return_sequences": True}, (2, 3, 4, 4, 2), (2, 3, 4, 4, 2)),
    (ConvLSTM2D, {"filters": 2, "kernel_size": 3, "strides": 2, "return_state": True,
                  "unit_forget_bias": False, "bias_initializer": "ones"}, (2, 3, 5, 5, 2),
     [(2, 2, 2, 2)] * 3),
    (ConvLSTM2D, {"filters": 2, "kernel_size": 3, "padding": "same",
                  "data_format": "channels_first", "dilation_rate": 2, "activation": "relu",
                  "use_bias": False}, (2, 3, 2, 5, 5), (2, 2, 5, 5)),
    (ConvLSTM3D, {"filters": 2, "kernel_size": 2}, (1, 2, 3, 3, 3, 2), (1, 2, 2, 2, 2)),
]  # fmt: skip


@pytest.mark.parametrize("cls, kwargs, shape, expected", CASES)
def test_conv_lstm_matches_keras(cls, kwargs, shape, expected):
    x = make_input(shape)
    layer = cls(**kwargs)
    out = layer(x)
    leaves = jax.tree_util.tree_leaves(out)
    want_shapes = expected if isinstance(expected, list) else [expected]
    assert [tuple(o.shape) for o in leaves] == [tuple(s) for s in want_shapes]
    predicted = layer.compute_output_shape(shape)
    assert (predicted if isinstance(predicted, list) else [predicted]) == want_shapes
    reference = _keras_twin(cls, kwargs, x, layer.get_weights())
    want = jax.tree_util.tree_leaves(reference(x))
    for got, ref in zip(leaves, want, strict=True):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    names = (
        ["kernel", "recurrent_kernel", "bias"] if layer.use_bias else ["kernel", "recurrent_kernel"]
    )
    assert [w.name for w in layer.weights] == names
    assert [w.path for w in layer.weights] == [f"{layer.name}/conv_lstm_cell/{n}" for n in names]
    channels = shape[2] if layer.data_format == "channels_first" else shape[-1]
    assert layer.weights[0].shape == layer.kernel_size + (channels, 4 * layer.filters)
    assert layer.weights[1].shape == layer.kernel_size + (layer.filters, 4 * layer.filters)


@pytest.mark.parametrize("case", [CASES[0], CASES[3]], ids=["1d", "2d"])
def test_conv_lstm_harness(case):
    """Symbolic shapes, gradients, config and save/load round trips."""
    cls, kwargs, shape, expected = case
    run_layer_test(
        cls, kwargs, input_shape=shape, expected_output_shape=expected, compare_keras=False
    )


def test_config_matches_keras_and_forget_bias():
    import keras

    kwargs = {"filters": 2, "kernel_size": (3, 3), "padding": "same", "return_sequences": True}
    ours, theirs = ConvLSTM2D(**kwargs), keras.layers.ConvLSTM2D(**kwargs)
    config, reference = ours.get_config(), theirs.get_config()
    assert set(config) == set(reference)
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                "activation", "recurrent_activation", "unit_forget_bias", "return_sequences",
                "go_backwards", "stateful", "unroll", "zero_output_for_mask", "dropout"):  # fmt: skip
        assert config[key] == reference[key], key
    ours.build((None, 4, 5, 5, 2))
    np.testing.assert_array_equal(ours.cell.bias.numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], 2))


def test_initial_state_matches_keras():
    x = make_input((2, 3, 6, 2))
    states = [make_input((2, 6, 2), seed=1), make_input((2, 6, 2), seed=2)]
    kwargs = {"filters": 2, "kernel_size": 3, "padding": "same", "return_sequences": True}
    ours = ConvLSTM1D(**kwargs)
    ours(x)
    theirs = _keras_twin(ConvLSTM1D, kwargs, x, ours.get_weights())
    np.testing.assert_allclose(
        ours(x, initial_state=states),
        theirs(x, initial_state=states),
        rtol=1e-5,
        atol=1e-6,
    )


def test_mask_skips_steps():
    # Keras' ConvLSTM cannot take a mask on JAX (its scan broadcasts a (batch, 1) mask
    # against 4-D states); the RNN semantics are checked directly instead.
    x = make_input((2, 4, 5, 2))
    layer = ConvLSTM1D(2, 3, return_sequences=True)
    mask = np.array([[1, 1, 0, 0], [1, 0, 1, 1]], bool)
    out = np.asarray(layer(x, mask=mask))
    # Trailing padding: the same as running the real steps only.
    np.testing.assert_allclose(out[0, :2], np.asarray(layer(x[:1, :2]))[0], rtol=1e-5, atol=1e-6)
    # Masked steps repeat the previous output, and the state skips them.
    np.testing.assert_array_equal(out[0, 2], out[0, 1])
    np.testing.assert_array_equal(out[1, 1], out[1, 0])
    skipped = np.asarray(layer(x[1:, [0, 2, 3]]))
    np.testing.assert_allclose(out[1, [0, 2, 3]], skipped[0], rtol=1e-5, atol=1e-6)
    # Embedding-style masks flow in a model too.
    inputs = shoal.Input((4, 5, 2))
    masked = shoal.layers.Lambda(lambda v: v, mask=lambda v, m: np.asarray(mask))(inputs)
    model = shoal.Model(inputs, layer(masked))
    np.testing.assert_allclose(model(x), out, rtol=1e-6, atol=1e-6)


def test_stateful_carries_state_between_calls():
    x = make_input((2, 4, 3, 3, 2))
    full = ConvLSTM2D(2, 3, padding="same")
    reference = np.asarray(full(x))
    layer = ConvLSTM2D(2, 3, padding="same", stateful=True)
    layer.build(x.shape)
    layer.set_weights(full.get_weights())
    assert len(layer.weights) == 3  # states are variables but not weights, as in Keras
    layer(x[:, :2])
    np.testing.assert_allclose(layer(x[:, 2:]), reference, rtol=1e-5, atol=1e-6)
    layer.reset_state()
    np.testing.assert_array_equal(layer.states[0].numpy(), 0.0)
    with pytest.raises(ValueError, match=r"stateful"):
        ConvLSTM2D(2, 3, stateful=True)(shoal.Input((4, 3, 3, 2)))


def test_dropout_only_in_training():
    x = make_input((2, 3, 4, 4, 2))
    layer = ConvLSTM2D(2, 3, dropout=0.5, recurrent_dropout=0.5, seed=3, return_sequences=True)
    inference = np.asarray(layer(x))
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), inference)
    trained = np.asarray(layer(x, training=True))
    assert trained.shape == inference.shape and not np.allclose(trained, inference)
    assert np.isfinite(trained).all()


def test_cell_alone_is_one_step():
    x = make_input((2, 1, 4, 4, 2))
    layer = ConvLSTM2D(2, 3, padding="same", return_state=True)
    _, h, c = layer(x)
    cell = layer.cell
    assert isinstance(cell, ConvLSTMCell)
    h1, (h2, c2) = cell(x[:, 0], cell.get_initial_state(2))
    np.testing.assert_allclose(h1, h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c2, c, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(h1, h2)


def test_symbolic_shapes():
    out = ConvLSTM2D(2, 3, return_sequences=True)(shoal.Input((None, 8, 8, 2)))
    assert out.shape == (None, None, 6, 6, 2)
    outs = ConvLSTM1D(2, 3, padding="same", return_state=True)(shoal.Input((5, 8, 2)))
    assert [
        t.shape for t in jax.tree_util.tree_leaves(outs, is_leaf=shoal.backend.is_keras_tensor)
    ] == [(None, 8, 2)] * 3


def test_errors_name_argument():
    with pytest.raises(ValueError, match=r"ConvLSTM2D '.*': argument 'filters'.*got 0"):
        ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match=r"ConvLSTM2D .*'kernel_size'.*2.*got \(3, 3, 3\)"):
        ConvLSTM2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match=r"ConvLSTM1D .*'padding'.*got 'causal'"):
        ConvLSTM1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match=r"ConvLSTM2D .*'strides' and 'dilation_rate'"):
        ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=r"ConvLSTM2D .*'dropout'.*between 0 and 1.*got 1.5"):
        ConvLSTM2D(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match=r"ConvLSTM2D .*'sequences'.*rank 5.*\(2, 3, 4, 1\)"):
        ConvLSTM2D(2, 3).build((2, 3, 4, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D .*known spatial.*\(None, 3, None, 4, 1\)"):
        ConvLSTM2D(2, 3).build((None, 3, None, 4, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM2D .*too small.*\(None, 2, 4, 1\)"):
        ConvLSTM2D(2, 3).build((None, 3, 2, 4, 1))
    with pytest.raises(ValueError, match=r"ConvLSTM1D .*'data_format'"):
        ConvLSTM1D(2, 3, data_format="nhwc")
