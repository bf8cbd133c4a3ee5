"""`LossScaleOptimizer`: dynamic loss scaling for float16 training (Keras 3 semantics).

float16 gradients underflow: the train step multiplies the loss by a large scale before
differentiating (`scale_loss`), and this optimizer divides the gradients by the same scale
before handing them to the wrapped optimizer. The scale adapts:

- a step whose gradients hold an inf or NaN is skipped (no variable changes, the wrapped
  optimizer's `iterations` do not advance) and the scale is halved;
- after `dynamic_growth_steps` consecutive finite steps the scale is doubled.

State, in Keras' order (what `variables` lists and `.keras` archives hold): this
optimizer's own `iteration` and `learning_rate` (unused; Keras keeps them), `step_counter`
(finite steps since the last scale change) and `dynamic_scale`, then the wrapped
optimizer's variables.

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> from shoal.optimizers import SGD
    >>> w = Variable([1.0, 2.0])
    >>> opt = LossScaleOptimizer(SGD(learning_rate=0.5), initial_scale=4.0)
    >>> _ = opt.apply_gradients([(jnp.full(2, 4.0), w)])  # grads of a loss scaled by 4
    >>> w.numpy().tolist(), float(opt.dynamic_scale.value)
    ([0.5, 1.5], 4.0)
    >>> _ = opt.apply_gradients([(jnp.array([jnp.inf, 1.0]), w)])  # skipped, scale halved
    >>> w.numpy().tolist(), float(opt.dynamic_scale.value)
    ([0.5, 1.5], 2.0)
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import optax

from shoal.backend.scope import StatelessScope
from shoal.backend.tensors import convert_to_tensor
from shoal.optimizers.base import Optimizer

# Base-optimizer arguments Keras' LossScaleOptimizer accepts only at their defaults (older
# Keras configs carry them); anything else must be set on the inner optimizer.
_BASE_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


class LossScaleOptimizer(Optimizer):
    """Wraps `inner_optimizer` with dynamic loss scaling (Keras'
    `keras.optimizers.LossScaleOptimizer`).

    Args:
        inner_optimizer: the `Optimizer` that applies the unscaled gradients.
        initial_scale: the starting loss scale (keep it large: a too-large scale is
            halved quickly, a too-small one only doubles every `dynamic_growth_steps`).
        dynamic_growth_steps: double the scale after this many consecutive finite steps.
        name: the optimizer's name.
    """

    def __init__(
        self,
        inner_optimizer,
        initial_scale=2.0**15,
        dynamic_growth_steps=2000,
        name=None,
        **kwargs,
    ):
        cls = type(self).__name__
        if not kwargs.pop("dynamic", True):
            raise ValueError(
                f"{cls}: argument 'dynamic' must be True (dynamic=False is no longer "
                "supported, as in Keras); for a fixed scale set `loss_scale_factor` on the "
                "inner optimizer instead"
            )
        for arg, default in _BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(
                    f"{cls}: argument '{arg}' is not supported (expected {default!r}); set "
                    f"`{arg}` on the inner optimizer instead"
                )
        if kwargs:
            raise ValueError(
                f"{cls}: unknown argument(s) {sorted(kwargs)}; expected some of "
                "['dynamic_growth_steps', 'initial_scale', 'inner_optimizer', 'name']"
            )
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError(
                f"{cls}: argument 'inner_optimizer' must be an Optimizer instance, got "
                f"{type(inner_optimizer).__name__}"
            )
        if not (
            isinstance(initial_scale, numbers.Real)
            and not isinstance(initial_scale, bool)
            and initial_scale > 0
        ):
            raise ValueError(
                f"{cls}: argument 'initial_scale' must be a positive number, got {initial_scale!r}"
            )
        if (
            isinstance(dynamic_growth_steps, bool)
            or not isinstance(dynamic_growth_steps, numbers.Integral)
            or dynamic_growth_steps < 1
        ):
            raise ValueError(
                f"{cls}: argument 'dynamic_growth_steps' must be a positive integer, got "
                f"{dynamic_growth_steps!r}"
            )
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.step_counter = None
        self.dynamic_scale = None
        # The gradients are unscaled here: the inner optimizer must not unscale them again.
        self.inner_optimizer.loss_scale_factor = None

    # -- variables ------------------------------------------------------------
    def build(self, trainable_variables) -> None:
        if self.built:
            return
        variables = list(trainable_variables)
        self.step_counter = self._new_variable(0, "step_counter", "int32")
        self.dynamic_scale = self._new_variable(self.initial_scale, "dynamic_scale", "float32")
        self.inner_optimizer.build(variables)
        self._trainable_variables = variables
        self._index = {v: i for i, v in enumerate(variables)}
        self.built = True

    @property
    def variables(self) -> list:
        own = [self._iterations, self._lr_variable]
        if self.step_counter is not None:
            own += [self.step_counter, self.dynamic_scale]
        return own + list(self.inner_optimizer.variables)

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        inner = self.__dict__.get("inner_optimizer")
        if inner is None:  # Optimizer.__init__: Keras' own (unused) learning-rate variable
            Optimizer.learning_rate.fset(self, value)
        else:
            inner.learning_rate = value

    # -- scaling --------------------------------------------------------------
    def scale_loss(self, loss):
        """`loss` times the current scale: differentiate this, then `apply` the gradients."""
        scale = self.dynamic_scale.value if self.built else self.initial_scale
        return loss * scale

    @staticmethod
    def check_finite(grads):
        """A boolean scalar: whether every given gradient is finite (None entries ignored)."""
        flags = [jnp.all(jnp.isfinite(g)) for g in grads if g is not None]
        return jnp.all(jnp.stack(flags)) if flags else jnp.asarray(True)

    # -- applying gradients ---------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        grads, variables = zip(*grads_and_vars, strict=True)
        self.apply(grads, variables)
        return self.iterations

    def apply(self, grads, trainable_variables=None) -> None:
        """Unscale `grads` and apply them with the inner optimizer, or, when any is not
        finite, skip the step; then update the scale."""
        grads = [None if g is None else convert_to_tensor(g) for g in grads]
        if trainable_variables is None:
            if not self.built:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': call build(trainable_variables) or "
                    "pass `trainable_variables` before applying bare gradients"
                )
            variables = self._trainable_variables
        else:
            trainable_variables = variables = list(trainable_variables)
            self.build(variables)
        finite = self.check_finite(grads)
        scale = self.dynamic_scale.value
        unscaled = [
            g if g is None or getattr(v, "overwrite_with_gradient", False) else g / scale
            for g, v in zip(grads, variables, strict=False)
        ]
        # Both outcomes are computed and one is kept, so the step stays one jittable
        # program without data-dependent control flow (as the base's accumulation does).
        inner = self.inner_optimizer
        kept = [*inner._trainable_variables, *inner.variables]
        before = [v.value for v in kept]
        inner.apply(unscaled, trainable_variables)
        after = optax.tree.where(finite, [v.value for v in kept], before)
        for var, value in zip(kept, after, strict=True):
            var.assign(value)

        counter = self.step_counter.value
        grow = finite & (counter >= self.dynamic_growth_steps - 1)
        self.step_counter.assign(jnp.where(finite & ~grow, counter + 1, 0))
        factor = jnp.where(finite, jnp.where(grow, 2.0, 1.0), 0.5)
        self.dynamic_scale.assign(scale * factor.astype(scale.dtype))

    def finalize_variable_values(self, var_list) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    # -- saving ---------------------------------------------------------------
    def get_config(self) -> dict:
        from shoal.optimizers import serialize

        return {
            "name": self.name,
            "inner_optimizer": serialize(self.inner_optimizer),
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.optimizers import deserialize

        config = dict(config)
        inner = config.pop("inner_optimizer")
        if isinstance(inner, dict):
            inner = deserialize(inner, custom_objects)
        return cls(inner, **config)


def scale_loss_stateless(optimizer, optimizer_variables, loss):
    """`optimizer.scale_loss(loss)` with the optimizer's state given as values (pure).

    What a train step differentiates: `optimizer_variables` are the values of
    `optimizer.variables` (the step's state), so the current dynamic scale is used inside
    `jax.jit`. Returns `loss` unchanged when there is no optimizer or no scaling.
    """
    if optimizer is None:
        return loss
    if optimizer_variables is None:
        return optimizer.scale_loss(loss)
    mapping = list(zip(optimizer.variables, optimizer_variables, strict=True))
    with StatelessScope(mapping):
        return optimizer.scale_loss(loss)


def scaled_value_and_grad(loss_and_updates_fn, optimizer):
    """`jax.value_and_grad(loss_and_updates_fn, has_aux=True)` that differentiates the
    *scaled* loss (`optimizer.scale_loss`, at the step's state) and returns the unscaled one.

    `loss_and_updates_fn(trainable, ..., optimizer_variables=values)` returns `(loss, aux)`
    (the trainer's `compute_loss_and_updates`); the result returns `((loss, aux), grads)`
    with `loss` unscaled (for logs and metrics) and `grads` those of the scaled loss, which
    the optimizer unscales in `apply` / `stateless_apply`, as in Keras' JAX trainer.
    """

    def scaled(*args, **kwargs):
        loss, aux = loss_and_updates_fn(*args, **kwargs)
        values = kwargs.get("optimizer_variables")
        return scale_loss_stateless(optimizer, values, loss), (loss, aux)

    grad_fn = jax.value_and_grad(scaled, has_aux=True)

    def value_and_grad(*args, **kwargs):
        (_, (loss, aux)), grads = grad_fn(*args, **kwargs)
        return (loss, aux), grads

    return value_and_grad


def wrap_for_policy(optimizer, policy):
    """`optimizer` wrapped in a `LossScaleOptimizer` when `policy` is "mixed_float16" and it
    is not one already (what Keras' `compile(auto_scale_loss=True)` does), else unchanged."""
    name = getattr(policy, "name", policy)
    if optimizer is None or name != "mixed_float16" or isinstance(optimizer, LossScaleOptimizer):
        return optimizer
    return LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
