"""Optax gradient transformations that reproduce Keras 3's update rules exactly.

Where optax's stock transformation computes the same thing as Keras (the
RMS/stddev scaling of RMSprop, Adagrad's root sum of squares, Adadelta, the
momentum `trace`, `clip`, `clip_by_global_norm`), the optimizers use it
directly. The rules here exist because Keras' formula differs: Adam folds the
bias correction into the step size (so epsilon acts differently), Adamax adds
epsilon after the max, Nadam keeps a running momentum-cache product, Lion and
Adafactor have no step counter in their state, Ftrl has no optax counterpart,
and Keras clips each gradient by its own norm.

Every rule takes two extra arguments besides optax's `(updates, state, params)`:
`learning_rate` (a scalar, already evaluated by the optimizer, so it may be a
Variable's value or a schedule's) and `count` (the number of completed updates,
Keras' `iterations`). The update a rule returns is the final delta added to the
variable, learning rate and sign included, as Keras folds the learning rate
into some of its state (SGD and RMSprop momentum, Ftrl). One exception: `keras_ftrl`
returns the new value itself (see there).

Example:
    >>> import jax.numpy as jnp
    >>> tx = scale_by_keras_adam(0.9, 0.999, 1e-7)
    >>> params = [jnp.ones(3)]
    >>> state = tx.init(params)
    >>> delta, state = tx.update([jnp.ones(3)], state, params, learning_rate=0.1, count=0)
"""

from __future__ import annotations

import collections

import jax
import jax.numpy as jnp
import optax

from shoal.backend import config


def _map_leaves(fn, tree, *others):
    """Apply `fn` leaf-wise over trees shaped like `tree`; return a tuple of trees, one per
    element of `fn`'s tuple result."""
    leaves, treedef = jax.tree.flatten(tree)
    columns = [treedef.flatten_up_to(other) for other in others]
    results = [fn(*args) for args in zip(leaves, *columns, strict=True)]
    if not results:
        return ()
    return tuple(treedef.unflatten(list(column)) for column in zip(*results, strict=True))


def _as(value, dtype):
    return jnp.asarray(value).astype(dtype)


def keras_rule(name, slots, update_leaf, init_slot=None, shared=None):
    """Build an optax transformation from Keras' per-variable `update_step`.

    Args:
        name: name of the state class (a NamedTuple whose fields are `slots` then `shared`).
        slots: names of the per-variable state arrays, as Keras names its slot variables.
        update_leaf: `fn(g, p, lr, t, *slot_values, **shared_values) -> (delta, *new_slots)`
            for one variable: `g` its gradient, `p` its value, `lr` and `t` (the 1-based step)
            cast to its dtype.
        init_slot: `fn(slot_name, param) -> array`; zeros like the variable by default.
        shared: `{field: (init(params), advance(value, count))}` for per-optimizer scalars
            updated once per step before the per-variable rule (Nadam's momentum cache).

    Returns:
        An `optax.GradientTransformationExtraArgs`.
    """
    shared = shared or {}
    state_cls = collections.namedtuple(name, tuple(slots) + tuple(shared))
    init_slot = init_slot or (lambda _slot, p: jnp.zeros_like(p))

    def init(params):
        per_var = [jax.tree.map(lambda p, s=s: init_slot(s, p), params) for s in slots]
        return state_cls(*per_var, *(make(params) for make, _ in shared.values()))

    def update(updates, state, params=None, *, learning_rate, count, **_):
        if params is None:
            raise ValueError(f"{name}: the update needs `params`")
        new_shared = {
            key: advance(getattr(state, key), count) for key, (_, advance) in shared.items()
        }

        def leaf(g, p, *slot_values):
            lr = _as(learning_rate, g.dtype)
            t = _as(jnp.asarray(count) + 1, g.dtype)
            return update_leaf(g, p, lr, t, *slot_values, **new_shared)

        delta, *new_slots = _map_leaves(leaf, updates, params, *state[: len(slots)])
        return delta, state_cls(*new_slots, *new_shared.values())

    return optax.GradientTransformationExtraArgs(init, update)


def scale_by_learning_rate(flip_sign: bool = True) -> optax.GradientTransformationExtraArgs:
    """Multiply the updates by the `learning_rate` extra argument, negated by default (the
    descent step), as `optax.scale_by_learning_rate` does with a fixed rate."""
    sign = -1 if flip_sign else 1

    def update(updates, state, params=None, *, learning_rate, **_):
        return jax.tree.map(lambda g: g * (sign * _as(learning_rate, g.dtype)), updates), state

    return optax.GradientTransformationExtraArgs(optax.init_empty_state, update)


def clip_by_norm(max_norm: float) -> optax.GradientTransformation:
    """Clip each gradient to L2 norm `max_norm` (Keras `clipnorm`), zero gradients kept."""

    def clip(g):
        l2sum = jnp.sum(jnp.square(g), keepdims=True)
        positive = l2sum > 0
        l2norm = jnp.where(positive, jnp.sqrt(jnp.where(positive, l2sum, 1.0)), l2sum)
        return g * max_norm / jnp.maximum(l2norm, max_norm)

    def update(updates, state, params=None):
        return jax.tree.map(clip, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update)


def scale_by_keras_adam(beta_1, beta_2, epsilon, amsgrad=False):
    """Adam with the bias correction in the step size:
    `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`, `delta = -alpha * m / (sqrt(v) + eps)`
    (with `v` replaced by its running maximum under `amsgrad`)."""

    def leaf(g, p, lr, t, m, v, v_hat=None):
        alpha = lr * jnp.sqrt(1 - jnp.power(_as(beta_2, g.dtype), t))
        alpha = alpha / (1 - jnp.power(_as(beta_1, g.dtype), t))
        m = m + (g - m) * (1 - beta_1)
        v = v + (jnp.square(g) - v) * (1 - beta_2)
        extra = ()
        if amsgrad:
            v_hat = jnp.maximum(v_hat, v)
            extra = (v_hat,)
        denom = jnp.sqrt(v_hat if amsgrad else v) + epsilon
        return (-(m * alpha) / denom, m, v, *extra)

    slots = ("momentum", "velocity") + (("velocity_hat",) if amsgrad else ())
    return keras_rule("KerasAdamState", slots, leaf)


def scale_by_keras_adamax(beta_1, beta_2, epsilon):
    """Adamax: `u = max(beta_2 * u, |g|)`, `delta = -lr * m / ((1 - beta_1**t) * (u + eps))`."""

    def leaf(g, p, lr, t, m, u):
        m = m + (g - m) * (1 - beta_1)
        u = jnp.maximum(beta_2 * u, jnp.abs(g))
        denom = (1 - jnp.power(_as(beta_1, g.dtype), t)) * (u + epsilon)
        return -(lr * m) / denom, m, u

    return keras_rule("KerasAdamaxState", ("momentum", "norm"), leaf)


def scale_by_keras_nadam(beta_1, beta_2, epsilon):
    """Nadam with Keras' momentum schedule `u_t = beta_1 * (1 - 0.5 * 0.96**t)` and the
    running product of the `u_t` kept as one scalar (`u_product`)."""

    def init_product(params):
        leaves = jax.tree.leaves(params)
        return jnp.ones((), leaves[0].dtype if leaves else config.floatx())

    def advance_product(u_product, count):
        t = _as(jnp.asarray(count) + 1, u_product.dtype)
        return u_product * beta_1 * (1.0 - 0.5 * jnp.power(0.96, t))

    def leaf(g, p, lr, t, m, v, *, u_product):
        dtype = g.dtype
        b1, b2, decay = _as(beta_1, dtype), _as(beta_2, dtype), _as(0.96, dtype)
        u_t = b1 * (1.0 - 0.5 * jnp.power(decay, t))
        u_t_1 = b1 * (1.0 - 0.5 * jnp.power(decay, t + 1))
        u_product_t = u_product.astype(dtype)
        u_product_t_1 = u_product_t * u_t_1
        m = m + (g - m) * (1 - b1)
        v = v + (jnp.square(g) - v) * (1 - b2)
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * g) / (1 - u_product_t)
        v_hat = v / (1 - jnp.power(b2, t))
        return -(m_hat * lr) / (jnp.sqrt(v_hat) + epsilon), m, v

    shared = {"u_product": (init_product, advance_product)}
    return keras_rule("KerasNadamState", ("momentum", "velocity"), leaf, shared=shared)


def scale_by_keras_lion(beta_1, beta_2):
    """Lion: `delta = -lr * sign(beta_1 * m + (1 - beta_1) * g)`, then
    `m = beta_2 * m + (1 - beta_2) * g` (no step counter in the state, unlike optax's)."""

    def leaf(g, p, lr, t, m):
        b1, b2 = _as(beta_1, g.dtype), _as(beta_2, g.dtype)
        delta = -(lr * jnp.sign(m * b1 + g * (1.0 - b1)))
        return delta, m * b2 + g * (1.0 - b2)

    return keras_rule("KerasLionState", ("momentum",), leaf)


def scale_by_keras_adafactor(beta_2_decay, epsilon_1, epsilon_2, clip_threshold):
    """Adafactor as Keras writes it: second moments factored over the last two axes
    (row statistics `r`, column statistics `c`) for variables of rank >= 2, step size
    `max(epsilon_2, rms(p)) * min(lr, 1/sqrt(t))`, updates clipped to RMS `clip_threshold`.
    Lower-rank variables keep a full `velocity` and int32 scalar placeholders for `r`, `c`."""

    def rms(x):
        return jnp.sqrt(jnp.mean(jnp.square(x)))

    def init_slot(slot, p):
        if slot == "velocity":
            return jnp.zeros_like(p)
        if p.ndim < 2:
            return jnp.zeros((), "int32")
        shape = p.shape[:-1] if slot == "r" else p.shape[:-2] + p.shape[-1:]
        return jnp.zeros(shape, p.dtype)

    def leaf(g, p, lr, t, r, c, v):
        rho_t = jnp.minimum(lr, 1 / jnp.sqrt(t))
        alpha_t = jnp.maximum(_as(epsilon_2, g.dtype), rms(p)) * rho_t
        grad_sq = jnp.square(g) + epsilon_1
        beta_2_t = 1 - jnp.power(t, beta_2_decay)
        if p.ndim >= 2:
            r = beta_2_t * r + (1 - beta_2_t) * jnp.mean(grad_sq, axis=-1)
            c = beta_2_t * c + (1 - beta_2_t) * jnp.mean(grad_sq, axis=-2)
            row = jnp.expand_dims(r / jnp.mean(r, axis=-1, keepdims=True), -1)
            v = row * jnp.expand_dims(c, -2)
        else:
            v = beta_2_t * v + (1 - beta_2_t) * grad_sq
        u = g / jnp.sqrt(v)
        u = u / jnp.maximum(_as(1.0, g.dtype), rms(u) / clip_threshold)
        return -(alpha_t * u), r, c, v

    return keras_rule("KerasAdafactorState", ("r", "c", "velocity"), leaf, init_slot)


def keras_ftrl(
    learning_rate_power,
    initial_accumulator_value,
    l1_regularization_strength,
    l2_regularization_strength,
    l2_shrinkage_regularization_strength,
    beta,
):
    """Follow The Regularized Leader (McMahan et al., 2013) as Keras computes it.

    Unlike optax's convention, the "update" this returns is the variable's new value, not a
    delta: FTRL computes the value outright, and `p + (new - p)` would round it (badly for
    values much smaller than the previous ones)."""

    def init_slot(slot, p):
        fill = initial_accumulator_value if slot == "accumulator" else 0.0
        return jnp.full_like(p, fill)

    def leaf(g, p, lr, t, accum, linear):
        l2_reg = l2_regularization_strength + beta / (2.0 * lr)
        grad = g + 2 * l2_shrinkage_regularization_strength * p
        new_accum = accum + jnp.square(g)
        sigma = jnp.power(new_accum, -learning_rate_power) - jnp.power(accum, -learning_rate_power)
        linear = linear + (grad - sigma / lr * p)
        quadratic = jnp.power(new_accum, -learning_rate_power) / lr + 2 * l2_reg
        l1 = l1_regularization_strength
        new_p = (jnp.clip(linear, -l1, l1) - linear) / quadratic
        return new_p, new_accum, linear

    return keras_rule("KerasFtrlState", ("accumulator", "linear"), leaf, init_slot)
