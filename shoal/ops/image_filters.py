"""Fixed-kernel image filters of `keras.ops.image`: gaussian_blur, sobel_edges, ssim.

Each is a depthwise (one kernel per channel) correlation, run as one
`lax.conv_general_dilated` with `feature_group_count` = channels at the highest
precision, so results do not depend on the device's default matmul precision.
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np

from shoal.ops import image_args as A
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.numpy import _t

_HIGHEST = jax.lax.Precision.HIGHEST


def _gaussian_kernel_1d(size: int, sigma, dtype):
    """Normalized samples of a Gaussian at `size` points centred on the middle one."""
    x = jnp.arange(size, dtype=dtype) - jnp.asarray((size - 1) / 2, dtype)
    kernel = jnp.exp(-0.5 * jnp.square(x / sigma))
    return kernel / jnp.sum(kernel)


def _depthwise(images_nchw, kernel_hw, padding):
    """Correlate every channel of an NCHW batch with the same 2-D kernel."""
    channels = images_nchw.shape[1]
    kernel = jnp.broadcast_to(kernel_hw, (channels, 1, *kernel_hw.shape))
    return jax.lax.conv_general_dilated(
        images_nchw,
        kernel.astype(images_nchw.dtype),
        window_strides=(1, 1),
        padding=padding,
        dimension_numbers=("NCHW", "OIHW", "NCHW"),
        feature_group_count=channels,
        precision=_HIGHEST,
    )


def _to_nchw(images, data_format):
    """(batch in NCHW, function mapping an NCHW result back to the input layout)."""
    single = images.ndim == 3
    x = images[None] if single else images
    if data_format == "channels_last":
        x = jnp.moveaxis(x, -1, 1)

    def back(y):
        if data_format == "channels_last":
            y = jnp.moveaxis(y, 1, -1)
        return y[0] if single else y

    return x, back


def _pair(op, name, value, check, what):
    if isinstance(value, (np.ndarray, jax.Array)) and not isinstance(value, jax.core.Tracer):
        value = value.tolist()  # a concrete array of sizes, as Keras accepts
    items = (value, value) if not isinstance(value, (tuple, list)) else tuple(value)
    if len(items) != 2 or not all(check(v) for v in items):
        raise ValueError(f"{op}: argument '{name}' must be a pair of {what}, got {value!r}")
    return items


def _positive_int(v):
    return A.is_int(v) and v > 0


def _positive_number(v):
    if isinstance(v, jax.Array) and v.ndim == 0:
        return True  # possibly traced: its value cannot be checked here
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and v > 0


@keras_op
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blur images with a Gaussian kernel (zero padding, output the input's shape).

    As in Keras' JAX backend, `kernel_size[0]` and `sigma[0]` apply along the width
    and `kernel_size[1]` and `sigma[1]` along the height (the same for square kernels).

    Example:
        >>> gaussian_blur(np.ones((2, 8, 8, 3), "float32")).shape
        (2, 8, 8, 3)
    """
    kernel_size = _pair("gaussian_blur", "kernel_size", kernel_size, _positive_int, "positive ints")
    sigma = _pair("gaussian_blur", "sigma", sigma, _positive_number, "positive numbers")
    data_format = A.data_format("gaussian_blur", data_format)
    images = A.image_rank("gaussian_blur", "images", _t(images))
    dtype = A.float_compute_dtype(images.dtype)
    along_w = _gaussian_kernel_1d(kernel_size[0], jnp.asarray(sigma[0], dtype), dtype)
    along_h = _gaussian_kernel_1d(kernel_size[1], jnp.asarray(sigma[1], dtype), dtype)
    x, back = _to_nchw(images.astype(dtype), data_format)
    blurred = _depthwise(x, jnp.outer(along_h, along_w), "SAME")
    return back(blurred).astype(images.dtype)


_SOBEL_X = ((-1, 0, 1), (-2, 0, 2), (-1, 0, 1))


@keras_op
def sobel_edges(images, data_format=None):
    """Sobel gradients of a batch of images, zero padded.

    Returns `(batch, height, width, channels, 2)` (channels last) or
    `(batch, channels, height, width, 2)`, the last axis holding `[dy, dx]`.

    Example:
        >>> sobel_edges(np.ones((1, 8, 8, 1), "float32")).shape
        (1, 8, 8, 1, 2)
    """
    data_format = A.data_format("sobel_edges", data_format)
    images = A.image_rank("sobel_edges", "images", _t(images), ranks=(4,))
    sobel_x = jnp.asarray(_SOBEL_X, images.dtype)
    x, back = _to_nchw(images, data_format)
    dy = back(_depthwise(x, sobel_x.T, "SAME"))
    dx = back(_depthwise(x, sobel_x, "SAME"))
    return jnp.stack([dy, dx], axis=-1)


def _check_ssim_args(max_val, filter_size, filter_sigma, k1, k2):
    if not (A.is_int(filter_size) and filter_size >= 1):
        raise ValueError(f"ssim: argument 'filter_size' must be an int >= 1, got {filter_size!r}")
    for name, value in (("max_val", max_val), ("filter_sigma", filter_sigma)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"ssim: argument '{name}' must be a positive number, got {value!r}")
    for name, value in (("k1", k1), ("k2", k2)):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            raise ValueError(f"ssim: argument '{name}' must be a number, got {value!r}")


@keras_op
def ssim(
    image1,
    image2,
    max_val=1.0,
    filter_size=11,
    filter_sigma=1.5,
    k1=0.01,
    k2=0.03,
    data_format=None,
):
    """Structural similarity (Wang et al., 2004) of two images or batches of images.

    Local statistics use a `filter_size` Gaussian window (valid positions only); the
    SSIM map is averaged over positions, then over channels. Returns one value per
    image (a scalar for unbatched inputs). Integer inputs give float32 values (Keras
    casts them back to the integer dtype, which truncates the score to 0 or 1).

    Example:
        >>> x = np.random.rand(2, 16, 16, 3).astype("float32")
        >>> ssim(x, x)  # identical images
        Array([1., 1.], dtype=float32)
    """
    _check_ssim_args(max_val, filter_size, filter_sigma, k1, k2)
    data_format = A.data_format("ssim", data_format)
    image1 = A.image_rank("ssim", "image1", _t(image1))
    image2 = A.image_rank("ssim", "image2", _t(image2))
    if image1.shape != image2.shape:
        raise ValueError(
            "ssim: arguments 'image1' and 'image2' must have the same shape, got "
            f"{tuple(image1.shape)} and {tuple(image2.shape)}"
        )
    dtype = A.float_compute_dtype(image1.dtype)
    x, _ = _to_nchw(image1.astype(dtype), data_format)
    y, _ = _to_nchw(image2.astype(dtype), data_format)
    if min(x.shape[2:]) < filter_size:
        raise ValueError(
            f"ssim: images of spatial shape {tuple(x.shape[2:])} are smaller than "
            f"'filter_size', got filter_size={filter_size}"
        )
    window = _gaussian_kernel_1d(filter_size, jnp.asarray(filter_sigma, dtype), dtype)
    window = jnp.outer(window, window)

    def local_mean(v):
        return _depthwise(v, window, "VALID")

    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x = local_mean(x * x) - mu_x * mu_x
    var_y = local_mean(y * y) - mu_y * mu_y
    cov = local_mean(x * y) - mu_x * mu_y
    similarity = ((2.0 * mu_x * mu_y + c1) * (2.0 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    per_image = jnp.mean(jnp.mean(similarity, axis=(2, 3)), axis=1)
    if image1.ndim == 3:
        per_image = per_image[0]
    return per_image


__all__ = public_names(globals())
