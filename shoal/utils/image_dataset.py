"""`image_dataset_from_directory`: a directory of images as a PyDataset of batches."""

from __future__ import annotations

import numbers

import numpy as np

from shoal.backend import config
from shoal.ops import image as image_ops
from shoal.utils import dataset_files
from shoal.utils.batch_dataset import check_format
from shoal.utils.image_files import pillow

ALLOWED_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_OWNER = "image_dataset_from_directory"
_CHANNELS = {"rgb": 3, "rgba": 4, "grayscale": 1}


def _image_size(value):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in value
        )
    ):
        raise ValueError(
            f"{_OWNER}: argument 'image_size' must be a tuple of 2 positive integers "
            f"(height, width); got {value!r}"
        )
    return int(value[0]), int(value[1])


def load_image(
    path,
    color_mode,
    image_size,
    interpolation,
    crop_to_aspect_ratio,
    pad_to_aspect_ratio,
    data_format,
):
    """One image file as a float32 array of `image_size` in `data_format`."""
    with pillow(_OWNER).open(path) as img:
        # Keep 16/32-bit grayscale as is (as Keras); convert everything else to the mode.
        if color_mode == "grayscale":
            if img.mode not in ("L", "I;16", "I"):
                img = img.convert("L")
        elif img.mode != color_mode.upper():
            img = img.convert(color_mode.upper())
        pixels = np.asarray(img, dtype="float32")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if data_format == "channels_first":
        pixels = pixels.transpose(2, 0, 1)
    resized = image_ops.resize(
        pixels,
        image_size,
        interpolation=interpolation,
        crop_to_aspect_ratio=crop_to_aspect_ratio,
        pad_to_aspect_ratio=pad_to_aspect_ratio,
        data_format=data_format,
    )
    return np.asarray(resized, dtype="float32")


def image_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    color_mode="rgb",
    batch_size=32,
    image_size=(256, 256),
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    interpolation="bilinear",
    follow_links=False,
    crop_to_aspect_ratio=False,
    pad_to_aspect_ratio=False,
    data_format=None,
    format="tf",
    verbose=True,
):
    """The images under `directory` (`.bmp .gif .jpeg .jpg .png`) as a `PyDataset` of
    batches `(images, labels)` (just `images` when `labels` or `label_mode` is None), as
    Keras' `keras.utils.image_dataset_from_directory`.

    With `labels="inferred"` each subdirectory is a class (sorted names, or `class_names`'
    order) and its files, at any depth, are that class's images. Images are decoded with
    Pillow, converted to `color_mode` ("rgb": 3 channels, "rgba": 4, "grayscale": 1) and
    resized to `image_size` with `shoal.ops.image.resize` (`interpolation`, optionally
    `crop_to_aspect_ratio` or `pad_to_aspect_ratio`), giving float32 batches
    `(batch, height, width, channels)` (channels first with `data_format=
    "channels_first"`). Labels are int32 `(batch,)` for `label_mode="int"`, float32
    one-hot `(batch, num_classes)` for "categorical", float32 `(batch, 1)` for "binary".

    Files are listed and shuffled once (from `seed`) exactly as Keras does, so the same
    files land in the same subset: with `validation_split`, `subset="training"` /
    `"validation"` returns that part and `subset="both"` returns both. Images are read
    lazily, one batch at a time. The result has `class_names` and `file_paths` (in batch
    order) attributes; `batch_size=None` yields single images.

    Example:
        >>> train, val = image_dataset_from_directory(
        ...     "photos/", image_size=(64, 64), validation_split=0.2, subset="both",
        ...     seed=1)  # doctest: +SKIP
        >>> model.fit(train, validation_data=val, epochs=3)  # doctest: +SKIP
    """
    check_format("image_dataset_from_directory", format)
    labels, label_mode = dataset_files.check_arguments(
        _OWNER, labels, label_mode, class_names, validation_split, subset, shuffle, seed
    )
    if color_mode not in _CHANNELS:
        raise ValueError(
            f"{_OWNER}: argument 'color_mode' must be one of {tuple(_CHANNELS)}; got {color_mode!r}"
        )
    image_size = _image_size(image_size)
    batch_size = dataset_files.positive_int_or_none(_OWNER, "batch_size", batch_size)
    if isinstance(interpolation, str):
        interpolation = interpolation.lower()
    image_ops._check_resize_args(
        _OWNER, interpolation, "constant", crop_to_aspect_ratio, pad_to_aspect_ratio
    )
    data_format = config.standardize_data_format(data_format)
    pillow(_OWNER)  # fail now, not at the first batch, when Pillow is missing
    paths, labels, class_names = dataset_files.index_directory(
        _OWNER,
        directory,
        labels,
        ALLOWED_FORMATS,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )

    def load(batch_paths):
        return np.stack(
            [
                load_image(
                    p,
                    color_mode,
                    image_size,
                    interpolation,
                    crop_to_aspect_ratio,
                    pad_to_aspect_ratio,
                    data_format,
                )
                for p in batch_paths
            ]
        )

    return dataset_files.make_datasets(
        _OWNER,
        directory,
        paths,
        labels,
        class_names,
        label_mode,
        validation_split,
        subset,
        batch_size,
        load,
        "images",
        ALLOWED_FORMATS,
        verbose,
    )
