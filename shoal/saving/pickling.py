"""Pickle support for models (joblib, scikit-learn, multiprocessing), as Keras 3 gives it.

`pickle.dumps(model)` stores the model's `.keras` archive bytes (config, weights, optimizer
state); unpickling rebuilds the model from them. The archive itself holds no pickle; like
Keras, unpickling loads with `safe_mode=False`, as pickle data is trusted by definition.
"""

from __future__ import annotations

import os
import tempfile


def model_to_bytes(model) -> bytes:
    """The `.keras` archive of `model`, as bytes."""
    from shoal.saving.archive import write_archive

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        write_archive(model, path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data: bytes):
    """The model `model_to_bytes` stored (compiled again when it was compiled)."""
    from shoal.saving.archive import load_archive

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        with open(path, "wb") as f:
            f.write(data)
        return load_archive(path, compile=True, safe_mode=False)
