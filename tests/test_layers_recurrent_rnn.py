"""The generic RNN wrapper (custom and stacked cells), cells, dropout, scan structure, errors."""

from __future__ import annotations

import jax
import jax.extend.core as jax_core
import numpy as np
import pytest
from harness import run_layer_test
from test_layers_recurrent import (  # noqa: F401 - the fixture is used by every test here
    MASK,
    B,
    F,
    T,
    U,
    assert_close,
    public_recurrent_names,
    run_twins,
    sequences,
)

import shoal
from shoal.layers import recurrent


@shoal.saving.register_keras_serializable(package="test_recurrent")
class MinimalRNNCell(shoal.layers.Layer):
    """The custom cell of the Keras RNN guide."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(input_shape[-1], self.units), initializer="uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.units), initializer="uniform", name="recurrent_kernel"
        )

    def call(self, inputs, states):
        h = shoal.ops.matmul(inputs, self.kernel)
        output = h + shoal.ops.matmul(states[0], self.recurrent_kernel)
        return output, [output]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def keras_minimal_cell(units):
    import keras

    class MinimalRNNCell(keras.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(
                shape=(self.units, self.units), name="recurrent_kernel"
            )

        def call(self, inputs, states):
            h = keras.ops.matmul(inputs, self.kernel)
            output = h + keras.ops.matmul(states[0], self.recurrent_kernel)
            return output, [output]

    return MinimalRNNCell(units)


# -- the generic RNN -----------------------------------------------------------------


@pytest.mark.parametrize(
    "options, call_kwargs",
    [
        ({"return_sequences": True}, {"mask": MASK}),
        ({"return_state": True, "go_backwards": True, "unroll": True}, {}),
    ],
)
def test_custom_cell_matches_keras(options, call_kwargs):
    import keras

    layer, _ = run_layer_test(
        recurrent.RNN,
        {"cell": MinimalRNNCell(U), **options},
        input_data=sequences(),
        call_kwargs=call_kwargs,
        compare_keras=False,
        check_saving="mask" in call_kwargs,
    )
    out, ref = run_twins(
        recurrent.RNN(MinimalRNNCell(U), **options),
        keras.layers.RNN(keras_minimal_cell(U), **options),
        sequences(),
        **call_kwargs,
    )
    assert_close(out, ref, "RNN(MinimalRNNCell) vs Keras")


def test_stacked_cells_match_keras():
    import keras

    def cells(lib):  # one width for all, so that compiled shapes are shared with other tests
        return [lib.LSTMCell(U), lib.GRUCell(U, reset_after=False), lib.SimpleRNNCell(U)]

    options = {"return_sequences": True, "return_state": True}
    layer = recurrent.RNN(cells(recurrent), **options)
    out, ref = run_twins(
        layer, keras.layers.RNN(cells(keras.layers), **options), sequences(), mask=MASK
    )
    assert_close(out, ref, "stacked cells vs Keras")
    assert [np.shape(s) for s in jax.tree_util.tree_leaves(out[1:])] == [(B, U)] * 4
    assert isinstance(layer.cell, recurrent.StackedRNNCells)
    assert layer.cell.state_size == [[U, U], U, U] and layer.cell.output_size == U
    run_layer_test(
        recurrent.RNN,
        {"cell": recurrent.StackedRNNCells(cells(recurrent))},
        input_data=sequences(),
        expected_output_shape=(B, U),
        compare_keras=False,
    )


def test_rnn_over_a_builtin_cell_equals_the_layer():
    rnn = recurrent.RNN(recurrent.GRUCell(U), return_sequences=True)
    gru = recurrent.GRU(U, return_sequences=True)
    x = sequences()
    out = gru(x)
    rnn(x)
    rnn.set_weights(gru.get_weights())
    assert_close(rnn(x), out, "RNN(GRUCell) vs GRU")


@pytest.mark.parametrize(
    "cell_name, kwargs",
    [("SimpleRNNCell", {}), ("LSTMCell", {}), ("GRUCell", {}), ("GRUCell", {"reset_after": False})],
)
def test_cell_single_step_matches_keras(cell_name, kwargs):
    import keras

    x, h = sequences(0, (B, F)), sequences(1, (B, U))
    states = [h, sequences(2, (B, U))] if cell_name == "LSTMCell" else [h]
    cell, reference = getattr(recurrent, cell_name)(U, **kwargs), None
    reference = getattr(keras.layers, cell_name)(U, **kwargs)
    out, ref = run_twins(cell, reference, x, states=states)
    assert_close(out, ref, f"{cell_name} step vs Keras")
    assert_close(cell.get_initial_state(B), reference.get_initial_state(B), "initial state")


# -- dropout -----------------------------------------------------------------------


def test_dropout_masks_are_drawn_once_per_sequence():
    """Input dropout: out_t = (x_t * m) @ I, the same m at every step, zeros at rate."""
    rate, batch, units = 0.5, 128, 16
    layer = recurrent.SimpleRNN(
        units,
        activation=None,
        use_bias=False,
        kernel_initializer="identity",
        recurrent_initializer="zeros",
        dropout=rate,
        return_sequences=True,
    )
    out = np.asarray(layer(np.ones((batch, 3, units), "float32"), training=True))
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert abs((out == 0).mean() - rate) < 0.05
    np.testing.assert_array_equal(out[:, 1:], out[:, :1].repeat(2, axis=1))


def test_recurrent_dropout_mask_is_drawn_once_per_sequence():
    """Recurrent dropout: h_t = (h_{t-1} * m) @ I from h_0 = 1, so h_1 = m and h_2 = m * m."""
    rate, batch, units = 0.5, 128, 16
    layer = recurrent.SimpleRNN(
        units,
        activation=None,
        use_bias=False,
        kernel_initializer="zeros",
        recurrent_initializer="identity",
        recurrent_dropout=rate,
        return_sequences=True,
    )
    h0 = np.ones((batch, units), "float32")
    out = np.asarray(layer(np.ones((batch, 2, 3), "float32"), initial_state=h0, training=True))
    assert set(np.unique(out[:, 0])) <= {0.0, 2.0}
    assert abs((out[:, 0] == 0).mean() - rate) < 0.05
    np.testing.assert_array_equal(out[:, 1], out[:, 0] ** 2)


@pytest.mark.parametrize("cell_name, gates", [("LSTMCell", 4), ("GRUCell", 3)])
def test_recurrent_dropout_gives_each_gate_its_masks(cell_name, gates):
    """Keras' implementation 1: with recurrent_dropout, one input and recurrent mask per gate."""
    cell = getattr(recurrent, cell_name)(32, dropout=0.25, recurrent_dropout=0.5)
    dp, rec = cell.draw_dropout_masks((128, 32))
    assert dp.shape == (gates, 128, 32) and rec.shape == (gates, 128, 32)
    for mask, rate in ((np.asarray(dp), 0.25), (np.asarray(rec), 0.5)):
        assert set(np.unique(mask)) <= {0.0, np.float32(1 / (1 - rate))}
        assert abs((mask == 0).mean() - rate) < 0.03
        assert not np.array_equal(mask[0], mask[1])
    assert getattr(recurrent, cell_name)(4, dropout=0.5).dropout_mask_count == 1


@pytest.mark.parametrize("cls_name", ["SimpleRNN", "LSTM", "GRU"])
def test_dropout_training_vs_inference(cls_name):
    cls = getattr(recurrent, cls_name)
    layer = cls(U, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)
    plain = cls(U, return_sequences=True)
    x = sequences()
    inference = layer(x)
    plain(x)
    plain.set_weights(layer.get_weights())
    assert_close(inference, plain(x), "inference ignores dropout")
    assert_close(layer(x, training=False), inference, "training=False")
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]  # the cell's SeedGenerator
    first = layer(x, training=True)
    again = layer(x, training=True)
    replay, _ = layer.stateless_call(trainable, state, x, training=True)
    assert_close(replay, first, "same generator state, same masks")
    assert not np.allclose(first, inference)
    assert not np.allclose(first, again)  # fresh masks for every sequence batch


def test_dropout_and_stateful_in_fit():
    """Masks drawn inside the jitted step (RngScope); states carried as non-trainable state."""
    x_in = shoal.Input(batch_shape=(2, T, F))
    lstm = recurrent.LSTM(U, stateful=True, dropout=0.2, recurrent_dropout=0.2)
    model = shoal.Model(x_in, shoal.layers.Dense(1)(lstm(x_in)))
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(
        sequences(0, (4, T, F)), np.ones((4, 1), "float32"), batch_size=2, shuffle=False,
        epochs=1, verbose=0,
    )  # fmt: skip
    assert np.isfinite(history.history["loss"][-1])
    assert np.any(lstm.states[0].numpy() != 0)
    lstm.reset_states()
    assert not np.any(lstm.states[0].numpy())


# -- one recurrent matmul per step ---------------------------------------------------------


def _jaxprs_in(eqn):
    for value in eqn.params.values():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, jax_core.ClosedJaxpr):
                yield item.jaxpr
            elif isinstance(item, jax_core.Jaxpr):
                yield item


def _count(jaxpr, primitive):
    n = 0
    for eqn in jaxpr.eqns:
        n += eqn.primitive.name == primitive
        n += sum(_count(sub, primitive) for sub in _jaxprs_in(eqn))
    return n


def _scan_bodies(jaxpr):
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "scan":
            yield eqn.params["jaxpr"].jaxpr
        else:
            for sub in _jaxprs_in(eqn):
                yield from _scan_bodies(sub)


@pytest.mark.parametrize(
    "cls_name, kwargs, training, in_scan",
    [
        ("SimpleRNN", {}, False, 1),
        ("LSTM", {}, False, 1),
        ("GRU", {}, False, 1),
        # per-gate recurrent dropout masks: still one (batched) matmul
        ("LSTM", {"dropout": 0.2, "recurrent_dropout": 0.2}, True, 1),
        # (r * h) @ U_h needs r, which needs h @ U_r: two dependent matmuls
        ("GRU", {"reset_after": False}, False, 2),
    ],
)
def test_scan_body_has_one_recurrent_matmul(cls_name, kwargs, training, in_scan):
    layer = getattr(recurrent, cls_name)(U, **kwargs)
    x = sequences()
    layer.build(x.shape)
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]

    def forward(trainable, x):
        with shoal.backend.random.RngScope(jax.random.key(0)):
            return layer.stateless_call(trainable, state, x, training=training)[0]

    jaxpr = jax.make_jaxpr(forward)(trainable, x).jaxpr
    bodies = list(_scan_bodies(jaxpr))
    assert len(bodies) == 1
    assert _count(bodies[0], "dot_general") == in_scan
    # the input projection of all timesteps: one matmul, outside the scan
    assert _count(jaxpr, "dot_general") == in_scan + 1


# -- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: recurrent.LSTM(0), ["LSTM", "units", "positive integer", "0"]),
        (lambda: recurrent.GRU(-3), ["GRU", "units", "-3"]),
        (lambda: recurrent.SimpleRNN(2.5), ["SimpleRNN", "units", "2.5"]),
        (lambda: recurrent.LSTMCell(0), ["LSTMCell", "units", "0"]),
        (lambda: recurrent.LSTM(4, dropout=1.0), ["LSTM", "dropout", "[0, 1)", "1.0"]),
        (lambda: recurrent.GRU(4, recurrent_dropout=-0.1), ["GRU", "recurrent_dropout", "-0.1"]),
        (lambda: recurrent.SimpleRNNCell(4, dropout=2), ["SimpleRNNCell", "dropout", "2"]),
        (lambda: recurrent.LSTM(4, use_cudnn="yes"), ["LSTM", "use_cudnn", "'yes'"]),
        (lambda: recurrent.GRU(4, seed="x"), ["GRU", "seed", "'x'"]),
        (lambda: recurrent.RNN(object()), ["RNN", "cell", "call"]),
        (lambda: recurrent.RNN([recurrent.LSTMCell(2), 3]), ["StackedRNNCells", "cells[1]"]),
    ],
)
def test_construction_errors_name_the_argument(make, words):
    with pytest.raises(ValueError) as info:
        make()
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_call_errors_name_the_argument():
    x = sequences()
    lstm = recurrent.LSTM(U)
    with pytest.raises(ValueError, match=r"LSTM 'lstm.*'initial_state'.*2 tensor.*got 1"):
        lstm(x, initial_state=[np.zeros((B, U), "float32")])
    with pytest.raises(ValueError, match=r"'initial_state'.*\(3, 4\).*\(3, 5\)"):
        lstm(x, initial_state=[np.zeros((B, U), "float32"), np.zeros((B, 5), "float32")])
    with pytest.raises(ValueError, match=r"'initial_state'.*got 1"):
        lstm(shoal.Input((T, F)), initial_state=[shoal.Input((U,))])
    with pytest.raises(ValueError, match=r"'mask'.*\(3, 5\).*\(3, 4\)"):
        lstm(x, mask=MASK[:, :4])
    with pytest.raises(ValueError, match=r"stateful=True.*batch size.*\(None, 5, 3\)"):
        recurrent.GRU(U, stateful=True)(shoal.Input((T, F)))
    stateful = recurrent.GRU(U, stateful=True)
    stateful(x)
    with pytest.raises(ValueError, match=r"GRU 'gru.*batch size.*expected 3, got 2"):
        stateful(x[:2])
    with pytest.raises(ValueError, match=r"simple_rnn.*expected ndim=3, found ndim=2"):
        recurrent.SimpleRNN(U)(np.zeros((B, F), "float32"))
