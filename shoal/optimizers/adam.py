"""Adam and its relatives: AdamW, Adamax, Nadam, and Lion (sign of an interpolated momentum)."""

from __future__ import annotations

from shoal.optimizers import transforms
from shoal.optimizers.base import Optimizer


class _Moments(Optimizer):
    """Shared arguments of the first-and-second-moment optimizers."""

    _slot_groups = (("momentum", "velocity"),)
    _config_keys = ("beta_1", "beta_2", "epsilon")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._check_unit("beta_1", beta_1)
        self._check_unit("beta_2", beta_2)
        self._check_non_negative("epsilon", epsilon)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon


class Adam(_Moments):
    """Adam (Kingma & Ba, 2014) in Keras' form: the bias correction scales the step size,
    `w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + eps)`; `amsgrad` uses
    the running maximum of `v`."""

    _slot_groups = (("momentum", "velocity"), ("velocity_hat",))
    _config_keys = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, **kwargs
    ):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)
        self.amsgrad = bool(amsgrad)

    def _transform(self):
        return transforms.scale_by_keras_adam(self.beta_1, self.beta_2, self.epsilon, self.amsgrad)


class AdamW(Adam):
    """Adam with decoupled weight decay (`w -= w * weight_decay * lr` before each step)."""

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )
        self._check("weight_decay", weight_decay, weight_decay is not None, "a float")


class Adamax(_Moments):
    """Adam with the infinity norm: `u = max(beta_2 * u, |g|)`,
    `w -= lr * m / ((1 - beta_1**t) * (u + eps))`."""

    _slot_groups = (("momentum", "norm"),)

    def _transform(self):
        return transforms.scale_by_keras_adamax(self.beta_1, self.beta_2, self.epsilon)


class Nadam(_Moments):
    """Adam with Nesterov momentum (Dozat, 2015), with Keras' momentum schedule."""

    def _transform(self):
        return transforms.scale_by_keras_nadam(self.beta_1, self.beta_2, self.epsilon)


class Lion(Optimizer):
    """Lion (Chen et al., 2023): `w -= lr * sign(beta_1 * m + (1 - beta_1) * g)`,
    `m = beta_2 * m + (1 - beta_2) * g`."""

    _slot_groups = (("momentum",),)
    _config_keys = ("beta_1", "beta_2")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        ok = isinstance(beta_1, (int, float)) and 0 < beta_1 <= 1
        self._check("beta_1", beta_1, ok, "a float in (0, 1] (0 degenerates to SignSGD)")
        self._check_unit("beta_2", beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def _transform(self):
        return transforms.scale_by_keras_lion(self.beta_1, self.beta_2)
