"""`DeviceMesh` (devices arranged on named axes) and `TensorLayout` (which mesh axis
shards each dimension of a tensor), Keras 3's `keras.distribution` classes over
`jax.sharding.Mesh` / `NamedSharding`."""

from __future__ import annotations

import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from shoal.distribution.devices import device_name, resolve_devices


class DeviceMesh:
    """Devices on a grid with named axes, e.g. shape (2, 4) with axes ("batch", "model").

    Args:
        shape: the grid's shape; its product must equal the number of devices.
        axis_names: one name per grid axis.
        devices: jax devices or `"platform:id"` strings; default: all devices
            (`shoal.distribution.list_devices()`), of every process.
    """

    def __init__(self, shape, axis_names, devices=None):
        if isinstance(shape, int):
            shape = (shape,)
        if not isinstance(shape, (tuple, list)) or not all(
            isinstance(d, (int, np.integer)) and d > 0 for d in shape
        ):
            raise ValueError(f"DeviceMesh: `shape` must be a tuple of positive ints; got {shape!r}")
        if isinstance(axis_names, str):
            axis_names = (axis_names,)
        axis_names = tuple(axis_names)
        if len(axis_names) != len(shape):
            raise ValueError(
                f"DeviceMesh: `axis_names` must have one name per axis of `shape` {tuple(shape)}; "
                f"got {axis_names}"
            )
        if len(set(axis_names)) != len(axis_names) or not all(
            isinstance(a, str) and a for a in axis_names
        ):
            raise ValueError(
                f"DeviceMesh: `axis_names` must be distinct non-empty strings; got {axis_names}"
            )
        devices = resolve_devices(
            None if devices is None else list(np.asarray(devices, dtype=object).reshape(-1))
        )
        if int(np.prod(shape)) != len(devices):
            raise ValueError(
                f"DeviceMesh: `shape` {tuple(shape)} holds {int(np.prod(shape))} devices but "
                f"{len(devices)} were given ({[device_name(d) for d in devices]})"
            )
        self._shape = tuple(int(d) for d in shape)
        self._axis_names = axis_names
        self._devices = np.asarray(devices, dtype=object).reshape(self._shape)
        self._jax_mesh = Mesh(self._devices, self._axis_names)

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self) -> list:
        return list(self._axis_names)

    @property
    def devices(self):
        return self._devices

    @property
    def jax_mesh(self) -> Mesh:
        return self._jax_mesh

    @property
    def backend_mesh(self) -> Mesh:
        """Keras' name for the `jax.sharding.Mesh`."""
        return self._jax_mesh

    def axis_size(self, name) -> int:
        return self._shape[self._axis_names.index(name)]

    def __repr__(self):
        return f"<DeviceMesh shape={self._shape}, axis_names={list(self._axis_names)}>"


class TensorLayout:
    """Which mesh axis (or None: replicated) shards each dimension of a tensor.

    Args:
        axes: one entry per tensor dimension: a mesh axis name, a tuple of names, or None.
        device_mesh: the `DeviceMesh`; may be set later (a `LayoutMap` sets it).
    """

    def __init__(self, axes, device_mesh=None):
        self._axes = tuple(tuple(a) if isinstance(a, list) else a for a in axes)
        for a in self._axes:
            names = a if isinstance(a, tuple) else (a,)
            if not all(n is None or isinstance(n, str) for n in names):
                raise ValueError(
                    f"TensorLayout: each entry of `axes` must be a mesh axis name or None; "
                    f"got {axes!r}"
                )
        self._device_mesh = None
        if device_mesh is not None:
            self.device_mesh = device_mesh

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, mesh):
        if self._device_mesh is not None and mesh is not self._device_mesh:
            raise ValueError("TensorLayout: `device_mesh` is already set to another mesh")
        for a in self._axes:
            for name in a if isinstance(a, tuple) else (a,):
                if name is not None and name not in mesh.axis_names:
                    raise ValueError(
                        f"TensorLayout: axis {name!r} of layout {self._axes} is not an axis of "
                        f"the device mesh {list(mesh.axis_names)}"
                    )
        self._device_mesh = mesh

    def sharding(self, shape=None) -> NamedSharding:
        """The `NamedSharding`; with `shape`, a dimension the axis does not divide evenly
        is replicated instead (an error would be raised by XLA otherwise)."""
        if self._device_mesh is None:
            raise ValueError(f"TensorLayout {self._axes}: no device mesh set")
        axes = list(self._axes)
        if shape is not None:
            if len(axes) != len(shape):
                raise ValueError(
                    f"TensorLayout {self._axes} has {len(axes)} axes but the tensor has shape "
                    f"{tuple(shape)}"
                )
            axes = [
                a if _divides(self._device_mesh, a, d) else None
                for a, d in zip(axes, shape, strict=True)
            ]
        return NamedSharding(self._device_mesh.jax_mesh, PartitionSpec(*axes))

    @property
    def backend_layout(self) -> NamedSharding:
        """Keras' name for the `jax.sharding.NamedSharding` (the mesh must be set)."""
        return self.sharding()

    def __repr__(self):
        return f"<TensorLayout axes={self._axes}>"


def _divides(mesh, axis, dim) -> bool:
    if axis is None or dim is None:
        return True
    names = axis if isinstance(axis, tuple) else (axis,)
    size = int(np.prod([mesh.axis_size(n) for n in names]))
    return dim % size == 0
