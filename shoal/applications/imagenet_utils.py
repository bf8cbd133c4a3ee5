"""ImageNet input preprocessing and prediction decoding (`keras.applications.imagenet_utils`)."""

from __future__ import annotations

import json

import numpy as np

from shoal.backend import floatx, image_data_format

CLASS_INDEX = None
CLASS_INDEX_PATH = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
CLASS_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # md5, as Keras records it

_CAFFE_MEAN = (103.939, 116.779, 123.68)  # BGR
_TORCH_MEAN = (0.485, 0.456, 0.406)
_TORCH_STD = (0.229, 0.224, 0.225)


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocesses a batch of images (values in [0, 255]) for an ImageNet model.

    Args:
        x: a float NumPy array (preprocessed in place when its dtype allows; pass a copy to
            keep it), a JAX array or a symbolic tensor, 3D or 4D with 3 color channels.
        data_format: 'channels_last' or 'channels_first'; None uses
            `shoal.backend.image_data_format()`.
        mode: 'caffe' (RGB to BGR, then subtract the ImageNet mean pixel, no scaling),
            'tf' (scale to [-1, 1]) or 'torch' (scale to [0, 1], then normalize each
            channel by the ImageNet mean and standard deviation).

    Returns:
        The preprocessed images (float32 for integer inputs).

    Example:
        >>> x = np.random.uniform(0, 255, (1, 224, 224, 3)).astype("float32")
        >>> y = preprocess_input(x, mode="tf")   # values in [-1, 1]
    """
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError(
            f"preprocess_input: argument 'mode' must be 'caffe', 'tf' or 'torch'; got mode={mode!r}"
        )
    if data_format is None:
        data_format = image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError(
            "preprocess_input: argument 'data_format' must be 'channels_first' or "
            f"'channels_last'; got data_format={data_format!r}"
        )
    if isinstance(x, np.ndarray):
        return _preprocess_numpy(x, data_format, mode)
    return _preprocess_tensor(x, data_format, mode)


def _channel_slices(ndim: int, data_format: str):
    """Index expressions selecting channel 0, 1, 2."""
    if data_format == "channels_last":
        return [(..., c) for c in range(3)]
    if ndim == 3:
        return [(c,) for c in range(3)]
    return [(slice(None), c) for c in range(3)]


def _preprocess_numpy(x, data_format, mode):
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        if data_format == "channels_last":
            x = x[..., ::-1]
        elif x.ndim == 3:
            x = x[::-1, ...]
        else:
            x = x[:, ::-1, ...]
        mean, std = _CAFFE_MEAN, None
    for c, index in enumerate(_channel_slices(x.ndim, data_format)):
        x[index] -= mean[c]
        if std is not None:
            x[index] /= std[c]
    return x


def _preprocess_tensor(x, data_format, mode):
    from shoal import ops

    x = ops.convert_to_tensor(x) if not _is_symbolic(x) else x
    if not _is_float(x.dtype):
        x = ops.cast(x, floatx())
    if mode == "tf":
        return x / 127.5 - 1.0
    ndim = len(x.shape)
    if mode == "torch":
        x = x / 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        x = ops.flip(x, axis=-1 if data_format == "channels_last" else (0 if ndim == 3 else 1))
        mean, std = _CAFFE_MEAN, None
    if data_format == "channels_last":
        shape = (1,) * (ndim - 1) + (3,)
    else:
        shape = (3,) + (1,) * (ndim - 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)
    x = x - ops.convert_to_tensor(np.reshape(np.asarray(mean), shape), dtype=x.dtype)
    if std is not None:
        x = x / ops.convert_to_tensor(np.reshape(np.asarray(std), shape), dtype=x.dtype)
    return x


def _is_symbolic(x) -> bool:
    from shoal.backend import is_keras_tensor

    return is_keras_tensor(x)


def _is_float(dtype) -> bool:
    from shoal.backend.dtypes import is_float_dtype, standardize_dtype

    return is_float_dtype(standardize_dtype(dtype))


def _class_index() -> dict:
    global CLASS_INDEX
    if CLASS_INDEX is None:
        from shoal.utils.file_utils import get_file

        path = get_file(
            "imagenet_class_index.json",
            CLASS_INDEX_PATH,
            cache_subdir="models",
            file_hash=CLASS_INDEX_HASH,
        )
        with open(path, encoding="utf-8") as f:
            CLASS_INDEX = json.load(f)
    return CLASS_INDEX


def decode_predictions(preds, top=5):
    """Decodes the predictions of an ImageNet model.

    The class names come from `imagenet_class_index.json`, downloaded once (from the URL
    Keras uses, checked against its md5) into `$SHOAL_HOME/models`; a verified copy Keras
    already downloaded to `~/.keras/models` is used in place.

    Args:
        preds: array of shape (samples, 1000).
        top: how many of the best guesses to return per sample.

    Returns:
        One list per sample of `(class_name, class_description, score)` tuples, best first.
    """
    shape = tuple(np.shape(preds))
    if len(shape) != 2 or shape[1] != 1000:
        raise ValueError(
            "decode_predictions: argument 'preds' must be a batch of ImageNet predictions of "
            f"shape (samples, 1000); got an array of shape {shape}"
        )
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ValueError(
            f"decode_predictions: argument 'top' must be a positive integer; got {top!r}"
        )
    index = _class_index()
    results = []
    for pred in np.asarray(preds):
        best = pred.argsort()[-top:][::-1]
        result = [tuple(index[str(i)]) + (pred[i],) for i in best]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results
