"""ScheduleFreeAdamW: AdamW without a learning-rate schedule (Defazio et al., 2024).

Keras 3's rule. The model variable holds `y`, the point where gradients are taken; the
`momentum` slot holds `z`, the sequence the Adam steps move (it starts at the variable's
initial value); the averaged sequence `x` is recovered from both. At step `t`:

    lr_t = lr * min(t / warmup_steps, 1)          (lr when warmup_steps == 0)
    v = beta_2 * v + (1 - beta_2) * g**2
    z_new = z - lr_t * g / (sqrt(v / (1 - beta_2**t)) + epsilon)
    x = (y - (1 - beta_1) * z) / beta_1           (the previous average)
    x_new = (1 - 1/t) * x + (1/t) * z_new
    y_new = (1 - beta_1) * z_new + beta_1 * x_new

Weight decay, if any, is Keras' decoupled `y -= y * weight_decay * lr` before the step.

Not `optax.contrib.schedule_free_adamw`: it weights the average by the running maximum
rate squared (uniform `1/t` only without warmup), keeps the weight sum, step count, `b1`
and that maximal rate as extra state, and its Adam keeps a counter, none of which Keras
has (Keras' variables are only `momentum` and `velocity` per variable, so that saved
weights interchange).

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> w = Variable([1.0, -1.0])
    >>> opt = ScheduleFreeAdamW(learning_rate=0.1)
    >>> _ = opt.apply_gradients([(jnp.array([1.0, -1.0]), w)])
    >>> [round(x, 4) for x in w.numpy().tolist()]
    [0.9, -0.9]
"""

from __future__ import annotations

import numbers

import jax.numpy as jnp
import optax

from shoal.optimizers import transforms
from shoal.optimizers.adam import _Moments
from shoal.optimizers.base import _is_number


def keras_schedule_free_adamw(beta_1, beta_2, epsilon, warmup_steps):
    """Keras' Schedule-Free AdamW step. Like `transforms.keras_ftrl`, the "update" it
    returns is the variable's new value `y_new`, not a delta (the optimizer's `_new_value`
    takes it as is: `y + (y_new - y)` would round it)."""

    def leaf(g, y, lr, t, z, v):
        dtype = g.dtype
        b1 = jnp.asarray(beta_1, dtype)
        b2 = jnp.asarray(beta_2, dtype)
        if warmup_steps > 0:
            lr = lr * jnp.minimum(t / jnp.asarray(warmup_steps, dtype), 1.0)
        v = v + (jnp.square(g) - v) * (1 - b2)
        denom = jnp.sqrt(v / (1 - jnp.power(b2, t))) + jnp.asarray(epsilon, dtype)
        z_new = z - (lr * g) / denom
        weight = 1.0 / t
        x = (y - (1 - b1) * z) / b1
        x_new = (1 - weight) * x + weight * z_new
        return (1 - b1) * z_new + b1 * x_new, z_new, v

    return transforms.keras_rule("KerasScheduleFreeAdamWState", ("momentum", "velocity"), leaf)


class ScheduleFreeAdamW(_Moments):
    """Schedule-Free AdamW with Keras 3's arguments and update rule (see the module
    docstring). The model variables hold the interpolated point `y` (used for training and,
    as in Keras, left in the model after training).

    Args:
        learning_rate: a float, a `LearningRateSchedule` or a callable. Defaults to 0.0025.
        beta_1: interpolation and averaging constant, in (0, 1]. Defaults to 0.9.
        beta_2: decay rate of the second-moment estimates. Defaults to 0.999.
        epsilon: added to the root of the second moment. Defaults to 1e-8.
        warmup_steps: steps of linear learning-rate warmup from 0. Defaults to 0.
        **kwargs: the base optimizer's arguments (`weight_decay`, `clipnorm`, `use_ema`, ...).
    """

    _config_keys = ("beta_1", "beta_2", "epsilon", "warmup_steps")

    def __init__(
        self,
        learning_rate=0.0025,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        warmup_steps=0,
        **kwargs,
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        # x is recovered by dividing by beta_1: 0 would make every step NaN.
        ok = _is_number(beta_1) and 0 < beta_1 <= 1
        self._check("beta_1", beta_1, ok, "a float in (0, 1]")
        ok = isinstance(warmup_steps, numbers.Integral) and not isinstance(warmup_steps, bool)
        self._check("warmup_steps", warmup_steps, ok and warmup_steps >= 0, "an integer >= 0")
        self.warmup_steps = int(warmup_steps)

    def build(self, trainable_variables) -> None:
        if self.built:
            return
        super().build(trainable_variables)
        # z starts at the variable's value (the base makes slots from shapes only). A copy:
        # the step donates its state, so two Variables must never share one buffer.
        for slot, owner in zip(self._leaf_slots, self._leaf_owner, strict=True):
            var = self._trainable_variables[owner]
            if slot.name == self._slot_variable_name(var, "momentum"):
                slot.assign(jnp.array(var.value, dtype=slot.dtype, copy=True))

    def _new_value(self, param, update):
        return update  # the rule yields the new value itself

    def _transform(self) -> optax.GradientTransformation:
        return keras_schedule_free_adamw(self.beta_1, self.beta_2, self.epsilon, self.warmup_steps)
