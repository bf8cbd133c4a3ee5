"""Follow The Regularized Leader, with Keras' arguments."""

from __future__ import annotations

from shoal.optimizers import transforms
from shoal.optimizers.base import Optimizer


class Ftrl(Optimizer):
    """FTRL-Proximal (McMahan et al., 2013) with L1, L2 and L2-shrinkage regularization and
    Keras' `beta`; see `transforms.keras_ftrl`."""

    _slot_groups = (("accumulator", "linear"),)
    _config_keys = (
        "learning_rate_power",
        "initial_accumulator_value",
        "l1_regularization_strength",
        "l2_regularization_strength",
        "l2_shrinkage_regularization_strength",
        "beta",
    )

    def __init__(
        self,
        learning_rate=0.001,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1_regularization_strength=0.0,
        l2_regularization_strength=0.0,
        l2_shrinkage_regularization_strength=0.0,
        beta=0.0,
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, **kwargs)
        ok = isinstance(learning_rate_power, (int, float)) and learning_rate_power <= 0
        self._check("learning_rate_power", learning_rate_power, ok, "a float <= 0")
        self.learning_rate_power = learning_rate_power
        self.beta = beta
        non_negative = {
            "initial_accumulator_value": initial_accumulator_value,
            "l1_regularization_strength": l1_regularization_strength,
            "l2_regularization_strength": l2_regularization_strength,
            "l2_shrinkage_regularization_strength": l2_shrinkage_regularization_strength,
        }
        for key, value in non_negative.items():
            self._check_non_negative(key, value)
            setattr(self, key, value)

    def _new_value(self, param, update):
        # The FTRL rule yields the new value itself; adding a delta would round it.
        return update

    def _transform(self):
        return transforms.keras_ftrl(*(getattr(self, key) for key in self._config_keys))
