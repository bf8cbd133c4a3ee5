"""Keras-style datasets: `load_data()` downloads once (hash-checked, cached), and a bundled
MNIST sample (`mnist.load_sample()`) that works offline."""

from shoal.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)

__all__ = [
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "fashion_mnist",
    "imdb",
    "mnist",
    "reuters",
]
