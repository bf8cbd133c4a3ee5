"""Devices as Keras names them: `"cpu:0"`, `"gpu:3"` (platform and global id)."""

from __future__ import annotations

import jax

_PLATFORMS = ("cpu", "gpu", "tpu")


def _check_type(device_type):
    if device_type is None:
        return None
    if not isinstance(device_type, str) or device_type.lower() not in _PLATFORMS:
        raise ValueError(
            f"Argument `device_type` must be one of {list(_PLATFORMS)} or None; got {device_type!r}"
        )
    return device_type.lower()


def _jax_devices(device_type=None):
    device_type = _check_type(device_type)
    return jax.devices(device_type) if device_type else jax.devices()


def device_name(device) -> str:
    return f"{device.platform}:{device.id}"


def list_devices(device_type=None) -> list[str]:
    """All devices of all processes (global), as `"platform:id"` strings."""
    return [device_name(d) for d in _jax_devices(device_type)]


def get_device_count(device_type=None) -> int:
    return len(_jax_devices(device_type))


def resolve_device(device):
    """A `jax.Device` from a jax device or a `"platform:id"` string."""
    if isinstance(device, jax.Device):
        return device
    if isinstance(device, str):
        platform, sep, index = device.partition(":")
        platform = "gpu" if platform.lower() == "cuda" else platform.lower()
        if sep and index.isdigit():
            for d in jax.devices():
                if d.platform == platform and d.id == int(index):
                    return d
        raise ValueError(
            f"Unknown device {device!r}; expected one of {list_devices()} (see "
            "shoal.distribution.list_devices())"
        )
    raise TypeError(
        f"A device must be a jax.Device or a 'platform:id' string; got {type(device).__name__}"
    )


def resolve_devices(devices) -> list:
    if devices is None:
        return jax.devices()
    if isinstance(devices, (str, jax.Device)):
        devices = [devices]
    out = [resolve_device(d) for d in devices]
    if not out:
        raise ValueError("Argument `devices` must not be empty")
    if len(set(out)) != len(out):
        raise ValueError(
            f"Argument `devices` lists a device twice: {[device_name(d) for d in out]}"
        )
    return out
