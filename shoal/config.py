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
from shoal.backend.run_settings import (
    disable_flash_attention,
    disable_interactive_logging,
    disable_traceback_filtering,
    enable_flash_attention,
    enable_interactive_logging,
    enable_traceback_filtering,
    is_flash_attention_enabled,
    is_interactive_logging_enabled,
    is_traceback_filtering_enabled,
    max_epochs,
    max_steps_per_epoch,
    set_max_epochs,
    set_max_steps_per_epoch,
)


def set_backend(backend):
    """Keras switches backends here; shoal runs on JAX only, so only "jax" is accepted."""
    if backend != "jax":
        raise ValueError(
            f"set_backend: shoal runs on JAX only; argument 'backend' must be 'jax', "
            f"got {backend!r}"
        )


def is_nnx_enabled() -> bool:
    """Flax NNX integration (Keras' JAX backend option) is not part of shoal: False."""
    return False


def enable_unsafe_deserialization():
    """Allow loading Lambda layers (runs code stored in model files: trusted files only)."""
    from shoal.saving import enable_unsafe_deserialization as enable

    enable()


__all__ = [
    "backend",
    "disable_flash_attention",
    "disable_interactive_logging",
    "disable_traceback_filtering",
    "dtype_policy",
    "enable_flash_attention",
    "enable_interactive_logging",
    "enable_traceback_filtering",
    "enable_unsafe_deserialization",
    "epsilon",
    "floatx",
    "image_data_format",
    "is_flash_attention_enabled",
    "is_interactive_logging_enabled",
    "is_nnx_enabled",
    "is_traceback_filtering_enabled",
    "max_epochs",
    "max_steps_per_epoch",
    "set_backend",
    "set_dtype_policy",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "set_max_epochs",
    "set_max_steps_per_epoch",
]
