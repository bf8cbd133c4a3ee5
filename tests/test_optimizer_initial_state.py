"""Optimizer slots filled on the host equal optax's eager `init` (shoal.optimizers.initial_state)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import shoal
from shoal.optimizers.initial_state import initial_state

NAMES = ["SGD", "Adam", "AdamW", "Adamax", "Nadam", "RMSprop", "Adagrad", "Adadelta", "Adafactor",
         "Ftrl", "Lion"]  # fmt: skip


def variables():
    return [
        shoal.Variable(np.ones((3, 4), "float32")),
        shoal.Variable(np.ones((5,), "float32")),
        shoal.Variable(np.ones((2, 3, 4), "float32")),
    ]


def assert_same_state(ours, ref):
    assert jax.tree_util.tree_structure(ours) == jax.tree_util.tree_structure(ref)
    for a, b in zip(jax.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(ref), strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_equals_eager_init(name):
    vs = variables()
    opt = getattr(shoal.optimizers, name)(momentum=0.9) if name == "SGD" else None
    opt = opt or getattr(shoal.optimizers, name)()
    opt.build(vs)
    ref = opt._tx.init([jnp.zeros(v.shape, v.dtype) for v in vs])
    assert_same_state(initial_state(opt._tx, vs), ref)


def test_a_state_that_is_not_a_constant_fill_falls_back_to_init():
    tx = optax.GradientTransformation(
        init=lambda params: [jnp.arange(p.size, dtype=p.dtype).reshape(p.shape) for p in params],
        update=lambda updates, state, params=None: (updates, state),
    )
    vs = variables()
    assert_same_state(initial_state(tx, vs), tx.init([jnp.zeros(v.shape) for v in vs]))
