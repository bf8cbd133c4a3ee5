"""California housing (StatLib; 1990 U.S. census): 20,640 block groups of 8 features
(median income, house age, rooms, bedrooms, population, occupancy, latitude, longitude),
target the median house value in dollars."""

from __future__ import annotations

import numpy as np

from shoal.datasets._fetch import KERAS_ORIGIN, fetch_npz

_SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"  # from Keras


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Loads the data, shuffled with `seed`, and splits off the last `test_split` fraction.

    Args:
        version: "large" (all 20,640 samples) or "small" (the first 600).
        path: the file's name in the cache (`$SHOAL_HOME/datasets`).
        test_split: fraction of the samples kept for testing, in `[0, 1)`.
        seed: seed of the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: `(n, 8)` features and `(n,)` targets; the
        same split as Keras for the same seed.
    """
    owner = "california_housing.load_data"
    if not 0 <= test_split < 1:
        raise ValueError(f"{owner}: argument 'test_split' must be in [0, 1); got {test_split!r}")
    if version not in ("small", "large"):
        raise ValueError(f"{owner}: argument 'version' must be 'small' or 'large'; got {version!r}")
    x, y = fetch_npz(path, _SHA256, ("x", "y"), KERAS_ORIGIN + "california_housing.npz")
    if version == "small":
        x, y = x[:600], y[:600]
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)  # the legacy RNG: Keras' exact shuffle
    x, y = x[order], y[order]
    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
