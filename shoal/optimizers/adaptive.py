"""Optimizers that scale each gradient by a running second-moment statistic:
RMSprop, Adagrad, Adadelta (optax's own rules) and Adafactor (Keras' factored rule)."""

from __future__ import annotations

import optax

from shoal.optimizers import transforms
from shoal.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """`v = rho * v + (1 - rho) * g**2; w -= lr * g / sqrt(v + eps)`; with `centered`, the
    variance `v - mean(g)**2` replaces `v`; with `momentum`, the steps go through a velocity."""

    _slot_groups = (("velocity",), ("momentum",), ("average_gradient",))
    _slot_names = {"nu": "velocity", "mu": "average_gradient", "trace": "momentum"}
    _config_keys = ("rho", "momentum", "epsilon", "centered")

    def __init__(
        self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, **kwargs
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._check_unit("rho", rho)
        self._check_unit("momentum", momentum)
        self._check_non_negative("epsilon", epsilon)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = bool(centered)

    def _transform(self):
        scale = optax.scale_by_stddev if self.centered else optax.scale_by_rms
        rule = scale(decay=self.rho, eps=self.epsilon, eps_in_sqrt=True)
        if self.momentum == 0:
            return optax.chain(rule, transforms.scale_by_learning_rate())
        # Keras' velocity accumulates the positive step `lr * g / rms`; descend afterwards.
        step = transforms.scale_by_learning_rate(flip_sign=False)
        return optax.chain(rule, step, optax.trace(decay=self.momentum), optax.scale(-1.0))


class Adagrad(Optimizer):
    """`a += g**2; w -= lr * g / sqrt(a + eps)`, `a` starting at `initial_accumulator_value`."""

    _slot_groups = (("accumulator",),)
    _slot_names = {"sum_of_squares": "accumulator"}
    _config_keys = ("initial_accumulator_value", "epsilon")

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._check_non_negative("initial_accumulator_value", initial_accumulator_value)
        self._check_non_negative("epsilon", epsilon)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _transform(self):
        rss = optax.scale_by_rss(self.initial_accumulator_value, self.epsilon)
        return optax.chain(rss, transforms.scale_by_learning_rate())


class Adadelta(Optimizer):
    """Zeiler's Adadelta: steps scaled by `sqrt(E[dx**2] + eps) / sqrt(E[g**2] + eps)`,
    then by the learning rate (Keras default 0.001)."""

    _slot_groups = (("accumulated_grad", "accumulated_delta_var"),)
    _slot_names = {"e_g": "accumulated_grad", "e_x": "accumulated_delta_var"}
    _config_keys = ("rho", "epsilon")

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._check_unit("rho", rho)
        self._check_non_negative("epsilon", epsilon)
        self.rho = rho
        self.epsilon = epsilon

    def _transform(self):
        rule = optax.scale_by_adadelta(rho=self.rho, eps=self.epsilon)
        return optax.chain(rule, transforms.scale_by_learning_rate())


class Adafactor(Optimizer):
    """Adafactor (Shazeer & Stern, 2018) as Keras 3 implements it; see
    `transforms.scale_by_keras_adafactor`. The step size is always
    `min(learning_rate, 1 / sqrt(t))`, whatever `relative_step` says (as in Keras)."""

    _slot_groups = (("r", "c", "velocity"),)
    _config_keys = ("beta_2_decay", "epsilon_1", "epsilon_2", "clip_threshold", "relative_step")

    def __init__(
        self,
        learning_rate=0.001,
        beta_2_decay=-0.8,
        epsilon_1=1e-30,
        epsilon_2=1e-3,
        clip_threshold=1.0,
        relative_step=True,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._check_non_negative("epsilon_1", epsilon_1)
        self._check_non_negative("epsilon_2", epsilon_2)
        self._check("clip_threshold", clip_threshold, clip_threshold > 0, "a positive float")
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = bool(relative_step)

    def _slot_variable_name(self, reference, slot):
        # Keras names the factored statistics after the variable itself.
        return (
            reference.name if slot in ("r", "c") else super()._slot_variable_name(reference, slot)
        )

    def _transform(self):
        return transforms.scale_by_keras_adafactor(
            self.beta_2_decay, self.epsilon_1, self.epsilon_2, self.clip_threshold
        )
