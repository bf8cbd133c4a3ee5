"""Dense matmuls with the weight gradient rewritten on CPU (shoal.ops.cpu_matmul)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from shoal.ops import cpu_lowering, cpu_matmul

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def any_rows(request, monkeypatch):
    """The rewrite's math holds for any number of rows; take it from one row up."""
    if "default_rows" not in request.keywords:
        monkeypatch.setattr(cpu_matmul, "MIN_ROWS", 1)


def array(*shape):
    return jnp.asarray(RNG.standard_normal(shape), jnp.float32)


@pytest.mark.parametrize("x_shape", [(6, 5), (2, 3, 5), (2, 2, 2, 5)])
def test_values_and_gradients_equal_jnp_matmul(x_shape):
    x, w, g = array(*x_shape), array(5, 4), array(*x_shape[:-1], 4)

    def loss(matmul, x, w):
        return jnp.sum(jnp.sin(matmul(x, w)) * g)

    ours = jax.value_and_grad(lambda x, w: loss(cpu_matmul.matmul, x, w), argnums=(0, 1))(x, w)
    ref = jax.value_and_grad(lambda x, w: loss(jnp.matmul, x, w), argnums=(0, 1))(x, w)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_forward_mode_and_second_derivatives():
    x, w, dx, dw = array(6, 5), array(5, 4), array(6, 5), array(5, 4)
    y, tangent = jax.jvp(cpu_matmul.matmul, (x, w), (dx, dw))
    np.testing.assert_allclose(y, x @ w, rtol=1e-6)
    np.testing.assert_allclose(tangent, dx @ w + x @ dw, rtol=1e-5, atol=1e-6)

    def second(matmul):
        return jax.grad(lambda x: jnp.sum(jax.grad(lambda w: jnp.sum(matmul(x, w) ** 2))(w)))(x)

    np.testing.assert_allclose(second(cpu_matmul.matmul), second(jnp.matmul), rtol=1e-5)


def weight_gradient_dots(hlo):
    """The lhs contracting dims of the dots producing a (5, 4) weight gradient."""
    return re.findall(r"f32\[5,4\]\{1,0\} dot\(.*?lhs_contracting_dims=\{(\d)\}", hlo)


def test_the_weight_gradient_is_a_plain_product_on_a_transposed_copy():
    x, w = array(64, 5), array(5, 4)

    def hlo(matmul):
        grad = jax.jit(jax.grad(lambda w: jnp.sum(matmul(x, w) ** 2)))
        return grad.lower(w).compile().as_text()

    assert weight_gradient_dots(hlo(jnp.matmul)) == ["0"]  # x^T @ dy: contracts x's dim 0
    assert weight_gradient_dots(hlo(cpu_matmul.matmul)) == ["1"]  # (x^T copy) @ dy
    with cpu_lowering.lax_only():
        jaxpr = str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(cpu_matmul.matmul(x, w))))(w))
    assert "optimization_barrier" not in jaxpr


@pytest.mark.default_rows
@pytest.mark.parametrize("rows, rewritten", [(128, False), (cpu_matmul.MIN_ROWS, True)])
def test_the_rewrite_is_taken_from_min_rows(rows, rewritten):
    x, w = array(rows // 4, 4, 5), array(5, 4)
    jaxpr = str(jax.make_jaxpr(jax.grad(lambda w: jnp.sum(cpu_matmul.matmul(x, w))))(w))
    assert ("optimization_barrier" in jaxpr) == rewritten


@pytest.mark.parametrize(
    "equation, x_shape, w_shape, n_in",
    [
        ("abc,cde->abde", (2, 3, 5), (5, 2, 4), 1),  # a MultiHeadAttention projection
        ("abcd,cde->abe", (2, 3, 2, 4), (2, 4, 5), 2),  # its output projection
        ("abcd,de->abce", (2, 3, 4, 5), (5, 6), 1),
    ],
)
def test_contract_equals_the_einsum(equation, x_shape, w_shape, n_in):
    x, w = array(*x_shape), array(*w_shape)
    np.testing.assert_allclose(
        cpu_matmul.contract(x, w, n_in), jnp.einsum(equation, x, w), rtol=1e-5, atol=1e-6
    )
    grad = jax.grad(lambda w: jnp.sum(jnp.cos(cpu_matmul.contract(x, w, n_in))))(w)
    ref = jax.grad(lambda w: jnp.sum(jnp.cos(jnp.einsum(equation, x, w))))(w)
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-6)
