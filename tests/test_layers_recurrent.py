"""SimpleRNN, LSTM, GRU: parity with Keras 3 across options, masks, states, config.

The generic RNN wrapper, cells, dropout, the scan structure and errors are in
test_layers_recurrent_rnn.py, which shares the helpers defined here.
"""

from __future__ import annotations

import os
import tempfile

import jax
import numpy as np
import pytest
from harness import run_layer_test

import shoal
from shoal.layers import recurrent

B, T, F, U = 3, 5, 3, 4  # batch, timesteps, features, units
MASK = np.array(
    [
        [True, True, True, False, False],
        [False, True, True, True, True],
        [True, False, True, False, True],
    ]
)


def sequences(seed=0, shape=(B, T, F)):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def assert_close(actual, expected, what=""):
    a = jax.tree_util.tree_leaves(actual)
    b = jax.tree_util.tree_leaves(expected)
    assert len(a) == len(b), f"{what}: {len(a)} vs {len(b)} outputs"
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6, err_msg=what)


def run_twins(layer, keras_layer, x, **call_kwargs):
    """Call a shoal layer and its Keras twin (given the shoal weights) on x; return both."""
    out = layer(x, **call_kwargs)
    keras_layer(x, **call_kwargs)
    keras_layer.set_weights(layer.get_weights())
    return out, keras_layer(x, **call_kwargs)


@pytest.fixture(autouse=True, scope="module")
def public_recurrent_names():
    """Expose the recurrent layers in `shoal.layers` for (de)serialization.

    A no-op once shoal/layers/__init__.py re-exports them.
    """
    import shoal.layers as layers_module
    from shoal.saving import serialization

    added = [n for n in recurrent.__all__ if not hasattr(layers_module, n)]
    for name in added:
        setattr(layers_module, name, getattr(recurrent, name))
        layers_module.__all__.append(name)
    serialization._INDEX.clear()
    yield
    for name in added:
        delattr(layers_module, name)
        layers_module.__all__.remove(name)
    serialization._INDEX.clear()


def initial_state(cls_name):
    states = [sequences(1, (B, U))]
    if cls_name == "LSTM":
        states.append(sequences(2, (B, U)))
    return states


LAYERS = [
    ("SimpleRNN", {}),
    ("LSTM", {}),
    ("GRU", {}),
    ("GRU", {"reset_after": False}),
]
# (layer options, call options, full harness: gradients and save/load too)
OPTIONS = [
    ({"return_sequences": True}, {"mask": MASK}, True),
    ({"return_sequences": True, "go_backwards": True}, {"initial_state": True}, False),
    ({"return_state": True, "unroll": True}, {"mask": MASK}, False),
]


@pytest.mark.parametrize("cls_name, layer_kwargs", LAYERS, ids=str)
@pytest.mark.parametrize("options, call_options, full", OPTIONS, ids=["mask", "init", "unroll"])
def test_keras_parity(cls_name, layer_kwargs, options, call_options, full):
    cls = getattr(recurrent, cls_name)
    init_kwargs = {"units": U, **layer_kwargs, **options}
    call_kwargs = dict(call_options)
    if call_kwargs.get("initial_state"):
        call_kwargs["initial_state"] = initial_state(cls_name)
    out_shape = (B, T, U) if options.get("return_sequences") else (B, U)
    n_states = 2 if cls_name == "LSTM" else 1
    expected = [out_shape] + [(B, U)] * n_states if options.get("return_state") else out_shape
    layer, out = run_layer_test(
        cls,
        init_kwargs,
        input_data=sequences(),
        expected_output_shape=expected,
        call_kwargs=call_kwargs,
        check_grad=full,
        check_saving=full,
    )
    assert [w.name for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]


@pytest.mark.parametrize("cls_name", ["LSTM", "GRU"])
def test_keras_parity_long_sequences(cls_name):
    """20 steps: the fast path runs them as two pieces (recurrence_vjp.piece_bounds), each
    its own loop; outputs, states and (finite-difference) gradients as Keras'."""
    from shoal.layers.recurrent import recurrence_vjp

    steps = 20
    assert len(recurrence_vjp.piece_bounds(steps)) == 2
    mask = np.random.default_rng(3).random((B, steps)) > 0.3
    n_states = 2 if cls_name == "LSTM" else 1
    run_layer_test(
        getattr(recurrent, cls_name),
        {"units": U, "return_sequences": True, "return_state": True, "go_backwards": True},
        input_data=sequences(shape=(B, steps, F)),
        expected_output_shape=[(B, steps, U)] + [(B, U)] * n_states,
        call_kwargs={"mask": mask},
        check_saving=False,
    )


@pytest.mark.parametrize(
    "cls_name, kwargs",
    [
        ("SimpleRNN", {"activation": "relu", "use_bias": False}),
        ("LSTM", {"unit_forget_bias": False, "recurrent_activation": "hard_sigmoid"}),
        ("GRU", {"use_bias": False, "activation": "relu"}),
        ("GRU", {"use_bias": False, "reset_after": False, "recurrent_activation": "relu"}),
    ],
)
def test_keras_parity_variants(cls_name, kwargs):
    run_layer_test(
        getattr(recurrent, cls_name),
        {"units": U, "return_sequences": True, **kwargs},
        input_data=sequences(),
        expected_output_shape=(B, T, U),
        check_grad=False,
        check_saving=False,
    )


@pytest.mark.parametrize(
    "cls_name, kwargs, bias_shape",
    [
        ("SimpleRNN", {}, (U,)),
        ("LSTM", {}, (4 * U,)),
        ("GRU", {}, (2, 3 * U)),
        ("GRU", {"reset_after": False}, (3 * U,)),
    ],
)
def test_weights_match_keras_layout(cls_name, kwargs, bias_shape):
    import keras

    layer = getattr(recurrent, cls_name)(U, **kwargs)
    layer.build((None, T, F))
    reference = getattr(keras.layers, cls_name)(U, **kwargs)
    reference.build((None, T, F))
    assert [w.shape for w in layer.weights] == [tuple(w.shape) for w in reference.weights]
    assert layer.weights[2].shape == bias_shape
    assert [w.path.split("/", 1)[1] for w in layer.weights] == [
        w.path.split("/", 1)[1] for w in reference.weights
    ]
    # Initial bias values (zeros, LSTM forget gate ones) are Keras's too.
    np.testing.assert_array_equal(layer.weights[2].numpy(), reference.weights[2].numpy())
    if cls_name == "LSTM":
        np.testing.assert_array_equal(layer.cell.bias.numpy()[U : 2 * U], 1.0)
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cls_name]
    kernel = layer.cell.recurrent_kernel.numpy()
    assert kernel.shape == (U, gates * U)
    # orthogonal recurrent initializer over the whole (units, gates * units) matrix, as Keras
    np.testing.assert_allclose(kernel @ kernel.T, np.eye(U), atol=1e-5)


def test_masks_from_embedding_flow_through_a_functional_model():
    """Embedding(mask_zero=True) -> LSTM -> GRU(go_backwards) -> SimpleRNN, in both libraries."""
    import keras

    def build(lib, layers):
        ids = lib.Input((None,), dtype="int32")
        x = lib.layers.Embedding(10, F, mask_zero=True)(ids)
        x = layers.LSTM(U, return_sequences=True)(x)
        x = layers.GRU(U, return_sequences=True, go_backwards=True)(x)
        return lib.Model(ids, layers.SimpleRNN(U)(x)), x

    model, symbolic = build(shoal, recurrent)
    assert symbolic._keras_mask is not None and symbolic._keras_mask.shape == (None, None)
    reference, _ = build(keras, keras.layers)
    reference.set_weights(model.get_weights())
    ids = np.array([[1, 2, 3, 0, 0, 0], [0, 0, 4, 5, 6, 7], [3, 0, 2, 0, 1, 0]], "int32")
    assert_close(model(ids), reference(ids), "masked model vs Keras")
    # masked steps carry the state: trailing padding does not change the last output
    lstm, x = recurrent.LSTM(U), sequences()
    padded = np.broadcast_to(np.arange(T) < 3, (B, T))
    assert_close(lstm(x, mask=padded), lstm(x[:, :3]), "trailing padding")


@pytest.mark.parametrize("unroll", [False, True])
def test_masked_first_step_with_initial_state_matches_keras(unroll):
    """Keras emits the carried state (scan) or zeros (unrolled) at a masked first step."""
    import keras

    mask = MASK.copy()
    mask[:, 0] = [False, True, False]
    state = initial_state("LSTM")
    kwargs = {"return_sequences": True, "unroll": unroll}
    out, ref = run_twins(
        recurrent.LSTM(U, **kwargs),
        keras.layers.LSTM(U, **kwargs),
        sequences(),
        mask=mask,
        initial_state=state,
    )
    assert_close(out, ref, "masked first step")


def test_zero_output_for_mask():
    layer = recurrent.GRU(U, return_sequences=True, zero_output_for_mask=True)
    out = np.asarray(layer(sequences(), mask=MASK))
    np.testing.assert_array_equal(out[~MASK], 0.0)
    assert np.all(np.abs(out[MASK]).sum(-1) > 0)
    assert layer.get_config()["zero_output_for_mask"] is True


def test_symbolic_initial_state_and_unknown_timesteps():
    import keras

    def build(lib, layers):
        x = lib.Input((None, F))
        h, c = lib.Input((U,)), lib.Input((U,))
        out, h1, c1 = layers.LSTM(U, return_sequences=True, return_state=True)(
            x, initial_state=[h, c]
        )
        return lib.Model([x, h, c], [out, h1, c1]), out

    model, out = build(shoal, recurrent)
    assert tuple(out.shape) == (None, None, U)
    reference, _ = build(keras, keras.layers)
    reference.set_weights(model.get_weights())
    inputs = [sequences(), *initial_state("LSTM")]
    assert_close(model(inputs), reference(inputs), "symbolic initial_state")
    short = [sequences(3, (B, 2, F)), *initial_state("LSTM")]
    assert model.predict(short, verbose=0)[0].shape == (B, 2, U)


@pytest.mark.parametrize("cls_name", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_matches_keras_across_calls(cls_name):
    import keras

    kwargs = {"stateful": True, "return_sequences": True}
    layer = getattr(recurrent, cls_name)(U, **kwargs)
    reference = getattr(keras.layers, cls_name)(U, **kwargs)
    x1, x2 = sequences(1), sequences(2)
    out1, out2 = layer(x1), layer(x2)
    reference.build(x1.shape)
    reference.set_weights(layer.get_weights())
    ref1, ref2 = reference(x1), reference(x2)
    assert_close([out1, out2], [ref1, ref2], "stateful calls")
    # the states are variables (carried by pure steps), not weights (as in Keras); so is
    # the cell's SeedGenerator state
    n_states = 2 if cls_name == "LSTM" else 1
    assert len(layer.get_weights()) == 3
    assert len(layer.non_trainable_variables) == n_states + 1
    assert_close(layer.states[0].numpy(), out2[:, -1], "state after the second call")
    layer.reset_states()
    assert all(not np.any(v.numpy()) for v in layer.states)
    assert not np.allclose(layer(x2), out2)  # out2 started from the carried state
    layer.reset_states()
    reference.reset_state()
    assert_close(layer(x1), reference(x1), "after reset_states")


def test_stateful_state_flows_through_stateless_call():
    layer = recurrent.LSTM(U, stateful=True)
    x = sequences()
    first = layer(x)
    trainable = [v.value for v in layer.trainable_variables]
    states = {id(v) for v in layer.states}
    given = [  # zero RNN states; the cell's SeedGenerator state as it is
        np.zeros_like(v.numpy()) if id(v) in states else v.value
        for v in layer.non_trainable_variables
    ]
    before = [v.numpy() for v in layer.states]
    out, new_values = layer.stateless_call(trainable, given, x)
    new_states = [
        n for v, n in zip(layer.non_trainable_variables, new_values, strict=True) if id(v) in states
    ]
    assert_close(out, first, "stateless_call from zero states")
    assert_close(new_states, before, "new states returned")
    assert_close([v.numpy() for v in layer.states], before, "stateless_call is pure")


def test_stateful_model_save_load_and_keras_weights_file():
    import keras

    def build(lib, layers):
        x = lib.Input(batch_shape=(B, T, F))
        return lib.Model(x, layers.GRU(U, stateful=True)(x))

    model = build(shoal, recurrent)
    x = sequences()
    first = model.predict(x, verbose=0)
    second = model.predict(x, verbose=0)
    assert not np.allclose(first, second)  # the state carried over
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
        weights_path = os.path.join(tmp, "m.weights.h5")
        model.save_weights(weights_path)
        reference = build(keras, keras.layers)
        reference.load_weights(weights_path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), first, rtol=1e-6, atol=1e-6)
    assert_close(reference(x), first, "Keras loads shoal's weights file")


def test_config_matches_keras_and_round_trips():
    import keras

    from shoal.saving import serialization

    for cls_name, kwargs in [
        ("SimpleRNN", {}),
        ("LSTM", {"unit_forget_bias": False, "kernel_regularizer": "l2"}),
        ("GRU", {"reset_after": False, "seed": 3, "kernel_constraint": "non_neg"}),
    ]:
        layer = getattr(recurrent, cls_name)(U, dropout=0.25, **kwargs)
        reference = getattr(keras.layers, cls_name)(U, dropout=0.25, **kwargs)
        config = layer.get_config()
        # Keras' SimpleRNN.get_config() forgets its `seed` argument; ours keeps it.
        assert set(config) - {"seed"} == set(reference.get_config()) - {"seed"}, cls_name
        assert config["dropout"] == 0.25 and config["units"] == U
        # Keras rebuilds our serialized layer, and we rebuild Keras's
        rebuilt = keras.layers.deserialize(serialization.serialize_keras_object(layer))
        assert type(rebuilt).__name__ == cls_name
        assert rebuilt.get_config()["units"] == U
        ours = serialization.deserialize_keras_object(keras.layers.serialize(reference))
        assert type(ours) is type(layer)
        assert ours.get_config().keys() == config.keys()


def test_weight_regularizers_and_constraints():
    kwargs = {"kernel_regularizer": "l2", "recurrent_regularizer": "l1", "bias_regularizer": "l2"}
    layer = recurrent.LSTM(U, kernel_constraint="non_neg", **kwargs)
    layer(sequences())
    kernel, recurrent_kernel, bias = layer.get_weights()
    expected = 0.01 * (np.sum(kernel**2) + np.sum(np.abs(recurrent_kernel)) + np.sum(bias**2))
    assert len(layer.losses) == 3
    np.testing.assert_allclose(sum(float(v) for v in layer.losses), expected, rtol=1e-5)
    assert layer.kernel_constraint is layer.cell.kernel.constraint is not None
    assert layer.cell.recurrent_kernel.constraint is None


def test_activity_regularizer_matches_keras():
    import keras

    kwargs = {"activity_regularizer": "l2", "return_state": True}
    layer, reference = recurrent.LSTM(U, **kwargs), keras.layers.LSTM(U, **kwargs)
    run_twins(layer, reference, sequences())
    assert len(layer.losses) == len(reference.losses) == 3  # output, h, c
    np.testing.assert_allclose(
        sum(float(v) for v in layer.losses), sum(float(v) for v in reference.losses), rtol=1e-5
    )
