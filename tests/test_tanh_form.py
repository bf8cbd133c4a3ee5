"""tanh_form: sigmoid/tanh gates activated by one tanh kernel, derivatives from outputs."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shoal import activations
from shoal.layers import recurrent
from shoal.layers.recurrent import recurrence_vjp, tanh_form

UNITS = 3
KINDS = {"sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}


def pre_activations(gates, seed=0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.standard_normal((5, gates * UNITS)) * 4, "float32")


@pytest.mark.parametrize(
    "kinds", [("sigmoid", "sigmoid", "tanh", "sigmoid"), ("tanh",), ("sigmoid",), ("tanh", "tanh")]
)
def test_activate_and_derivative_match_the_activations(kinds):
    form = tanh_form.of([getattr(activations, kind) for kind in kinds])
    assert form is not None and form.kinds == kinds
    pre = pre_activations(len(kinds))
    acts = form.activate(pre)
    for k, kind in enumerate(kinds):
        block = pre[:, k * UNITS : (k + 1) * UNITS]
        y = acts[:, k * UNITS : (k + 1) * UNITS]
        np.testing.assert_allclose(y, KINDS[kind](block), rtol=1e-6, atol=1e-7)
        slope = jax.vmap(jax.vmap(jax.grad(KINDS[kind])))(block)
        np.testing.assert_allclose(form.derivative(k, y), slope, rtol=1e-5, atol=1e-7)


def custom_sigmoid(x):
    return 1 / (1 + jnp.exp(-x))


@pytest.mark.parametrize(
    "gate_activations",
    [
        (activations.sigmoid, activations.hard_sigmoid),
        (activations.tanh, custom_sigmoid),
        (activations.relu,),
        (),
        None,
    ],
)
def test_other_activations_have_no_tanh_form(gate_activations):
    assert tanh_form.of(gate_activations) is None


@pytest.mark.parametrize(
    "cls_name, kwargs, expected",
    [
        ("LSTM", {}, ("sigmoid", "sigmoid", "tanh", "sigmoid")),
        ("LSTM", {"recurrent_activation": "hard_sigmoid"}, None),
        ("SimpleRNN", {}, ("tanh",)),
        ("SimpleRNN", {"activation": "relu"}, None),
    ],
)
def test_cells_describe_their_gates(cls_name, kwargs, expected):
    """The cells whose fast path saves activated gates (GRU's step is not additive)."""
    layer = getattr(recurrent, cls_name)(UNITS, **kwargs)
    layer.build((2, 4, 3))
    math = layer.cell.step_math()
    form = tanh_form.of(math.activations) if math.additive and math.combine else None
    assert (form.kinds if form else None) == expected
    if math.combine is not None:  # combine(activations of the gates) is the step
        rng = np.random.default_rng(1)
        pre = jnp.asarray(rng.standard_normal((2, math.gates * UNITS)), "float32")
        states = [jnp.asarray(rng.standard_normal((2, UNITS)), "float32")] * (
            2 if cls_name == "LSTM" else 1
        )
        gates = jnp.split(pre, math.gates, axis=-1)
        acts = [fn(g) for fn, g in zip(math.activations, gates, strict=True)]
        assert_all_close(math.combine(acts, states), math.wide(pre, None, states))


def assert_all_close(actual, expected):
    for a, b in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_gates_at_reads_each_block_of_one_step():
    buffer = jnp.arange(4 * 2 * 6, dtype="float32").reshape(4, 2, 6)
    blocks = recurrence_vjp._gates_at(buffer, jnp.int32(2), 3)
    assert_all_close(blocks, jnp.split(buffer[2], 3, axis=-1))
