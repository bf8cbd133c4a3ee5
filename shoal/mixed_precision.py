"""`shoal.mixed_precision`: dtype policies and loss scaling (Keras' keras.mixed_precision).

Under `set_global_policy("mixed_float16")` or `"mixed_bfloat16"` layers keep float32
variables and compute in the half-precision dtype: `Layer.__call__` casts floating inputs
and, through an `AutocastScope`, the float variables it reads (`shoal.backend.autocast`).
`Model.compile` wraps the optimizer in a `LossScaleOptimizer` under "mixed_float16".
"""

from shoal.backend.dtype_policy import DTypePolicy, global_policy, set_global_policy
from shoal.backend.dtype_policy import get as _get
from shoal.optimizers.loss_scale import LossScaleOptimizer

Policy = DTypePolicy


def dtype_policy():
    return global_policy()


def set_dtype_policy(policy):
    set_global_policy(_get(policy))


__all__ = [
    "DTypePolicy",
    "LossScaleOptimizer",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]
