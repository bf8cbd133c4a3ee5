"""FLOPs counted on a jaxpr (shoal.trainers.flop_count), which sizes fused executions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import shoal
from shoal.backend import random as shoal_random
from shoal.trainers import flop_count


def flops(fn, *args):
    return flop_count.step_flops(jax.jit(fn), args)


def test_dot_counts_two_flops_per_multiply_add():
    a, b = jnp.ones((6, 5)), jnp.ones((5, 7))
    assert flops(lambda a, b: a @ b, a, b) == 2 * 6 * 5 * 7
    # batched dot: the batch dimension multiplies the output, the contraction the depth
    x, y = jnp.ones((3, 6, 5)), jnp.ones((3, 5, 7))
    assert flops(lambda x, y: jnp.einsum("bij,bjk->bik", x, y), x, y) == 2 * 3 * 6 * 5 * 7


@pytest.mark.parametrize("groups", [1, 2])
def test_convolution_counts_its_window(groups):
    x = jnp.ones((2, 4, 9, 9))  # NCHW
    w = jnp.ones((6, 4 // groups, 3, 3))  # OIHW
    conv = lambda x, w: jax.lax.conv_general_dilated(  # noqa: E731
        x, w, (1, 1), "VALID", feature_group_count=groups
    )
    out = 2 * 6 * 7 * 7
    assert flops(conv, x, w) == 2 * out * (4 // groups) * 3 * 3


def test_loops_count_their_trip_count_and_elementwise_ops_their_outputs():
    def fn(c, w):
        def body(c, _):
            return jnp.tanh(c @ w), None

        return jax.lax.scan(body, c, None, length=10)[0]

    c, w = jnp.ones((3, 4)), jnp.ones((4, 4))
    assert flops(fn, c, w) == 10 * (2 * 3 * 4 * 4 + 3 * 4)


def test_train_step_agrees_with_xla_estimate():
    model = shoal.Sequential(
        [shoal.Input((20,)), shoal.layers.Dense(32, activation="relu"), shoal.layers.Dense(3)]
    )
    model.compile(optimizer="adam", loss="mse")
    x, y = np.ones((8, 20), "float32"), np.ones((8, 3), "float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    fn = model._step_function("train")
    args = (model._read_state("train"), jax.random.key(0), (jnp.asarray(x), jnp.asarray(y), None))
    ours = flop_count.step_flops(fn, args)
    xla = fn.lower(*args).cost_analysis()["flops"]
    assert ours == pytest.approx(xla, rel=0.1)


def test_primitives_are_found_in_loops_calls_and_custom_vjps():
    @jax.custom_vjp
    def conv(x, w):
        return jax.lax.conv(x, w, (1, 1), "VALID")

    conv.defvjp(lambda x, w: (conv(x, w), (x, w)), lambda r, g: (jnp.zeros_like(r[0]), r[1]))

    def fn(x, w):
        def body(c, _):
            return c, jnp.sum(jax.jit(conv)(x, w))

        return jax.lax.scan(body, 0.0, None, length=2)[1]

    x, w = jnp.ones((1, 1, 5, 5)), jnp.ones((1, 1, 3, 3))
    found = flop_count.primitives(flop_count.trace(jax.jit(fn), (x, w)))
    assert {"scan", "conv_general_dilated", "reduce_sum"} <= found
    assert "conv_general_dilated" not in flop_count.primitives(
        flop_count.trace(jax.jit(lambda x: jnp.tanh(x) @ x), (jnp.ones((3, 3)),))
    )


def test_untraceable_function_counts_zero():
    def bad(x):
        raise TypeError("no")

    assert flop_count.step_flops(jax.jit(bad), (jnp.ones(2),)) == 0.0


def test_global_key_data_is_seeded_and_fresh():
    shoal_random.set_seed(5)
    first = [shoal_random.global_key_data() for _ in range(2)]
    shoal_random.set_seed(5)
    again = [shoal_random.global_key_data() for _ in range(2)]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])
    assert first[0].dtype == np.uint32
    assert jax.random.wrap_key_data(first[0]).shape == ()
