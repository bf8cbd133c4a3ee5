"""Fashion-MNIST: 70,000 28x28 grayscale images of 10 kinds of clothing (Zalando, MIT license).

Labels: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
8 Bag, 9 Ankle boot.
"""

from __future__ import annotations

from shoal.datasets._fetch import fetch
from shoal.datasets.idx import read_idx

# SHA-256 of the IDX files as published by Zalando (github.com/zalandoresearch/fashion-mnist);
# Keras' mirror serves the same files (same names and byte sizes) but records no hash.
_FILES = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}


def load_data():
    """Loads Fashion-MNIST: 60,000 training and 10,000 test images.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images `(n, 28, 28)` and uint8 labels
        0-9 of shape `(n,)`.
    """
    splits = []
    for prefix in ("train", "t10k"):
        arrays = []
        for kind, ndim in (("images-idx3", 3), ("labels-idx1", 1)):
            fname = f"{prefix}-{kind}-ubyte.gz"
            arrays.append(read_idx(fetch(fname, _FILES[fname], subdir="fashion-mnist"), ndim))
        x, y = arrays
        if len(x) != len(y):
            raise ValueError(f"Fashion-MNIST {prefix}: {len(x)} images but {len(y)} labels")
        splits.append((x, y))
    return tuple(splits)
