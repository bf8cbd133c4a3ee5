"""Stochastic gradient descent, with Keras' momentum `v = momentum * v - lr * g`."""

from __future__ import annotations

import optax

from shoal.optimizers import transforms
from shoal.optimizers.base import Optimizer


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum.

    `v = momentum * v - lr * g; w += v`, or `w += momentum * v - lr * g` with `nesterov`.
    The learning rate sits inside the velocity, as in Keras, so the rule is optax's
    `trace` applied to the descent step `-lr * g`.
    """

    _slot_groups = (("momentum",),)
    _slot_names = {"trace": "momentum"}
    _config_keys = ("momentum", "nesterov")

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self._check_unit("momentum", momentum)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _transform(self):
        descent = transforms.scale_by_learning_rate()
        if self.momentum == 0:
            return descent
        return optax.chain(descent, optax.trace(decay=self.momentum, nesterov=self.nesterov))
