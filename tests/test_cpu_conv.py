"""Convolutions lowered as im2col on CPU (shoal.ops.cpu_conv) equal lax's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

import shoal
from shoal.ops import cpu_conv, cpu_lowering

RNG = np.random.default_rng(0)


@pytest.fixture
def any_shape(monkeypatch):
    """The im2col math holds for any shape; open the region `_plan` takes it in."""
    monkeypatch.setattr(cpu_conv, "SPATIAL_RANKS", (1, 2, 3))
    monkeypatch.setattr(cpu_conv, "MIN_OUT_CHANNELS", 1)
    monkeypatch.setattr(cpu_conv, "MAX_DEPTH", 10**9)
    monkeypatch.setattr(cpu_conv, "MAX_PADDED_DEPTH", 10**9)


def numbers(n):
    return cpu_conv._channels_last_numbers(n)


def value_and_grads(conv, x, w, padding, g):
    n = x.ndim - 2

    def f(x, w):
        return jnp.sum(conv(x, w, (1,) * n, padding, dimension_numbers=numbers(n)) * g)

    y = conv(x, w, (1,) * n, padding, dimension_numbers=numbers(n))
    return (y, *jax.jit(jax.grad(f, argnums=(0, 1)))(x, w))


CASES = [
    ((4, 9, 9, 1), (3, 3, 1, 5), "VALID"),  # thin patches: lax forward, gathered backward
    ((3, 8, 7, 16), (3, 3, 16, 6), "SAME"),  # deep patches: im2col forward
    ((2, 11, 8), (4, 8, 5), [(3, 0)]),  # 1-D causal padding (explicit pads)
    ((2, 5, 6, 4, 3), (2, 3, 2, 3, 4), "SAME"),  # 3-D, even kernel sizes
    ((1, 4, 4, 8), (1, 1, 8, 3), "VALID"),  # 1x1: the patches are the input
    ((1, 4, 5, 4, 8), (2, 2, 3, 8, 3), "VALID"),  # 3-D, patches from shifted views
    # pads wider than the window: the input gradient falls back to lax's transpose
    ((2, 6, 6, 8), (3, 3, 8, 4), [(3, 1), (0, 4)]),
]


@pytest.mark.parametrize("x_shape, w_shape, padding", CASES)
def test_values_and_gradients_equal_lax(x_shape, w_shape, padding, any_shape):
    x = jnp.asarray(RNG.standard_normal(x_shape), jnp.float32)
    w = jnp.asarray(RNG.standard_normal(w_shape), jnp.float32)
    n = x.ndim - 2
    assert cpu_conv._plan(x, w, (1,) * n, padding, None, numbers(n), 1) is not None
    y = lax.conv_general_dilated(x, w, (1,) * n, padding, dimension_numbers=numbers(n))
    g = jnp.asarray(RNG.standard_normal(y.shape), jnp.float32)
    ours = value_and_grads(cpu_conv.conv_general_dilated, x, w, padding, g)
    ref = value_and_grads(lax.conv_general_dilated, x, w, padding, g)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * float(jnp.max(jnp.abs(b))))


@pytest.mark.parametrize("channels, patches", [(8, "concatenate"), (2, "gather")])
def test_the_kernel_gradient_is_a_product_of_patches_not_a_convolution(channels, patches):
    x, w = jnp.ones((2, 6, 6, channels)), jnp.ones((3, 3, channels, 32))

    def loss(w):
        return jnp.sum(cpu_conv.conv_general_dilated(x, w, (1, 1), "VALID", None, numbers(2)))

    def count(name):
        return sum(e.primitive.name == name for e in jax.make_jaxpr(jax.grad(loss))(w).eqns)

    jaxpr = str(jax.make_jaxpr(jax.grad(loss))(w))
    assert patches in jaxpr and "dot_general" in jaxpr
    with cpu_lowering.lax_only():
        assert patches not in str(jax.make_jaxpr(jax.grad(loss))(w))
        assert count("conv_general_dilated") == 2  # the forward, and the kernel gradient's


def test_the_kernel_gradient_product_runs_in_halves():
    a, b = jnp.arange(24.0).reshape(6, 4), jnp.arange(18.0).reshape(6, 3)
    np.testing.assert_allclose(cpu_conv._long_product(a, b), a.T @ b)
    odd = jnp.arange(20.0).reshape(5, 4)
    np.testing.assert_allclose(cpu_conv._long_product(odd, odd[:, :3]), odd.T @ odd[:, :3])
    assert "dot_general" in str(jax.make_jaxpr(cpu_conv._long_product)(a, b))


@pytest.mark.parametrize(
    "change",
    [
        {"strides": (2, 2)},
        {"dilation": (2, 2)},
        {"groups": 2},
        {"numbers": lax.ConvDimensionNumbers((0, 1, 2, 3), (3, 2, 0, 1), (0, 1, 2, 3))},
        {"dtype": jnp.int32},
    ],
)
def test_unsupported_cases_keep_lax(change):
    x = jnp.ones((2, 6, 6, 4), change.get("dtype", jnp.float32))
    w = jnp.ones((3, 3, 4 // change.get("groups", 1), 4), change.get("dtype", jnp.float32))
    plan = cpu_conv._plan(
        x,
        w,
        change.get("strides", (1, 1)),
        "VALID",
        change.get("dilation", (1, 1)),
        change.get("numbers", numbers(2)),
        change.get("groups", 1),
    )
    assert plan is None


def test_patches_over_the_memory_cap_keep_lax(monkeypatch):
    x, w = jnp.ones((2, 6, 6, 4)), jnp.ones((3, 3, 4, 32))
    assert cpu_conv._plan(x, w, (1, 1), "VALID", None, numbers(2), 1) is not None
    monkeypatch.setattr(cpu_conv, "MAX_PATCH_BYTES", 100)
    assert cpu_conv._plan(x, w, (1, 1), "VALID", None, numbers(2), 1) is None


@pytest.mark.parametrize(
    "x_shape, w_shape, padding, path",
    [
        ((8, 28, 28, 1), (3, 3, 1, 32), "VALID", "im2col"),  # MNIST convnet, first layer
        ((128, 13, 13, 32), (3, 3, 32, 64), "VALID", "winograd 4"),  # and second
        ((8, 13, 13, 32), (3, 3, 32, 64), "VALID", "winograd 2"),  # 72 4x4 tiles: 2x2
        ((8, 32, 32, 3), (3, 3, 3, 32), "SAME", "im2col"),  # an RGB first layer
        ((8, 28, 28, 16), (3, 3, 16, 32), "SAME", "winograd 4"),  # padded and deep
        ((8, 16, 16, 64), (3, 3, 64, 128), "VALID", "winograd 2"),
        ((1, 8, 8, 64), (3, 3, 64, 64), "SAME", None),  # too few tiles for Winograd
        ((8, 28, 28, 16), (3, 3, 16, 8), "SAME", None),  # too few filters for either
        ((8, 28, 28, 3), (5, 5, 3, 16), "SAME", None),  # few filters
        ((8, 100, 64), (5, 64, 64), "VALID", None),  # 1-D: measured slower
    ],
)
def test_the_path_is_taken_where_it_was_measured_faster(x_shape, w_shape, padding, path):
    x, w = jnp.ones(x_shape), jnp.ones(w_shape)
    assert path_of(x, w, padding) == path


def path_of(x, w, padding, in_loop=False):
    n = x.ndim - 2
    plan = cpu_conv._plan(x, w, (1,) * n, padding, None, numbers(n), 1, in_loop)
    return None if plan is None else f"winograd {plan.tile}" if plan.tile else "im2col"


def test_winograd_is_for_float32_only():
    """Half precision would lose too much to the transforms' constants."""
    for dtype in (jnp.float16, jnp.bfloat16):
        x, w = jnp.ones((128, 13, 13, 32), dtype), jnp.ones((3, 3, 32, 64), dtype)
        assert path_of(x, w, "VALID") == "im2col"


def test_conv_layer_trains_the_same_as_with_lax():
    """A Conv2D model's fit gives the same weights with and without the lowering."""

    def train():
        shoal.utils.set_random_seed(3)
        model = shoal.Sequential(
            [
                shoal.Input((10, 10, 2)),
                shoal.layers.Conv2D(32, 3, activation="relu", padding="same"),
                shoal.layers.Conv2D(32, 3, activation="relu"),
                shoal.layers.Flatten(),
                shoal.layers.Dense(3),
            ]
        )
        model.compile(optimizer="adam", loss="mse")
        x = np.random.default_rng(1).standard_normal((32, 10, 10, 2)).astype("float32")
        y = np.random.default_rng(2).standard_normal((32, 3)).astype("float32")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0)
        return [np.asarray(v) for v in model.get_weights()]

    x, w = jnp.ones((8, 10, 10, 32)), jnp.ones((3, 3, 32, 32))
    assert cpu_conv._plan(x, w, (1, 1), "VALID", None, numbers(2), 1) is not None
    lowered = train()
    with cpu_lowering.lax_only():
        reference = train()
    for a, b in zip(lowered, reference, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_forward_mode_runs_under_lax_only():
    """jax.jvp cannot enter the custom VJP; lax_only() traces lax's convolution for it."""
    x, w = jnp.ones((2, 6, 6, 8)), jnp.ones((3, 3, 8, 32))

    def f(w):
        return cpu_conv.conv_general_dilated(x, w, (1, 1), "VALID", None, numbers(2))

    with pytest.raises(TypeError, match="custom_vjp"):
        jax.jvp(f, (w,), (w,))
    with cpu_lowering.lax_only():
        _, tangent = jax.jvp(f, (w,), (w,))
    np.testing.assert_allclose(tangent, f(w), rtol=1e-6)  # linear in w


@pytest.mark.parametrize(
    "x_shape, w_shape",
    [
        ((8, 28, 28, 16), (3, 3, 16, 32)),  # padded and deep
        ((8, 16, 16, 4), (3, 3, 4, 16)),  # few filters
        ((8, 20, 8), (3, 8, 16)),  # 1-D
        ((2, 5, 5, 5, 4), (3, 3, 3, 4, 8)),  # 3-D
    ],
)
def test_in_a_loop_body_the_path_is_taken_for_any_window_and_depth(x_shape, w_shape):
    x, w = jnp.ones(x_shape), jnp.ones(w_shape)
    n = x.ndim - 2
    assert path_of(x, w, "SAME") != "im2col"  # outside a loop: outside the measured region
    assert path_of(x, w, "SAME", in_loop=True) == "im2col"
    assert cpu_conv._plan(x, w, (2,) * n, "SAME", None, numbers(n), 1, in_loop=True) is None


def test_a_convolution_differentiated_inside_a_scan_equals_lax():
    """The custom VJP's residuals are arrays only, so `lax.scan` can stack them."""
    w = jnp.asarray(RNG.standard_normal((3, 3, 4, 4)) * 0.3, jnp.float32)
    h0 = jnp.asarray(RNG.standard_normal((2, 5, 5, 4)), jnp.float32)

    def ours(h, w):  # in_loop: im2col for this 4-filter, padded convolution
        return cpu_conv.conv_general_dilated(
            h, w, (1, 1), "SAME", dimension_numbers=numbers(2), in_loop=True
        )

    def lax_conv(h, w):
        return lax.conv_general_dilated(h, w, (1, 1), "SAME", dimension_numbers=numbers(2))

    def run(conv, w):
        def step(h, _):
            return jnp.tanh(conv(h, w)), None

        return jnp.sum(lax.scan(step, h0, None, length=3)[0] ** 2)

    value, grad = jax.value_and_grad(lambda w: run(ours, w))(w)
    ref_value, ref_grad = jax.value_and_grad(lambda w: run(lax_conv, w))(w)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-5)
    assert "gather" in str(jax.make_jaxpr(jax.grad(lambda w: run(ours, w)))(w))  # im2col


@pytest.mark.parametrize("cls_name, rank", [("ConvLSTM1D", 1), ("ConvLSTM2D", 2)])
def test_conv_lstm_gradients_equal_lax(cls_name, rank):
    """ConvLSTM's recurrent convolution runs in its time loop: im2col there."""
    layer = getattr(shoal.layers, cls_name)(4, 3, padding="same", return_sequences=True)
    x = RNG.standard_normal((2, 3, *(6,) * rank, 3)).astype("float32")
    layer(x)
    weights = [v.value for v in layer.trainable_variables]
    state = [v.value for v in layer.non_trainable_variables]  # the cell's SeedGenerator

    def loss(weights, x):
        out, _ = layer.stateless_call(weights, state, x)
        return jnp.sum(jnp.sin(out))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(weights, x)
    assert "gather" in str(jax.make_jaxpr(jax.grad(loss))(weights, x))
    with cpu_lowering.lax_only():
        reference = jax.jit(jax.grad(loss, argnums=(0, 1)))(weights, x)
        assert "gather" not in str(jax.make_jaxpr(jax.grad(loss))(weights, x))
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
