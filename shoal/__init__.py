"""shoal: the Keras 3 API on JAX, built for parallel training.

`import shoal as keras` runs ordinary Keras 3 programs. Submodules and the
top-level names are imported on first use; `import shoal` itself imports only JAX (for the
host settings of `_host_allocator.py`).
"""

from __future__ import annotations

import importlib

from shoal import _host_allocator

__version__ = "0.1.0"

# Before any XLA:CPU thread allocates or JAX makes its CPU client: see _host_allocator.py
# (SHOAL_HOST_ALLOCATOR=system opts out).
_host_allocator.configure()

_SUBMODULES = {
    "activations",
    "applications",
    "backend",
    "callbacks",
    "config",
    "constraints",
    "datasets",
    "distillation",
    "distribution",
    "dtype_policies",
    "export",
    "initializers",
    "layers",
    "legacy",
    "losses",
    "metrics",
    "mixed_precision",
    "models",
    "ops",
    "optimizers",
    "preprocessing",
    "quantizers",
    "random",
    "regularizers",
    "saving",
    "tree",
    "utils",
    "visualization",
    "wrappers",
}

_NAMES = {
    "Input": "shoal.layers",
    "InputSpec": "shoal.layers",
    "Layer": "shoal.layers",
    "Model": "shoal.models",
    "Sequential": "shoal.models",
    "Variable": "shoal.backend",
    "KerasTensor": "shoal.backend",
    "DTypePolicy": "shoal.backend",
    "Operation": "shoal.backend",
    "FloatDTypePolicy": "shoal.dtype_policies",
    "Quantizer": "shoal.quantizers",
    "StatelessScope": "shoal.backend",
    "SymbolicScope": "shoal.backend.symbolic_scope",
    "Function": "shoal.ops.function",
    "name_scope": "shoal.backend",
    "device": "shoal.backend.device_placement",
    "remat": "shoal.backend.remat",
    "RematScope": "shoal.backend.remat_scope",
    "Loss": "shoal.losses",
    "Metric": "shoal.metrics",
    "Optimizer": "shoal.optimizers",
    "Initializer": "shoal.initializers",
    "Regularizer": "shoal.regularizers",
}

__all__ = sorted(_SUBMODULES | set(_NAMES) | {"version"})


def version() -> str:
    """shoal's version (`keras.version()`)."""
    return __version__


def __getattr__(name: str):
    if name in _SUBMODULES:
        module = importlib.import_module(f"shoal.{name}")
        globals()[name] = module
        return module
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'shoal' has no attribute {name!r}")


def __dir__():
    return __all__
