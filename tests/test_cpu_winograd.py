"""3x3 convolutions as Winograd F(m x m, 3 x 3) on CPU (shoal.ops.cpu_winograd) equal lax's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import shoal
from shoal.ops import cpu_conv, cpu_lowering, cpu_winograd

RNG = np.random.default_rng(0)
NUMBERS = cpu_conv._channels_last_numbers(2)


def as_array(matrix):
    return np.array([[float(v) for v in row] for row in matrix])


@pytest.mark.parametrize("m", [2, 4])
def test_the_transforms_compute_a_correlation(m):
    """In 1-D: A^T [(G g) * (B^T d)] = (d[i] g[0] + d[i+1] g[1] + d[i+2] g[2])_i."""
    bt, g, at = (as_array(t) for t in cpu_winograd.TRANSFORMS[m])
    d, k = RNG.standard_normal(m + 2), RNG.standard_normal(3)
    expected = [d[i : i + 3] @ k for i in range(m)]
    np.testing.assert_allclose(at @ ((g @ k) * (bt @ d)), expected, rtol=1e-12, atol=1e-12)


def lax_conv(x, w):
    return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=NUMBERS)


def value_and_grads(conv, x, w):
    y, pullback = jax.vjp(conv, x, w)
    g = jnp.asarray(np.random.default_rng(1).standard_normal(y.shape), jnp.float32)
    return (y, *pullback(g))


def assert_close(ours, reference):
    for a, b in zip(ours, reference, strict=True):
        scale = float(jnp.max(jnp.abs(b)))
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5 * scale)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize(
    "x_shape, filters",
    [
        ((2, 6, 7, 3), 4),  # outputs 4x5: the last column of tiles half empty
        ((1, 3, 3, 2), 5),  # one output
        ((3, 11, 9, 6), 2),
    ],
)
def test_values_and_gradients_equal_lax(m, x_shape, filters):
    x = jnp.asarray(RNG.standard_normal(x_shape), jnp.float32)
    w = jnp.asarray(RNG.standard_normal((3, 3, x_shape[-1], filters)), jnp.float32)
    ours = jax.jit(value_and_grads, static_argnums=0)(
        lambda x, w: cpu_winograd.conv3x3(x, w, m), x, w
    )
    assert ours[0].shape == (x_shape[0], x_shape[1] - 2, x_shape[2] - 2, filters)
    assert_close(ours, value_and_grads(lax_conv, x, w))


@pytest.fixture
def winograd_everywhere(monkeypatch):
    monkeypatch.setattr(cpu_conv, "WINOGRAD_MIN_CHANNELS", 1)
    monkeypatch.setattr(cpu_conv, "WINOGRAD_MIN_TILES", 1)


@pytest.mark.parametrize("padding", ["SAME", "VALID", [(2, 0), (1, 3)]])
def test_padded_convolutions_equal_lax(padding, winograd_everywhere):
    x = jnp.asarray(RNG.standard_normal((2, 7, 6, 3)), jnp.float32)
    w = jnp.asarray(RNG.standard_normal((3, 3, 3, 4)), jnp.float32)
    assert cpu_conv._plan(x, w, (1, 1), padding, None, NUMBERS, 1).tile == 4

    def ours(x, w):
        return cpu_conv.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=NUMBERS)

    def reference(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), padding, dimension_numbers=NUMBERS)

    assert_close(value_and_grads(ours, x, w), value_and_grads(reference, x, w))


def test_second_derivatives_and_scans_equal_lax(winograd_everywhere):
    """The backward pass is plain jnp (differentiable again) and the residuals are arrays
    (a `lax.scan` stacks them): a gradient penalty through three recurrent steps."""
    w = jnp.asarray(RNG.standard_normal((3, 3, 4, 4)) * 0.3, jnp.float32)
    h0 = jnp.asarray(RNG.standard_normal((2, 6, 6, 4)), jnp.float32)

    def loss(w, conv):
        def step(h, _):
            return jnp.tanh(conv(h, w, (1, 1), "SAME", dimension_numbers=NUMBERS)), None

        def inner(w):
            return jnp.sum(lax.scan(step, h0, None, length=3)[0] ** 2)

        return jnp.sum(jax.grad(inner)(w) ** 2)

    ours = jax.value_and_grad(loss)(w, cpu_conv.conv_general_dilated)
    reference = jax.value_and_grad(loss)(w, lax.conv_general_dilated)
    assert_close(ours, reference)


def test_a_conv_model_trains_the_same_as_with_lax():
    """fit on a Conv2D model whose second layer runs as Winograd (4x4 tiles) gives lax's
    weights, also with steps fused into one execution."""
    x = np.random.default_rng(1).standard_normal((64, 12, 12, 3)).astype("float32")
    y = np.random.default_rng(2).integers(0, 4, 64)

    def train(steps_per_execution=1):
        shoal.utils.set_random_seed(3)
        model = shoal.Sequential(
            [
                shoal.Input((12, 12, 3)),
                shoal.layers.Conv2D(16, 3, activation="relu", padding="same"),
                shoal.layers.Conv2D(16, 3, activation="relu"),
                shoal.layers.GlobalAveragePooling2D(),
                shoal.layers.Dense(4),
            ]
        )
        model.compile(
            optimizer="adam",
            loss=shoal.losses.SparseCategoricalCrossentropy(from_logits=True),
            steps_per_execution=steps_per_execution,
        )
        model.fit(x, y, batch_size=32, epochs=3, verbose=0)
        return model.get_weights()

    x32, w = jnp.ones((32, 12, 12, 16)), jnp.ones((3, 3, 16, 16))
    assert cpu_conv._plan(x32, w, (1, 1), "VALID", None, NUMBERS, 1).tile == 4
    lowered, fused = train(), train(steps_per_execution=2)
    with cpu_lowering.lax_only():
        reference = train()
    for a, b, c in zip(lowered, fused, reference, strict=True):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(b, c, rtol=1e-4, atol=1e-5)
