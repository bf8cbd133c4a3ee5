"""`keras.optimizers.legacy`: Keras 2's optimizer classes, which Keras 3 (and shoal) do not
have; making one raises an ImportError that names the replacement, as Keras 3 does."""

from __future__ import annotations


class LegacyOptimizer:
    """Keras 2's `optimizers.legacy.*`: not available in Keras 3."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "`keras.optimizers.legacy` (Keras 2's optimizers) is not supported in Keras 3 or "
            "shoal: use the optimizer of the same name in `shoal.optimizers` (e.g. "
            "`shoal.optimizers.Adam(learning_rate=1e-3)`), which takes the same main arguments."
        )


Adagrad = Adam = Ftrl = Optimizer = RMSprop = SGD = LegacyOptimizer

__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]
