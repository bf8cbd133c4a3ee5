"""The small functional core: variables, dtypes, random keys, symbolic tensors, scopes."""

import gc

from shoal.backend.config import (
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_epsilon,
    set_floatx,
    set_image_data_format,
    standardize_data_format,
)
from shoal.backend.dtype_policy import DTypePolicy
from shoal.backend.dtypes import is_float_dtype, is_int_dtype, result_type, standardize_dtype
from shoal.backend.name_scopes import name_scope
from shoal.backend.naming import get_uid, reset_uids
from shoal.backend.operation import Operation
from shoal.backend.scope import StatelessScope
from shoal.backend.symbolic import KerasTensor, is_keras_tensor
from shoal.backend.tensors import convert_to_numpy, convert_to_tensor, is_tensor
from shoal.backend.variables import Variable


def clear_session(free_memory: bool = True) -> None:
    """Reset default layer names, as `keras.backend.clear_session()` does; with
    `free_memory` also run Python's garbage collector (as Keras)."""
    reset_uids()
    if free_memory:
        gc.collect()


__all__ = [
    "DTypePolicy",
    "KerasTensor",
    "Operation",
    "StatelessScope",
    "Variable",
    "backend",
    "clear_session",
    "convert_to_numpy",
    "convert_to_tensor",
    "epsilon",
    "floatx",
    "get_uid",
    "image_data_format",
    "is_float_dtype",
    "is_int_dtype",
    "is_keras_tensor",
    "is_tensor",
    "name_scope",
    "result_type",
    "set_epsilon",
    "set_floatx",
    "set_image_data_format",
    "standardize_data_format",
    "standardize_dtype",
]
