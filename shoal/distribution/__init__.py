"""`shoal.distribution`: Keras 3's distribution API, plus fully-sharded data parallel.

    import shoal
    shoal.distribution.set_distribution(shoal.distribution.DataParallel())
    model.fit(...)  # the same fit, on every device

See docs/parallel.md.
"""

from shoal.distribution.devices import get_device_count, list_devices
from shoal.distribution.distributions import (
    DataParallel,
    Distribution,
    FullyShardedDataParallel,
    ModelParallel,
    distribute_tensor,
    distribution,
    set_distribution,
)
from shoal.distribution.layout_map import LayoutMap
from shoal.distribution.mesh import DeviceMesh, TensorLayout

_LAZY = ("initialize", "process_index", "process_count", "is_primary", "host_local_slice")


def __getattr__(name):
    # multihost.py imports jax.distributed machinery; loaded on first use.
    if name in _LAZY:
        from shoal.distribution import multihost

        return getattr(multihost, name)
    raise AttributeError(f"module 'shoal.distribution' has no attribute {name!r}")


def __dir__():
    # The lazily loaded names are listed too (as dir(keras.distribution) lists initialize).
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "DataParallel",
    "DeviceMesh",
    "Distribution",
    "FullyShardedDataParallel",
    "LayoutMap",
    "ModelParallel",
    "TensorLayout",
    "distribute_tensor",
    "distribution",
    "get_device_count",
    "host_local_slice",
    "initialize",
    "is_primary",
    "list_devices",
    "process_count",
    "process_index",
    "set_distribution",
]
