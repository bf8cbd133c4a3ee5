"""Preprocessing layers that size images: Resizing and CenterCrop.

Both run in training and inference alike, on a batch `(batch, height, width, channels)` or
one image `(height, width, channels)` (channels first with `data_format="channels_first"`).
"""

from __future__ import annotations

import jax.numpy as jnp

from shoal.layers.base import Layer
from shoal.layers.conv_utils import data_format_arg
from shoal.layers.reshaping import is_int
from shoal.ops import image as image_ops


def _size_arg(layer, name, value) -> int:
    if not is_int(value) or value <= 0:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': argument '{name}' must be a positive "
            f"integer; got {value!r}"
        )
    return int(value)


class _ImageSizingLayer(Layer):
    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _size_arg(self, "height", height)
        self.width = _size_arg(self, "width", width)
        self.data_format = data_format_arg(self, data_format)

    def _hw_axes(self, ndim):
        if ndim not in (3, 4):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': inputs must have rank 3 (one image) "
                f"or 4 (a batch); got rank {ndim}"
            )
        first = ndim - 3 if self.data_format == "channels_last" else ndim - 2
        return first, first + 1

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = self._hw_axes(len(shape))
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "data_format": self.data_format,
            "height": self.height,
            "width": self.width,
        }


class Resizing(_ImageSizingLayer):
    """Resize images to `(height, width)` (`keras.ops.image.resize`): with
    `crop_to_aspect_ratio` the largest centered window of the target's aspect ratio is
    resized, with `pad_to_aspect_ratio` the image is padded to it with `fill_value`.

    Example:
        >>> Resizing(2, 3)(np.zeros((1, 4, 6, 3))).shape
        (1, 2, 3, 3)
    """

    def __init__(
        self,
        height,
        width,
        interpolation="bilinear",
        crop_to_aspect_ratio=False,
        pad_to_aspect_ratio=False,
        fill_mode="constant",
        fill_value=0.0,
        antialias=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(height, width, data_format, **kwargs)
        image_ops._check_resize_args(
            f"Resizing '{self.name}'",
            interpolation,
            fill_mode,
            crop_to_aspect_ratio,
            pad_to_aspect_ratio,
        )
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def call(self, inputs):
        images = jnp.asarray(inputs)
        if jnp.issubdtype(images.dtype, jnp.floating):
            images = images.astype(self.compute_dtype)
        # else as Keras: integer images (uint8) come back rounded, in their own dtype
        self._hw_axes(images.ndim)
        return image_ops.resize(
            images,
            (self.height, self.width),
            interpolation=self.interpolation,
            antialias=self.antialias,
            crop_to_aspect_ratio=self.crop_to_aspect_ratio,
            pad_to_aspect_ratio=self.pad_to_aspect_ratio,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format=self.data_format,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "interpolation": self.interpolation,
            "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
            "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "antialias": self.antialias,
        }


class CenterCrop(_ImageSizingLayer):
    """The central `(height, width)` window of each image. An image smaller than that
    in either dimension is instead resized (bilinear) from its largest centered window of
    the target's aspect ratio, as Keras does.

    Example:
        >>> CenterCrop(2, 2)(np.arange(16.0).reshape(4, 4, 1))[..., 0].tolist()
        [[5.0, 6.0], [9.0, 10.0]]
    """

    def call(self, inputs):
        images = jnp.asarray(inputs).astype(self.compute_dtype)
        h_axis, w_axis = self._hw_axes(images.ndim)
        dh = images.shape[h_axis] - self.height
        dw = images.shape[w_axis] - self.width
        if dh < 0 or dw < 0:
            return image_ops.resize(
                images,
                (self.height, self.width),
                crop_to_aspect_ratio=True,
                data_format=self.data_format,
            )
        index = [slice(None)] * images.ndim
        index[h_axis] = slice(dh // 2, dh // 2 + self.height)
        index[w_axis] = slice(dw // 2, dw // 2 + self.width)
        return images[tuple(index)]
