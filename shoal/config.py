"""`shoal.config`: global settings, as Keras 3's keras.config."""

from shoal.backend.config import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from shoal.backend.dtype_policy import global_policy as dtype_policy
from shoal.backend.dtype_policy import set_global_policy as set_dtype_policy


def enable_unsafe_deserialization():
    """Allow loading Lambda layers (runs code stored in model files: trusted files only)."""
    from shoal.saving import enable_unsafe_deserialization as enable

    enable()


__all__ = [
    "backend",
    "dtype_policy",
    "enable_unsafe_deserialization",
    "epsilon",
    "floatx",
    "image_data_format",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
]
