"""The fused recurrent layers' fast path (recurrence_vjp.py) equals the generic loop.

For SimpleRNN, LSTM and GRU under each option the fast path covers, outputs and
`jax.grad` with respect to every weight, the inputs and the initial states agree with the
generic `lax.scan` path (forced with `recurrence_vjp.general_path_only()`); options it
does not cover take the generic path; the benchmark's LSTM model takes the fast path.
(Parity with Keras 3 itself is test_layers_recurrent.py's, which runs the fast path.)
"""

from __future__ import annotations

import contextlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import shoal
from shoal.backend.random import RngScope
from shoal.layers import recurrent
from shoal.layers.recurrent import recurrence_vjp

B, T, F, U = 3, 5, 3, 4
MASK = np.array(
    [
        [False, True, True, False, True],
        [True, True, True, False, False],
        [True, False, False, True, True],
    ]
)


def sequences(seed=0, shape=(B, T, F)):
    return np.random.default_rng(seed).standard_normal(shape).astype("float32")


def n_states(cls_name):
    return 2 if cls_name == "LSTM" else 1


def softsign_like(x):  # a custom (non built-in) activation
    return x / (1.0 + jnp.abs(x))


@pytest.fixture
def fast_path_calls(monkeypatch):
    """How many times `recurrence_vjp.run` was called (the fast path taken)."""
    calls = []
    original = recurrence_vjp.run

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(recurrence_vjp, "run", spy)
    return calls


def loss_and_grads(layer, x, call_kwargs, initial_state=None, training=False, seed=0):
    """A random projection of all outputs, and its grads w.r.t. weights, x, initial state."""
    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def f(weights, x, states):
        kwargs = dict(call_kwargs)
        if states is not None:
            kwargs["initial_state"] = states
        with RngScope(jax.random.key(seed)):
            out, _ = layer.stateless_call(weights, non_trainable, x, training=training, **kwargs)
        leaves = jax.tree_util.tree_leaves(out)
        probes = [
            np.random.default_rng(10 + i).standard_normal(leaf.shape).astype("float32")
            for i, leaf in enumerate(leaves)
        ]
        return sum(jnp.sum(jnp.sin(leaf) * p) for leaf, p in zip(leaves, probes, strict=True)), out

    (value, out), grads = jax.value_and_grad(f, argnums=(0, 1, 2), has_aux=True)(
        trainable, x, initial_state
    )
    return out, value, grads


def assert_tree_close(actual, expected, what):
    a, b = jax.tree_util.tree_leaves(actual), jax.tree_util.tree_leaves(expected)
    assert len(a) == len(b), what
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=1e-5, atol=1e-6, err_msg=f"{what} [{i}]"
        )


def compare_paths(layer, x, call_kwargs=None, initial_state=None, training=False):
    """Fast vs generic path: outputs, loss and gradients; returns the fast outputs."""
    call_kwargs = call_kwargs or {}
    fast = loss_and_grads(layer, x, call_kwargs, initial_state, training)
    with recurrence_vjp.general_path_only():
        general = loss_and_grads(layer, x, call_kwargs, initial_state, training)
    assert_tree_close(fast[0], general[0], "outputs")
    assert_tree_close(fast[1], general[1], "loss")
    assert_tree_close(fast[2], general[2], "grads (weights, inputs, initial states)")
    return fast[0]


LAYERS = [
    ("SimpleRNN", {}),
    ("LSTM", {}),
    ("GRU", {}),
]
OPTIONS = {
    "last": ({}, {}),
    "sequences_states": ({"return_sequences": True, "return_state": True}, {}),
    "backwards": ({"return_sequences": True, "go_backwards": True}, {}),
    "mask": ({"return_sequences": True, "return_state": True}, {"mask": MASK}),
    "mask_backwards_zero": (
        {"return_sequences": True, "go_backwards": True, "zero_output_for_mask": True},
        {"mask": MASK},
    ),
    "mask_last_zero": ({"zero_output_for_mask": True}, {"mask": MASK}),
    "no_bias": ({"use_bias": False, "return_sequences": True}, {}),
}


@pytest.mark.parametrize("cls_name, layer_kwargs", LAYERS, ids=[n for n, _ in LAYERS])
@pytest.mark.parametrize("option", list(OPTIONS))
def test_fast_path_equals_general_path(cls_name, layer_kwargs, option, fast_path_calls):
    options, call_kwargs = OPTIONS[option]
    layer = getattr(recurrent, cls_name)(U, **layer_kwargs, **options)
    x = sequences()
    layer(x)
    fast_path_calls.clear()
    compare_paths(layer, x, call_kwargs)
    assert len(fast_path_calls) == 1  # only the first (fast) trace took it


def test_piece_bounds():
    """Up to PIECES loops of at least MIN_PIECE_STEPS steps, covering every step once."""
    assert recurrence_vjp.piece_bounds(80) == [(0, 20), (20, 40), (40, 60), (60, 80)]
    assert recurrence_vjp.piece_bounds(17) == [(0, 8), (8, 17)]
    assert recurrence_vjp.piece_bounds(15) == [(0, 15)]
    assert recurrence_vjp.piece_bounds(1) == [(0, 1)]


@pytest.fixture
def three_pieces(monkeypatch):
    """Recurrences of T steps run as three loops: steps [0, 1), [1, 3), [3, 5)."""
    monkeypatch.setattr(recurrence_vjp, "PIECES", 3)
    monkeypatch.setattr(recurrence_vjp, "MIN_PIECE_STEPS", 1)
    assert recurrence_vjp.piece_bounds(T) == [(0, 1), (1, 3), (3, 5)]


@pytest.mark.parametrize("cls_name", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("option", ["sequences_states", "mask", "mask_backwards_zero"])
def test_pieces_equal_general_path(cls_name, option, three_pieces, fast_path_calls):
    """Outputs, states and gradients of a recurrence run in pieces: forward and backward
    order, masks, and (GRU) the non-additive step that saves its projections."""
    options, call_kwargs = OPTIONS[option]
    layer = getattr(recurrent, cls_name)(U, **options)
    x = sequences()
    layer(x)
    fast_path_calls.clear()
    states = [sequences(1 + i, (B, U)) for i in range(n_states(cls_name))]
    compare_paths(layer, x, call_kwargs, initial_state=states)
    assert len(fast_path_calls) == 1


def test_pieces_are_separate_loops(monkeypatch):
    """Each piece is its own forward and reverse loop in the compiled gradient (so a
    piece's matmuls can run beside the next piece's loop), and none copies a buffer."""
    monkeypatch.setattr(recurrence_vjp, "MIN_PIECE_STEPS", 2)
    assert recurrence_vjp.piece_bounds(T) == [(0, 2), (2, 5)]
    hlo = compiled_gradient(recurrent.LSTM(U, return_sequences=True), {"mask": MASK})
    bodies = set(re.findall(r"body=%([\w.\-]+)", hlo))
    assert len(bodies) == 4
    for name in bodies:
        body = re.search(rf"^%{re.escape(name)} .*?^}}", hlo, re.M | re.S).group(0)
        assert not re.findall(rf"= f32\[\d+,{B},\d+\]\S* copy\(", body), name


@pytest.mark.parametrize("cls_name", ["SimpleRNN", "LSTM", "GRU"])
def test_initial_state_gradients(cls_name, fast_path_calls):
    layer = getattr(recurrent, cls_name)(U, return_sequences=True, return_state=True)
    x = sequences()
    layer(x)
    states = [sequences(1 + i, (B, U)) for i in range(n_states(cls_name))]
    compare_paths(layer, x, {"mask": MASK}, initial_state=states)
    assert len(fast_path_calls) == 2  # the eager build call and the fast trace


@pytest.mark.parametrize(
    "cls_name, kwargs",
    [
        ("SimpleRNN", {"activation": softsign_like}),
        ("LSTM", {"activation": softsign_like, "recurrent_activation": "hard_sigmoid"}),
        ("LSTM", {"activation": "relu", "recurrent_activation": softsign_like}),
        ("GRU", {"activation": "elu", "recurrent_activation": softsign_like}),
        ("GRU", {"recurrent_activation": "hard_sigmoid", "use_bias": False}),
    ],
)
def test_activations(cls_name, kwargs, fast_path_calls):
    layer = getattr(recurrent, cls_name)(U, return_sequences=True, **kwargs)
    x = sequences()
    layer(x)
    compare_paths(layer, x, {"mask": MASK})
    assert len(fast_path_calls) == 2


@pytest.mark.parametrize(
    "cls_name, kwargs",
    [
        ("SimpleRNN", {"dropout": 0.3, "recurrent_dropout": 0.4}),
        ("LSTM", {"dropout": 0.3}),
        ("GRU", {"dropout": 0.3}),
    ],
)
def test_dropout_with_one_mask(cls_name, kwargs, fast_path_calls):
    """One input (and recurrent) dropout mask: the fast path, drawing the same masks."""
    layer = getattr(recurrent, cls_name)(U, return_sequences=True, **kwargs)
    x = sequences()
    layer(x)
    fast_path_calls.clear()
    out = compare_paths(layer, x, training=True)
    assert len(fast_path_calls) == 1
    with RngScope(jax.random.key(0)):
        inference = layer(x, training=False)
    assert not np.allclose(out, inference)  # dropout did act


@pytest.mark.parametrize(
    "cls_name, kwargs, training",
    [
        ("LSTM", {"recurrent_dropout": 0.3}, True),  # one mask per gate
        ("GRU", {"dropout": 0.2, "recurrent_dropout": 0.3}, True),
        ("LSTM", {"dropout": 0.3, "implementation": 1}, True),
        ("GRU", {"reset_after": False}, False),  # two matmuls a step
        ("LSTM", {"unroll": True}, False),
        ("SimpleRNN", {"unroll": True}, False),
    ],
)
def test_other_options_take_the_general_path(cls_name, kwargs, training, fast_path_calls):
    layer = getattr(recurrent, cls_name)(U, return_sequences=True, **kwargs)
    x = sequences()
    layer(x)
    fast_path_calls.clear()
    with RngScope(jax.random.key(0)):
        layer(x, training=training)
    assert fast_path_calls == []


def test_recurrent_dropout_without_training_takes_the_fast_path(fast_path_calls):
    layer = recurrent.LSTM(U, recurrent_dropout=0.3)
    layer(sequences())
    assert len(fast_path_calls) == 1


@pytest.mark.parametrize("cls_name", ["SimpleRNN", "LSTM", "GRU"])
def test_stateful_calls_carry_the_same_states(cls_name):
    def run(fast):
        shoal.utils.set_random_seed(3)
        layer = getattr(recurrent, cls_name)(U, stateful=True, return_sequences=True)
        context = recurrence_vjp.general_path_only() if not fast else contextlib.nullcontext()
        with context:
            outs = [layer(sequences(i)) for i in range(3)]
        return outs, [v.numpy() for v in layer.states]

    assert_tree_close(run(True), run(False), "stateful outputs and states")


def test_mixed_precision_policy():
    layer = recurrent.LSTM(U, return_sequences=True, dtype="mixed_bfloat16")
    x = sequences()
    out = layer(x)
    with recurrence_vjp.general_path_only():
        general = layer(x)
    assert out.dtype == general.dtype
    np.testing.assert_allclose(
        np.asarray(out, "float32"), np.asarray(general, "float32"), rtol=2e-2, atol=2e-2
    )


def test_jitted_gradients_inside_a_model():
    """A functional model trained a few steps reaches the same weights on both paths."""

    def train(fast):
        shoal.utils.set_random_seed(0)
        inputs = shoal.Input((T, F))
        x = recurrent.GRU(U, return_sequences=True)(inputs)
        x = recurrent.LSTM(U, go_backwards=True)(x)
        model = shoal.Model(inputs, shoal.layers.Dense(1)(x))
        model.compile(optimizer="adam", loss="mse")
        context = recurrence_vjp.general_path_only() if not fast else contextlib.nullcontext()
        data = sequences(0, (8, T, F)), sequences(1, (8, 1))
        with context:
            model.fit(*data, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    assert_tree_close(train(True), train(False), "weights after training")


def test_benchmark_lstm_model_takes_the_fast_path(fast_path_calls):
    """benchmarks/bench_fit.py's `lstm` model: Embedding -> LSTM(64) -> Dense(sigmoid)."""
    model = shoal.Sequential(
        [
            shoal.Input((80,), dtype="int32"),
            shoal.layers.Embedding(20000, 128),
            recurrent.LSTM(64),
            shoal.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    fast_path_calls.clear()
    ids = np.random.default_rng(0).integers(0, 20000, (8, 80)).astype("int32")
    model.fit(ids, np.ones((8, 1), "float32"), batch_size=8, epochs=1, verbose=0)
    assert fast_path_calls  # traced through the fast path


def compiled_gradient(layer, call_kwargs):
    """The optimized HLO of the gradient of `layer`'s outputs (squared, summed) with
    respect to its weights and inputs."""
    x = sequences()
    layer(x)
    trainable = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]

    def loss(weights, x):
        out, _ = layer.stateless_call(weights, state, x, **call_kwargs)
        return sum(jnp.sum(o**2) for o in jax.tree_util.tree_leaves(out))

    return jax.jit(jax.grad(loss, argnums=(0, 1))).lower(trainable, x).compile().as_text()


@pytest.mark.parametrize(
    "cls_name, kwargs, call_kwargs",
    [
        ("LSTM", {"return_sequences": True}, {}),
        ("LSTM", {"activation": "relu", "recurrent_activation": softsign_like}, {}),
        ("SimpleRNN", {"go_backwards": True, "return_sequences": True}, {"mask": MASK}),
        ("GRU", {"return_state": True}, {"mask": MASK}),
    ],
)
def test_loops_copy_no_sequence_buffer(cls_name, kwargs, call_kwargs):
    """No step copies a (time, batch, ...) buffer: the loops update theirs in place.

    A structural guard, not a timing test: XLA copies a loop-carried buffer every step
    when a step may still read its old value after updating it in place.
    """
    hlo = compiled_gradient(getattr(recurrent, cls_name)(U, **kwargs), call_kwargs)
    bodies = set(re.findall(r"body=%([\w.\-]+)", hlo))
    assert len(bodies) >= 2  # the forward and the backward loop
    for name in bodies:
        body = re.search(rf"^%{re.escape(name)} .*?^}}", hlo, re.M | re.S).group(0)
        assert not re.findall(rf"= f32\[{T},{B},\d+\]\S* copy\(", body), name


def sliced_dynamic_slices(hlo):
    """(computation, dynamic-slice) pairs where static `slice`s at two or more offsets
    read, through elementwise ops, the same `dynamic-slice` in one fused computation."""
    found = []
    for computation in re.finditer(r"^(%[\w.\-]+) \(.*?\n}", hlo, re.S | re.M):
        instructions = {
            m.group(1): (m.group(2), re.findall(r"%[\w.\-]+", m.group(3)), m.group(4))
            for m in re.finditer(
                r"^\s+(?:ROOT )?(%[\w.\-]+) = \S+ ([\w\-]+)\((.*?)\)(.*)$",
                computation.group(0),
                re.M,
            )
        }
        offsets = {}  # dynamic-slice -> the static slices that read it
        for op, operands, attributes in instructions.values():
            if op != "slice":
                continue
            stack, seen = list(operands), set()
            while stack:
                operand = stack.pop()
                if operand in seen or operand not in instructions:
                    continue
                seen.add(operand)
                operand_op, operand_inputs, _ = instructions[operand]
                if operand_op == "dynamic-slice":
                    config = re.search(r"slice=\{[^}]*\}", attributes).group(0)
                    offsets.setdefault(operand, set()).add(config)
                elif operand_op not in ("dot", "convolution", "reduce", "fusion"):
                    stack.extend(operand_inputs)
        found += [(computation.group(1), d) for d, configs in offsets.items() if len(configs) > 1]
    return found


@pytest.mark.parametrize(
    "cls_name, kwargs, call_kwargs",
    [
        ("SimpleRNN", {"return_sequences": True}, {}),
        ("LSTM", {"return_sequences": True, "return_state": True}, {"mask": MASK}),
        ("LSTM", {"recurrent_activation": "hard_sigmoid", "go_backwards": True}, {}),
        ("GRU", {"return_sequences": True}, {"mask": MASK}),
    ],
)
def test_loop_kernels_read_gates_as_their_own_dynamic_slices(cls_name, kwargs, call_kwargs):
    """No kernel takes static slices of a step's dynamic slice: XLA:CPU runs such a
    kernel as scalar code (the GRU gradient was 16.7 ms, 11.8 ms without)."""
    hlo = compiled_gradient(getattr(recurrent, cls_name)(8, **kwargs), call_kwargs)
    assert "while" in hlo
    assert sliced_dynamic_slices(hlo) == []
