"""Boston Housing prices (StatLib, CMU): 506 samples of 13 features, target in k$.

WARNING: one feature ("B") encodes an assumption about racial self-segregation; use this data
only to illustrate ethical issues in data science (as Keras advises).
"""

from __future__ import annotations

import numpy as np

from shoal.datasets._fetch import KERAS_ORIGIN, fetch_npz

_SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"  # from Keras


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Loads the data, shuffled with `seed`, and splits off the last `test_split` fraction.

    Args:
        path: the file's name in the cache (`$SHOAL_HOME/datasets`).
        test_split: fraction of the samples kept for testing, in `[0, 1)`.
        seed: seed of the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float64 `(n, 13)` features, float64 `(n,)`
        targets; the same split as Keras for the same seed.
    """
    if not 0 <= test_split < 1:
        raise ValueError(
            f"boston_housing.load_data: argument 'test_split' must be in [0, 1); got {test_split!r}"
        )
    x, y = fetch_npz(path, _SHA256, ("x", "y"), KERAS_ORIGIN + "boston_housing.npz")
    order = np.arange(len(x))
    np.random.RandomState(seed).shuffle(order)  # the legacy RNG: Keras' exact shuffle
    x, y = x[order], y[order]
    n_train = int(len(x) * (1 - test_split))
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])
