"""`shoal.mixed_precision`: dtype policies (Keras' keras.mixed_precision)."""

from shoal.backend.dtype_policy import DTypePolicy, global_policy, set_global_policy
from shoal.backend.dtype_policy import get as _get

Policy = DTypePolicy


def dtype_policy():
    return global_policy()


def set_dtype_policy(policy):
    set_global_policy(_get(policy))


__all__ = [
    "DTypePolicy",
    "Policy",
    "dtype_policy",
    "global_policy",
    "set_dtype_policy",
    "set_global_policy",
]
