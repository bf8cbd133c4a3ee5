"""`Masking`: mark timesteps whose features all equal `mask_value` as padding (Keras 3)."""

from __future__ import annotations

import numbers

import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer


class Masking(Layer):
    """Masks a sequence by using a mask value to skip timesteps.

    For an input of shape `(batch, timesteps, ..., features)` a timestep is masked
    (mask `False`) when every value of its last axis equals `mask_value`. Masked
    timesteps are zeroed in the output; the mask flows to downstream layers that
    support masking (recurrent layers then skip those steps).

    `compute_mask(x) = any(x != mask_value, axis=-1)`, and the output is
    `where(mask[..., None], x, 0)`.

    Example:
        >>> x = np.ones((2, 4, 3), "float32"); x[:, 2] = 0.0
        >>> Masking(mask_value=0.0).compute_mask(x)   # [[T, T, F, T], [T, T, F, T]]
    """

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        # A config may hold a serialized array (Keras writes tensors as __tensor__ dicts).
        if isinstance(mask_value, dict) and mask_value.get("config") is not None:
            from shoal.saving.serialization import deserialize_keras_object

            mask_value = deserialize_keras_object(mask_value)
        if isinstance(mask_value, (list, tuple)):
            mask_value = np.asarray(mask_value, dtype="float32")
        if isinstance(mask_value, bool) or not (
            isinstance(mask_value, numbers.Number) or hasattr(mask_value, "shape")
        ):
            raise ValueError(
                f"Masking '{self.name}': argument 'mask_value' must be a number (or an array "
                f"broadcastable to the features), got {mask_value!r}"
            )
        self.mask_value = mask_value
        self.supports_masking = True
        self.built = True

    def _keep(self, inputs):
        return jnp.any(jnp.not_equal(inputs, jnp.asarray(self.mask_value)), axis=-1)

    def call(self, inputs):
        keep = self._keep(inputs)[..., None]
        return jnp.where(keep, inputs, jnp.zeros((), inputs.dtype))

    def compute_mask(self, inputs, previous_mask=None):
        if isinstance(inputs, KerasTensor):
            return KerasTensor(tuple(inputs.shape)[:-1], dtype="bool")
        return self._keep(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, **kwargs):
        dtype = inputs.dtype
        if self.autocast and dtypes.is_float_dtype(dtype):
            dtype = self.compute_dtype
        return KerasTensor(tuple(inputs.shape), dtype=dtype)

    def get_config(self):
        value = self.mask_value
        if hasattr(value, "shape"):
            value = np.asarray(value)
            value = value.item() if value.ndim == 0 else value.tolist()
        return {**super().get_config(), "mask_value": value}
