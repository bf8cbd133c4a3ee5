"""`set_random_seed`: one call makes a program's randomness repeatable."""

from __future__ import annotations

import random

import numpy as np

from shoal.backend import random as backend_random


def set_random_seed(seed):
    """Seeds Python's `random`, NumPy's global RNG and shoal's global key stream.

    Args:
        seed: an integer in `[0, 2**32)` (NumPy's limit).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(
            f"set_random_seed: argument 'seed' must be an integer in [0, 2**32); "
            f"got {seed!r} (of type {type(seed).__name__})"
        )
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    backend_random.set_seed(seed)
