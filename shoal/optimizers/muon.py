"""Muon: momentum orthogonalized by Newton-Schulz for 2-D kernels, AdamW for the rest.

Keras 3's rule. A variable takes the AdamW step when it is not 2-D, when its path
contains "embedding" (with `exclude_embeddings`), or when any `exclude_layers` pattern
`re.search`-es its path; every other variable takes the Muon step:

    m = momentum * m + g;   u = g + momentum * m  (nesterov)  or  u = m
    O = NS5(u)   (Frobenius-normalized, `ns_steps` quintic Newton-Schulz iterations
                 X <- a X + (b A + c A A) X with A = X X^T, on the wide orientation)
    w -= lr * O * sqrt(max(rows, cols)) * rms_rate     (no rescaling if rms_rate is None)

The AdamW step is Keras' Adam at `lr * adam_lr_ratio`. Weight decay is decoupled, at the
full `lr`: `adam_weight_decay` for AdamW variables, `weight_decay` for Muon ones.

Built from optax: `optax.partition` routes each variable to its rule, the Muon momentum is
`optax.trace` (exactly Keras' `m = momentum * m + g` and its Nesterov form). Not
`optax.contrib.muon`: its momentum is a bias-corrected EMA (`(1 - beta)` on the gradient)
whose Nesterov combination is not proportional to Keras', it keeps a step counter and the
coefficients as state (Keras has neither, so saved optimizer weights would not
interchange), and its Newton-Schulz helper is private API; the iteration is written here.

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> kernel, bias = Variable(jnp.ones((3, 2)), name="kernel"), Variable(jnp.ones(2), name="bias")
    >>> opt = Muon(learning_rate=0.01)
    >>> _ = opt.apply_gradients([(jnp.ones((3, 2)), kernel), (jnp.ones(2), bias)])
    >>> [v.name for v in opt.variables[2:]]  # no velocity for the Muon kernel
    ['kernel_momentum', 'bias_momentum', 'bias_velocity']
"""

from __future__ import annotations

import math
import numbers
import re

import jax
import jax.numpy as jnp
import optax

from shoal.optimizers import transforms
from shoal.optimizers.base import Optimizer, _is_number


def newton_schulz5(x, steps: int, a: float, b: float, c: float):
    """Keras' approximate orthogonalization of a matrix `x`: normalize by the Frobenius
    norm (+1e-7), then `steps` quintic iterations on the wide orientation."""
    tall = x.shape[-2] > x.shape[-1]
    if tall:
        x = jnp.swapaxes(x, -1, -2)
    x = x / (jnp.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-7)
    for _ in range(steps):
        gram = x @ jnp.swapaxes(x, -1, -2)
        x = a * x + (b * gram + c * gram @ gram) @ x
    return jnp.swapaxes(x, -1, -2) if tall else x


def orthogonalize_by_newton_schulz(steps, a, b, c) -> optax.GradientTransformation:
    """Replace each update by `newton_schulz5(update)`."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda u: newton_schulz5(u, steps, a, b, c), updates), state

    return optax.GradientTransformation(optax.init_empty_state, update)


def scale_by_rms_rate(rms_rate) -> optax.GradientTransformation:
    """Moonlight's shape scaling `u * sqrt(max(rows, cols)) * rms_rate` (Liu et al., 2025),
    as optax's (private) `scale_by_shape(consistent_rms=...)`; identity when None."""
    if rms_rate is None:
        return optax.identity()

    def scale(u):
        return u * jnp.asarray(math.sqrt(max(u.shape[0], u.shape[1])), u.dtype) * rms_rate

    def update(updates, state, params=None):
        return jax.tree.map(scale, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update)


def with_learning_rate_ratio(inner, ratio) -> optax.GradientTransformationExtraArgs:
    """`inner`, called with the `learning_rate` extra argument multiplied by `ratio`."""
    inner = optax.with_extra_args_support(inner)

    def update(updates, state, params=None, *, learning_rate, **extra):
        return inner.update(updates, state, params, learning_rate=learning_rate * ratio, **extra)

    return optax.GradientTransformationExtraArgs(inner.init, update)


class Muon(Optimizer):
    """Muon (Jordan et al., 2024; Liu et al., 2025) with AdamW for the variables it does not
    suit, with Keras 3's arguments and update rule (see the module docstring).

    Args:
        learning_rate: a float, a `LearningRateSchedule` or a callable. Defaults to 0.001.
        adam_beta_1, adam_beta_2: AdamW's moment decay rates. Default 0.9 and 0.999.
        adam_weight_decay: decoupled weight decay of the AdamW variables (None: none).
            Defaults to 0.004.
        epsilon: AdamW's epsilon. Defaults to 1e-7.
        weight_decay: decoupled weight decay of the Muon variables. Defaults to 0.004.
        exclude_layers: regular expressions; variables whose path matches one use AdamW.
        exclude_embeddings: variables whose path contains "embedding" use AdamW.
        muon_a, muon_b, muon_c: the Newton-Schulz coefficients.
        adam_lr_ratio: AdamW's learning rate as a fraction of `learning_rate`. Defaults to 1.
        momentum: the Muon momentum. Defaults to 0.95.
        ns_steps: Newton-Schulz iterations. Defaults to 5.
        nesterov: Nesterov momentum for the Muon step. Defaults to True.
        rms_rate: Moonlight's update RMS matching; None disables it. Defaults to 0.2.
        **kwargs: the other base optimizer arguments (`clipnorm`, `use_ema`, ...).
    """

    _slot_groups = (("momentum", "velocity"),)
    _slot_names = {"trace": "momentum"}
    _config_keys = (
        "adam_beta_1",
        "adam_beta_2",
        "epsilon",
        "exclude_layers",
        "muon_a",
        "muon_b",
        "muon_c",
        "adam_lr_ratio",
        "momentum",
        "ns_steps",
        "nesterov",
        "exclude_embeddings",
        "adam_weight_decay",
        "rms_rate",
    )

    def __init__(
        self,
        learning_rate=0.001,
        adam_beta_1=0.9,
        adam_beta_2=0.999,
        adam_weight_decay=0.004,
        epsilon=1e-7,
        weight_decay=0.004,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        exclude_layers=None,
        exclude_embeddings=True,
        muon_a=3.4445,
        muon_b=-4.7750,
        muon_c=2.0315,
        adam_lr_ratio=1,
        momentum=0.95,
        ns_steps=5,
        nesterov=True,
        rms_rate=0.2,
        **kwargs,
    ):
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            use_ema=use_ema,
            ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency,
            loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps,
            name=name,
            **kwargs,
        )
        self._check_unit("adam_beta_1", adam_beta_1)
        self._check_unit("adam_beta_2", adam_beta_2)
        self._check_non_negative("epsilon", epsilon)
        self._check_unit("momentum", momentum)
        self._check_non_negative("adam_lr_ratio", adam_lr_ratio)
        ok = adam_weight_decay is None or (_is_number(adam_weight_decay) and adam_weight_decay >= 0)
        self._check("adam_weight_decay", adam_weight_decay, ok, "a non-negative float or None")
        ok = rms_rate is None or (_is_number(rms_rate) and rms_rate > 0)
        self._check("rms_rate", rms_rate, ok, "a positive float or None")
        ok = isinstance(ns_steps, numbers.Integral) and not isinstance(ns_steps, bool)
        self._check("ns_steps", ns_steps, ok and ns_steps >= 0, "a non-negative integer")
        for arg, value in (("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)):
            self._check(arg, value, _is_number(value), "a float")
        for arg, value in (("nesterov", nesterov), ("exclude_embeddings", exclude_embeddings)):
            self._check(arg, value, isinstance(value, bool), "a bool")
        self._check_patterns(exclude_layers)
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.muon_a = muon_a
        self.muon_b = muon_b
        self.muon_c = muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = int(ns_steps)
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = list(exclude_layers or [])
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    def _check_patterns(self, patterns):
        expected = "None or a list of regular-expression strings"
        if patterns is None:
            return
        if isinstance(patterns, str) or not isinstance(patterns, (list, tuple)):
            self._fail("exclude_layers", expected, patterns)
        for pattern in patterns:
            if not isinstance(pattern, str):
                self._fail("exclude_layers", expected, patterns)
            try:
                re.compile(pattern)
            except re.error as err:
                self._fail("exclude_layers", f"{expected} ({pattern!r}: {err})", patterns)

    def _should_use_adamw(self, variable) -> bool:
        """Keras' choice: AdamW unless `variable` is a 2-D, non-excluded kernel."""
        if len(variable.shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in variable.path.lower():
            return True
        return any(re.search(pattern, variable.path) for pattern in self.exclude_layers)

    def _transform(self):
        adam = transforms.scale_by_keras_adam(self.adam_beta_1, self.adam_beta_2, self.epsilon)
        if self.adam_lr_ratio != 1:
            adam = with_learning_rate_ratio(adam, self.adam_lr_ratio)
        muon = optax.chain(
            optax.trace(decay=self.momentum, nesterov=self.nesterov),
            orthogonalize_by_newton_schulz(self.ns_steps, self.muon_a, self.muon_b, self.muon_c),
            scale_by_rms_rate(self.rms_rate),
            transforms.scale_by_learning_rate(),
        )
        labels = ["adamw" if self._should_use_adamw(v) else "muon" for v in self._updated_variables]
        # Only the groups in use: a Keras-form rule over no variable at all has nothing to map.
        rules = {k: v for k, v in (("adamw", adam), ("muon", muon)) if k in labels}
        return optax.partition(rules, labels) if rules else optax.identity()

    def _apply_weight_decay(self, learning_rate, present) -> None:
        for var, has_grad in zip(self._trainable_variables, present, strict=True):
            if not has_grad or not self._use_weight_decay(var):
                continue
            decay = self.adam_weight_decay if self._should_use_adamw(var) else self.weight_decay
            if decay is None:
                continue
            lr = jnp.asarray(learning_rate).astype(var.dtype)
            wd = jnp.asarray(decay, var.dtype)
            var.assign(var.value - var.value * wd * lr)
