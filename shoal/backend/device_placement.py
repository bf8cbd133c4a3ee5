"""`keras.device("gpu:0")`: a context in which new arrays and computations go to one device."""

from __future__ import annotations

import contextlib

import jax


def _parse(device_name):
    if not isinstance(device_name, str):
        raise ValueError(
            f"device: argument 'device_name' must be a string like 'cpu:0' or 'gpu:1', "
            f"got {device_name!r}"
        )
    kind, _, index = device_name.lower().partition(":")
    kind = {"cuda": "gpu"}.get(kind, kind)
    if index and not index.isdigit():
        raise ValueError(
            f"device: argument 'device_name' must look like 'cpu:0' or 'gpu:1', got {device_name!r}"
        )
    try:
        devices = jax.devices(kind)
    except RuntimeError as err:
        raise ValueError(
            f"device: no {kind!r} devices for argument 'device_name'={device_name!r} "
            f"(this process has {sorted({d.platform for d in jax.devices()})})"
        ) from err
    position = int(index or 0)
    if position >= len(devices):
        raise ValueError(
            f"device: argument 'device_name'={device_name!r} asks for {kind} device "
            f"{position}, but there are {len(devices)}"
        )
    return devices[position]


@contextlib.contextmanager
def device(device_name):
    """Place the arrays and computations created inside on `device_name` ("cpu:0", ...)."""
    with jax.default_device(_parse(device_name)):
        yield
