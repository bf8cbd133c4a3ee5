"""Small image computations the augmentation layers share: colour spaces, separable blurs,
point sampling, homographies and box masks.

All work on a batch (rank 4). The colour conversions, point sampling and homographies are
`shoal.ops.image`'s; the blur here takes a traced sigma (a random draw), which the op does not.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from shoal.ops import image_color, image_transform, image_warp


def channel_axis(data_format) -> int:
    return -1 if data_format == "channels_last" else -3


def to_range(images, source, target):
    """Maps values linearly from the `source` (low, high) range onto `target`."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    images = (images - source[0]) / (source[1] - source[0])
    return images * (target[1] - target[0]) + target[0]


def rgb_to_grayscale(images, data_format):
    """Luma with one channel; images that already have one channel come back unchanged."""
    return image_color.rgb_to_grayscale(images, data_format=data_format)


def rgb_to_hsv(images, data_format):
    """RGB to HSV, each in [0, 1] for RGB in [0, 1] (the formulas Keras uses)."""
    return image_color.rgb_to_hsv(images, data_format=data_format)


def hsv_to_rgb(images, data_format):
    return image_color.hsv_to_rgb(images, data_format=data_format)


def spatial_axes(data_format, ndim=4):
    return (ndim - 3, ndim - 2) if data_format == "channels_last" else (ndim - 2, ndim - 1)


def _filter_axis(images, kernel, axis):
    """Correlates `images` along `axis` with a 1-D `kernel` (odd length), zero padded to
    keep the size (a convolution with "same" padding)."""
    size = kernel.shape[0]
    half = (size - 1) // 2
    widths = [(0, 0)] * images.ndim
    widths[axis] = (half, half)
    padded = jnp.pad(images, widths)
    length = images.shape[axis]
    out = None
    for i in range(size):
        tap = kernel[i] * jax.lax.slice_in_dim(padded, i, i + length, axis=axis)
        out = tap if out is None else out + tap
    return out


def gaussian_kernel(size: int, sigma, dtype, half_width=None):
    """A normalised 1-D Gaussian of `size` taps; taps beyond `half_width` (which may be
    traced) from the centre are zero, so a fixed size can hold a smaller, traced kernel."""
    x = jnp.arange(size, dtype=dtype) - jnp.asarray((size - 1) / 2, dtype)
    kernel = jnp.exp(-0.5 * (x / sigma) ** 2)
    if half_width is not None:
        kernel = jnp.where(jnp.abs(x) <= half_width, kernel, 0.0)
    return kernel / jnp.sum(kernel)


# TODO: use shoal.ops.image.gaussian_blur once it exists
def gaussian_blur(images, kernel_size, sigma, data_format, half_widths=(None, None)):
    """Blurs a batch with a separable Gaussian: `kernel_size` and `sigma` are (x, y) pairs,
    as in Keras' `gaussian_blur`; zero padding keeps the size."""
    h_axis, w_axis = spatial_axes(data_format, images.ndim)
    kx = gaussian_kernel(kernel_size[0], sigma[0], images.dtype, half_widths[0])
    ky = gaussian_kernel(kernel_size[1], sigma[1], images.dtype, half_widths[1])
    return _filter_axis(_filter_axis(images, kx, w_axis), ky, h_axis)


def box_filter3(images, data_format):
    """The 3x3 neighbourhood sum of each pixel, zero padded."""
    h_axis, w_axis = spatial_axes(data_format, images.ndim)
    ones = jnp.ones((3,), images.dtype)
    return _filter_axis(_filter_axis(images, ones, w_axis), ones, h_axis)


def sample(images, src_y, src_x, interpolation, fill_mode, fill_value, data_format):
    """Reads a batch at per-pixel source points (`src_y`, `src_x`: (batch, height, width)),
    as `jax.scipy.ndimage.map_coordinates` reads each channel."""
    if data_format == "channels_first":
        images = jnp.moveaxis(images, 1, -1)
    out = image_transform.sample_points(images, src_y, src_x, interpolation, fill_mode, fill_value)
    return jnp.moveaxis(out, -1, 1) if data_format == "channels_first" else out


def homography(start_points, end_points):
    """(batch, 8) projective transforms mapping each `end_points` quad (output) onto its
    `start_points` quad (input), in `affine_transform`'s layout; points are (batch, 4, 2)."""
    return image_warp._homographies(start_points, end_points)


def box_masks(shape, x0, x1, y0, y1, data_format, dtype):
    """(batch, ...) boolean masks, of the image shape `shape`, of the boxes
    [x0, x1) x [y0, y1) (each (batch,), in pixels)."""
    h_axis, w_axis = spatial_axes(data_format, len(shape))
    height, width = shape[h_axis], shape[w_axis]
    grid_y = jnp.arange(height, dtype=dtype)[:, None]
    grid_x = jnp.arange(width, dtype=dtype)[None, :]
    if data_format == "channels_last":
        grid_y, grid_x = grid_y[None, :, :, None], grid_x[None, :, :, None]
    else:
        grid_y, grid_x = grid_y[None, None], grid_x[None, None]
    x0, x1, y0, y1 = (v.reshape(-1, 1, 1, 1) for v in (x0, x1, y0, y1))
    masks = (grid_x >= x0) & (grid_x < x1) & (grid_y >= y0) & (grid_y < y1)
    channels = shape[channel_axis(data_format)]
    return jnp.repeat(masks, channels, axis=channel_axis(data_format))
