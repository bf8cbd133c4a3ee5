"""Reading arrays back to the host, including global arrays of multi-process runs.

With several processes (`shoal.distribution.initialize`), an array may span devices that
this process cannot address. A replicated one is read from a local copy; a sharded one
is gathered with `jax.experimental.multihost_utils.process_allgather`, a collective that
every process must call in the same order (they all run the same program).
"""

from __future__ import annotations

import jax
import numpy as np


def is_multiprocess() -> bool:
    return jax.process_count() > 1


def to_numpy(value) -> np.ndarray:
    if isinstance(value, jax.Array) and not value.is_fully_addressable:
        if value.is_fully_replicated:
            return np.asarray(value.addressable_data(0))
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(value, tiled=True))
    return np.asarray(value)
