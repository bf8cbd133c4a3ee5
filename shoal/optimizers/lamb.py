"""Lamb: Adam's direction rescaled per variable by the trust ratio `||w|| / ||step||`.

Keras' rule (You et al., 2019), per variable `w` at step `t`:

    m = beta_1 * m + (1 - beta_1) * g            v = beta_2 * v + (1 - beta_2) * g**2
    r = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)
    w -= lr * (||w|| / ||r||) * r                 (ratio 1 when either norm is 0)

The trust ratio is optax's `scale_by_trust_ratio`, which computes exactly that. The
direction `r` is a Keras-form rule rather than `optax.scale_by_adam`, whose state carries
a step counter that Keras does not have (optimizer variables must match Keras' one to one
for saved weights to interchange). `optax.lamb` itself differs from Keras: it folds the
weight decay into `r` before the trust ratio, where Keras decays `w` beforehand
(decoupled, `w -= w * weight_decay * lr`, done by the base `Optimizer`).

Example:
    >>> import jax.numpy as jnp
    >>> from shoal.backend.variables import Variable
    >>> w = Variable([3.0, 4.0])
    >>> _ = Lamb(learning_rate=0.1).apply_gradients([(jnp.array([1.0, 0.0]), w)])
    >>> [round(x, 4) for x in w.numpy().tolist()]
    [2.5, 4.0]
"""

from __future__ import annotations

import jax.numpy as jnp
import optax

from shoal.optimizers import transforms
from shoal.optimizers.adam import _Moments


def scale_by_keras_lamb_direction(beta_1, beta_2, epsilon) -> optax.GradientTransformationExtraArgs:
    """Lamb's bias-corrected Adam direction `m_hat / (sqrt(v_hat) + epsilon)`, without the
    learning rate (the trust ratio and the learning rate scale it afterwards)."""

    def leaf(g, p, lr, t, m, v):
        b1 = jnp.asarray(beta_1, g.dtype)
        b2 = jnp.asarray(beta_2, g.dtype)
        m = m + (g - m) * (1 - beta_1)
        v = v + (jnp.square(g) - v) * (1 - beta_2)
        m_hat = m / (1.0 - jnp.power(b1, t))
        v_hat = v / (1.0 - jnp.power(b2, t))
        return m_hat / (jnp.sqrt(v_hat) + epsilon), m, v

    return transforms.keras_rule("KerasLambState", ("momentum", "velocity"), leaf)


class Lamb(_Moments):
    """Layer-wise adaptive moments (Lamb), with Keras 3's arguments and update rule.

    Args:
        learning_rate: a float, a `LearningRateSchedule` or a callable. Defaults to 0.001.
        beta_1: decay rate of the first-moment estimates. Defaults to 0.9.
        beta_2: decay rate of the second-moment estimates. Defaults to 0.999.
        epsilon: added to the root of the second moment. Defaults to 1e-7.
        **kwargs: the base optimizer's arguments (`weight_decay`, `clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).
    """

    def _transform(self):
        return optax.chain(
            scale_by_keras_lamb_direction(self.beta_1, self.beta_2, self.epsilon),
            optax.scale_by_trust_ratio(),
            transforms.scale_by_learning_rate(),
        )
