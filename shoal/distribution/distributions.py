"""Distributions: where every variable and every batch lives on a `DeviceMesh`.

Parallelism is layout. A distribution answers two questions — the layout of a variable
(`get_variable_layout`) and of a batch (`get_data_layout`) — and the trainer jits its pure
step with those shardings; XLA inserts the collectives. Data parallel, fully-sharded data
parallel and model parallel differ only in the layouts they return.
"""

from __future__ import annotations

import contextlib

import jax
import numpy as np

from shoal.distribution.devices import resolve_devices
from shoal.distribution.layout_map import LayoutMap
from shoal.distribution.mesh import DeviceMesh, TensorLayout

_STATE = {"distribution": None}


class Distribution:
    """Base class: a device mesh and the name of the axis the batch is split over."""

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        if not isinstance(device_mesh, DeviceMesh):
            raise ValueError(
                f"{type(self).__name__}: `device_mesh` must be a DeviceMesh; got "
                f"{type(device_mesh).__name__}"
            )
        batch_dim_name = batch_dim_name or device_mesh.axis_names[0]
        if batch_dim_name not in device_mesh.axis_names:
            raise ValueError(
                f"{type(self).__name__}: `batch_dim_name` {batch_dim_name!r} is not an axis of "
                f"the device mesh {list(device_mesh.axis_names)}"
            )
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self.auto_shard_dataset = bool(auto_shard_dataset)

    @property
    def device_mesh(self) -> DeviceMesh:
        return self._device_mesh

    @property
    def batch_dim_name(self) -> str:
        return self._batch_dim_name

    @property
    def data_parallel_size(self) -> int:
        return self._device_mesh.axis_size(self._batch_dim_name)

    @property
    def num_model_replicas(self) -> int:
        """How many copies of the model the batch is split over (the batch axis' size)."""
        return self.data_parallel_size

    @property
    def num_processes(self) -> int:
        return jax.process_count()

    @property
    def data_shard_id(self) -> int:
        """Which slice of the data this process feeds, as Keras counts it: its process
        index, or with more processes than replicas, its replica's index."""
        replicas, processes = self.num_model_replicas, self.num_processes
        if replicas >= processes:
            return jax.process_index()
        return jax.process_index() // (processes // replicas)

    # -- Keras' API ---------------------------------------------------------------
    def get_data_layout(self, data_shape) -> TensorLayout:
        """Batch dimension (the first) over the batch axis, the rest replicated."""
        axes = [self._batch_dim_name] + [None] * (len(data_shape) - 1)
        return TensorLayout(axes, self._device_mesh)

    def get_variable_layout(self, variable) -> TensorLayout:
        return TensorLayout([None] * len(variable.shape), self._device_mesh)

    def get_tensor_layout(self, path):
        return None

    def distribute_dataset(self, dataset):
        """Datasets are split per process by the trainer itself; returned unchanged."""
        return dataset

    @contextlib.contextmanager
    def scope(self):
        """Make this the active distribution inside the `with` block."""
        previous = _STATE["distribution"]
        _STATE["distribution"] = self
        try:
            yield self
        finally:
            _STATE["distribution"] = previous

    # -- what the trainer uses ------------------------------------------------------
    def variable_sharding(self, variable):
        return self.get_variable_layout(variable).sharding(variable.shape)

    def data_sharding(self, shape, batch_axis: int = 0):
        """Batch dimension `batch_axis` over the batch axis when it divides evenly, else
        replicated (a last, partial batch runs whole on every device)."""
        axes = [None] * len(shape)
        if len(shape) > batch_axis and shape[batch_axis] % self.data_parallel_size == 0:
            axes[batch_axis] = self._batch_dim_name
        return TensorLayout(axes, self._device_mesh).sharding()

    def replicated(self):
        return TensorLayout([], self._device_mesh).sharding()

    def __repr__(self):
        return (
            f"<{type(self).__name__} mesh={self._device_mesh.shape} "
            f"axes={list(self._device_mesh.axis_names)} batch_dim={self._batch_dim_name!r}>"
        )


def _default_mesh(owner, device_mesh, devices):
    if device_mesh is not None and devices is not None:
        raise ValueError(f"{owner}: pass `device_mesh` or `devices`, not both")
    if device_mesh is not None:
        return device_mesh
    devices = resolve_devices(devices)
    return DeviceMesh((len(devices),), ("batch",), devices)


class DataParallel(Distribution):
    """Every device holds all the weights and a slice of each batch; gradients are averaged.

    Args:
        device_mesh: a 1-D `DeviceMesh` (its axis is the batch axis), or
        devices: the devices to use (default: all devices of all processes).
        auto_shard_dataset: with several processes, True (default) means every process
            is given the same global data and feeds only its slice of each batch; False
            means each process's data already is its own slice.

    Example:
        >>> shoal.distribution.set_distribution(shoal.distribution.DataParallel())
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        mesh = _default_mesh("DataParallel", device_mesh, devices)
        super().__init__(mesh, mesh.axis_names[0], auto_shard_dataset)


class ModelParallel(Distribution):
    """Variables laid out by a `LayoutMap` (tensor parallelism), the batch over
    `batch_dim_name` (data parallelism on a 2-D mesh: hybrid).

    Example:
        >>> mesh = DeviceMesh((2, 2), ("batch", "model"))
        >>> layout_map = LayoutMap(mesh)
        >>> layout_map[".*dense.*kernel"] = (None, "model")
        >>> distribution = ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    """

    def __init__(self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True, **kwargs):
        device_mesh = kwargs.pop("device_mesh", None)
        if kwargs:
            raise ValueError(f"ModelParallel: unexpected arguments {sorted(kwargs)}")
        if layout_map is None and device_mesh is None:
            raise ValueError("ModelParallel: argument `layout_map` (a LayoutMap) is required")
        if layout_map is not None and not isinstance(layout_map, LayoutMap):
            raise ValueError(
                f"ModelParallel: `layout_map` must be a LayoutMap; got {type(layout_map).__name__}"
            )
        mesh = device_mesh if layout_map is None else layout_map.device_mesh
        super().__init__(mesh, batch_dim_name, auto_shard_dataset)
        self._layout_map = layout_map if layout_map is not None else LayoutMap(mesh)

    @property
    def layout_map(self):
        return self._layout_map

    def get_variable_layout(self, variable):
        layout = self._layout_map[variable.path]
        if layout is None:
            return super().get_variable_layout(variable)
        if len(layout.axes) != len(variable.shape):
            raise ValueError(
                f"ModelParallel: the layout {layout.axes} for variable {variable.path!r} has "
                f"{len(layout.axes)} axes but the variable has shape {tuple(variable.shape)}"
            )
        return layout

    def get_tensor_layout(self, path):
        return self._layout_map[path]


class FullyShardedDataParallel(ModelParallel):
    """Data parallel with parameters, gradients and optimizer state sharded over the batch
    axis (ZeRO-3 style): each of N devices holds about 1/N of them, and XLA gathers a
    weight where a step needs it whole.

    Each variable is split along its largest dimension that the batch axis divides (and
    that a `layout_map`, if given, leaves unsharded); a variable with no such dimension
    (a scalar, a bias of odd size) is replicated.

    Args:
        device_mesh / devices: as `DataParallel` (a 1-D mesh over all devices by default).
        layout_map: optional model-parallel layouts on a 2-D mesh (hybrid FSDP x tensor).
        batch_dim_name: the batch axis (default: the mesh's first axis).
        min_size: variables with fewer elements stay replicated (sharding tiny tensors
            costs more in collectives than it saves); default 0 (shard all that divide).
    """

    def __init__(
        self,
        device_mesh=None,
        devices=None,
        layout_map=None,
        batch_dim_name=None,
        min_size=0,
        auto_shard_dataset=True,
    ):
        if layout_map is not None:
            if device_mesh is not None or devices is not None:
                raise ValueError(
                    "FullyShardedDataParallel: with `layout_map`, the mesh is the layout map's; "
                    "do not pass `device_mesh` or `devices`"
                )
            super().__init__(
                layout_map=layout_map,
                batch_dim_name=batch_dim_name,
                auto_shard_dataset=auto_shard_dataset,
            )
        else:
            mesh = _default_mesh("FullyShardedDataParallel", device_mesh, devices)
            super().__init__(
                device_mesh=mesh,
                batch_dim_name=batch_dim_name,
                auto_shard_dataset=auto_shard_dataset,
            )
        if (
            isinstance(min_size, bool)
            or not isinstance(min_size, (int, np.integer))
            or min_size < 0
        ):
            raise ValueError(
                f"FullyShardedDataParallel: `min_size` must be a non-negative int; got {min_size!r}"
            )
        self.min_size = int(min_size)

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        shape = tuple(variable.shape)
        n = self.data_parallel_size
        if n == 1 or int(np.prod(shape, dtype=np.int64)) < max(self.min_size, 1):
            return layout
        axes = list(layout.axes)
        used = {a for ax in axes for a in (ax if isinstance(ax, tuple) else (ax,))}
        if self.batch_dim_name in used:
            return layout
        free = [i for i, a in enumerate(axes) if a is None and shape[i] % n == 0]
        if not free:
            return layout
        best = max(free, key=lambda i: (shape[i], -i))
        axes[best] = self.batch_dim_name
        return TensorLayout(axes, self.device_mesh)


def set_distribution(value) -> None:
    """Make `value` (a Distribution, or None for single-device) the global distribution."""
    if value is not None and not isinstance(value, Distribution):
        raise ValueError(
            f"set_distribution: expected a Distribution or None; got {type(value).__name__}"
        )
    _STATE["distribution"] = value


def distribution():
    """The active distribution, or None."""
    return _STATE["distribution"]


def distribute_tensor(tensor, layout):
    """Lay `tensor` out as `layout` (a TensorLayout or a jax Sharding); inside a traced
    function this is a sharding constraint."""
    sharding = layout.sharding(np.shape(tensor)) if isinstance(layout, TensorLayout) else layout
    if isinstance(tensor, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(tensor, sharding)
    return jax.device_put(tensor, sharding)
