"""scikit-learn wrappers for models (`keras.wrappers`).

scikit-learn is imported when a wrapper is first used (`pip install 'shoal[sklearn]'`).
"""

from __future__ import annotations

import importlib

__all__ = ["SKLearnClassifier", "SKLearnRegressor", "SKLearnTransformer"]


def __getattr__(name: str):
    if name not in __all__:
        raise AttributeError(f"module 'shoal.wrappers' has no attribute {name!r}")
    try:
        module = importlib.import_module("shoal.wrappers.sklearn_wrapper")
    except ImportError as e:
        if e.name is None or not e.name.startswith("sklearn"):
            raise
        raise ImportError(
            f"shoal.wrappers.{name} needs scikit-learn; install it with "
            "`pip install 'shoal[sklearn]'` (or `pip install scikit-learn`)"
        ) from e
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
