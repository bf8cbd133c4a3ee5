"""Image files and PIL images <-> arrays (`keras.utils.load_img`, `img_to_array`, ...).

Pillow (the optional `[images]` extra) decodes and encodes files. Arrays are NumPy,
`(height, width, channels)` or `(channels, height, width)` by `data_format`.
"""

from __future__ import annotations

import io
import numbers
import os
import pathlib
import warnings

import numpy as np

from shoal.backend import config
from shoal.ops import image as image_ops

_COLOR_MODES = ("grayscale", "rgb", "rgba")
_PIL_MODE_CHANNELS = {4: "RGBA", 3: "RGB"}


def pillow(owner):
    """PIL's Image module, or an ImportError saying that `owner` needs Pillow."""
    try:
        from PIL import Image
    except ImportError as err:
        raise ImportError(
            f"{owner} needs Pillow; install it with `pip install pillow` "
            "(or shoal's `[images]` extra)"
        ) from err
    return Image


def _resampling(image_module, owner, interpolation):
    methods = {
        name: getattr(image_module.Resampling, name.upper())
        for name in ("nearest", "bilinear", "bicubic", "hamming", "box", "lanczos")
    }
    if interpolation not in methods:
        raise ValueError(
            f"{owner}: argument 'interpolation' must be one of {sorted(methods)}, "
            f"got {interpolation!r}"
        )
    return methods[interpolation]


def _target_size(owner, value):
    if (
        not isinstance(value, (tuple, list))
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value
        )
    ):
        raise ValueError(
            f"{owner}: argument 'target_size' must be None or a pair of positive integers "
            f"(height, width), got {value!r}"
        )
    return int(value[0]), int(value[1])


def _centered_crop_box(width, height, target_width, target_height):
    """The largest centered box of the target's aspect ratio (left, top, right, bottom)."""
    crop_height = min(height, (width * target_height) // target_width)
    crop_width = min(width, (height * target_width) // target_height)
    top = (height - crop_height) // 2
    left = (width - crop_width) // 2
    return [left, top, left + crop_width, top + crop_height]


def load_img(
    path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False
):
    """A PIL image read from `path` (a path or `io.BytesIO`), converted to `color_mode`.

    With `target_size=(height, width)` it is resized by `interpolation`; with
    `keep_aspect_ratio` the centered box of the target's aspect ratio is resized, so
    nothing is stretched. 16/32-bit grayscale images stay as they are in "grayscale".
    """
    owner = "load_img"
    if color_mode not in _COLOR_MODES:
        raise ValueError(
            f"{owner}: argument 'color_mode' must be one of {_COLOR_MODES}, got {color_mode!r}"
        )
    if target_size is not None:
        target_size = _target_size(owner, target_size)
    image_module = pillow(owner)
    if isinstance(path, io.BytesIO):
        img = image_module.open(path)
    elif isinstance(path, (str, bytes, os.PathLike)):
        with open(path, "rb") as file:  # read now: the file is closed on return
            img = image_module.open(io.BytesIO(file.read()))
    else:
        raise TypeError(
            f"{owner}: argument 'path' must be a path or an io.BytesIO, got {type(path).__name__}"
        )
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif img.mode != color_mode.upper():
        img = img.convert(color_mode.upper())
    if target_size is not None:
        size = (target_size[1], target_size[0])  # PIL sizes are (width, height)
        if img.size != size:
            resample = _resampling(image_module, owner, interpolation)
            box = _centered_crop_box(*img.size, *size) if keep_aspect_ratio else None
            img = img.resize(size, resample, box=box)
    return img


def img_to_array(img, data_format=None, dtype=None):
    """A PIL image (or anything array-like) as a rank-3 NumPy array in `data_format`."""
    data_format = config.standardize_data_format(data_format)
    x = np.asarray(img, dtype=dtype or config.floatx())
    if x.ndim == 2:
        x = x[None] if data_format == "channels_first" else x[:, :, None]
    elif x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    else:
        raise ValueError(
            f"img_to_array: argument 'img' must be an image of rank 2 or 3, got shape {x.shape}"
        )
    return x


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A rank-3 array (1, 3 or 4 channels) as a PIL image.

    With `scale`, values are shifted and scaled to span [0, 255]; without, they are cast
    as they are (a 1-channel image above 255 becomes a 32-bit "I" image).
    """
    data_format = config.standardize_data_format(data_format)
    x = np.array(x, dtype=dtype or config.floatx())
    if x.ndim != 3:
        raise ValueError(
            f"array_to_img: argument 'x' must be a single image of rank 3, got shape {x.shape}"
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        top = np.max(x)
        if top != 0:
            x = x / top
        x = x * 255
    channels = x.shape[2]
    image_module = pillow("array_to_img")
    if channels in _PIL_MODE_CHANNELS:
        return image_module.fromarray(x.astype("uint8"), _PIL_MODE_CHANNELS[channels])
    if channels == 1:
        if np.max(x) > 255:
            return image_module.fromarray(x[:, :, 0].astype("int32"), "I")
        return image_module.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(
        f"array_to_img: argument 'x' must have 1, 3 or 4 channels, got {channels} "
        f"(shape {x.shape}, data_format={data_format!r})"
    )


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write array `x` as an image file; the format comes from the file name unless given.

    `**kwargs` go to `PIL.Image.save`. RGBA images saved as JPEG are converted to RGB.
    """
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format is not None and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("JPEG cannot store an alpha channel; saving the image as RGB", stacklevel=2)
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def smart_resize(x, size, interpolation="bilinear", data_format="channels_last", **kwargs):
    """Resize image(s) to `size` without distortion: the largest centered box with the
    target's aspect ratio is cropped, then resized (rank 3 or 4 input)."""
    kwargs.pop("backend_module", None)
    if kwargs:
        raise TypeError(f"smart_resize got unexpected keyword arguments {sorted(kwargs)}")
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise ValueError(
            f"smart_resize: argument 'size' must be a pair of integers (height, width), "
            f"got {size!r}"
        )
    if np.ndim(x) not in (3, 4):
        raise ValueError(
            "smart_resize: argument 'x' must be an image (height, width, channels) or a batch "
            f"of them, got shape {np.shape(x)}"
        )
    was_numpy = isinstance(x, np.ndarray)
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        x = np.asarray(x, dtype="float32")  # Keras' smart_resize returns floats for uint8
    resized = image_ops.resize(
        x,
        tuple(size),
        interpolation=interpolation,
        crop_to_aspect_ratio=True,
        data_format=data_format,
    )
    return np.asarray(resized) if was_numpy else resized


__all__ = ["array_to_img", "img_to_array", "load_img", "save_img", "smart_resize"]
