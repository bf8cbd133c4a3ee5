"""What every application shares: argument checks, the input, the pooled top, weights.

Each family module builds its layer graph and nothing else; the checks here raise the same
kind of errors as `keras.applications` (ValueError naming the argument), and pretrained
weights come from the URLs Keras uses, verified against the hashes Keras records.
"""

from __future__ import annotations

import os
import warnings

from shoal import activations, layers
from shoal.backend import image_data_format, is_keras_tensor
from shoal.models import Functional
from shoal.utils.file_utils import get_file
from shoal.utils.graph_inputs import get_source_inputs

POOLING_MODES = (None, "avg", "max")


def channels_last() -> bool:
    return image_data_format() == "channels_last"


def channel_axis(ndim: int = 4) -> int:
    """The channel axis of a batch of images (3 or 1), as Keras' `bn_axis`."""
    return ndim - 1 if channels_last() else 1


def check_arguments(
    fn: str,
    weights,
    include_top: bool,
    classes,
    pooling=None,
    classifier_activation=None,
) -> None:
    """The argument checks every application starts with."""
    if not (
        weights is None
        or (isinstance(weights, str) and weights == "imagenet")
        or (isinstance(weights, (str, os.PathLike)) and os.path.isfile(weights))
    ):
        raise ValueError(
            f"{fn}: argument 'weights' must be None (random initialization), 'imagenet' "
            f"(pre-training on ImageNet) or the path to an existing weights file; got "
            f"weights={weights!r}"
        )
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            f"{fn}: with weights='imagenet' and include_top=True, argument 'classes' must be "
            f"1000 (the ImageNet classes); got classes={classes!r}"
        )
    if include_top and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 1):
        raise ValueError(
            f"{fn}: argument 'classes' must be a positive integer; got classes={classes!r}"
        )
    # Keras silently ignores an unknown pooling mode; a typo would return 4D features.
    if not isinstance(pooling, (str, type(None))) or pooling not in POOLING_MODES:
        raise ValueError(
            f"{fn}: argument 'pooling' must be None, 'avg' or 'max'; got pooling={pooling!r}"
        )
    if include_top:
        validate_activation(fn, classifier_activation, weights)


def validate_activation(fn: str, classifier_activation, weights) -> None:
    """Pretrained classifiers were trained with a softmax: allow only softmax or logits."""
    if weights is None:
        return
    act = activations.get(classifier_activation)
    if act not in (activations.get("softmax"), activations.get(None)):
        raise ValueError(
            f"{fn}: with pretrained weights, argument 'classifier_activation' must be "
            f"None or 'softmax'; got classifier_activation={classifier_activation!r}"
        )


def obtain_input_shape(
    fn: str,
    input_shape,
    default_size: int,
    min_size: int,
    require_flatten: bool,
    weights=None,
):
    """The model's input shape (without batch), checked as `imagenet_utils.obtain_input_shape`."""
    last = channels_last()
    if input_shape is not None:
        try:
            input_shape = tuple(input_shape)
        except TypeError:
            raise ValueError(
                f"{fn}: argument 'input_shape' must be a tuple of three integers; "
                f"got input_shape={input_shape!r}"
            ) from None
    if weights != "imagenet" and input_shape and len(input_shape) == 3:
        channels = input_shape[-1] if last else input_shape[0]
        if channels not in {1, 3}:
            warnings.warn(
                f"{fn}: this model usually expects 1 or 3 input channels; input_shape="
                f"{input_shape} has {channels}.",
                stacklevel=3,
            )
        size = (default_size, default_size)
        default_shape = (*size, channels) if last else (channels, *size)
    else:
        default_shape = (default_size, default_size, 3) if last else (3, default_size, default_size)
    if weights == "imagenet" and require_flatten:
        if input_shape is not None and input_shape != default_shape:
            raise ValueError(
                f"{fn}: with include_top=True and weights='imagenet', argument 'input_shape' "
                f"must be {default_shape}; got input_shape={input_shape}"
            )
        return default_shape
    if input_shape:
        if len(input_shape) != 3:
            raise ValueError(
                f"{fn}: argument 'input_shape' must be a tuple of three integers; "
                f"got input_shape={input_shape}"
            )
        channels = input_shape[-1] if last else input_shape[0]
        if channels != 3 and weights == "imagenet":
            raise ValueError(
                f"{fn}: with weights='imagenet' the input must have 3 channels; "
                f"got input_shape={input_shape}"
            )
        rows, cols = input_shape[:2] if last else input_shape[1:]
        if (rows is not None and rows < min_size) or (cols is not None and cols < min_size):
            raise ValueError(
                f"{fn}: argument 'input_shape' must be at least {min_size}x{min_size} "
                f"(height x width); got input_shape={input_shape}"
            )
    elif require_flatten:
        input_shape = default_shape
    else:
        input_shape = (None, None, 3) if last else (3, None, None)
    if require_flatten and None in input_shape:
        raise ValueError(
            f"{fn}: with include_top=True, argument 'input_shape' must be fully known; "
            f"got input_shape={input_shape}"
        )
    return input_shape


def image_input(input_tensor, input_shape):
    """The tensor the network starts from (an `Input` unless a symbolic tensor was given)."""
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if not is_keras_tensor(input_tensor):
        return layers.Input(tensor=input_tensor, shape=input_shape)
    return input_tensor


def model_inputs(input_tensor, img_input):
    """The model's inputs: the sources of `input_tensor` when one was given."""
    if input_tensor is None:
        return img_input
    sources = get_source_inputs(input_tensor)
    return sources[0] if len(sources) == 1 else sources


def pool(x, pooling, avg_name=None, max_name=None):
    """The optional global pooling of a headless model."""
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def correct_pad(inputs, kernel_size):
    """Zero padding ((top, bottom), (left, right)) that makes a stride-2 'valid' conv 'same'."""
    size = inputs.shape[1:3] if channels_last() else inputs.shape[2:4]
    if isinstance(kernel_size, int):
        kernel_size = (kernel_size, kernel_size)
    adjust = (1, 1) if size[0] is None else (1 - size[0] % 2, 1 - size[1] % 2)
    correct = (kernel_size[0] // 2, kernel_size[1] // 2)
    return ((correct[0] - adjust[0], correct[0]), (correct[1] - adjust[1], correct[1]))


def finish(
    inputs,
    outputs,
    name,
    weights,
    file_name=None,
    origin=None,
    file_hash=None,
):
    """Builds the Functional model and loads `weights` ('imagenet' = download `origin`)."""
    model = Functional(inputs, outputs, name=name)
    if weights is None:
        return model
    if isinstance(weights, str) and weights == "imagenet":
        path = get_file(file_name, origin, cache_subdir="models", file_hash=file_hash)
    else:
        path = os.fspath(weights)
    load_weights_file(model, path)
    return model


def load_weights_file(model, path: str) -> None:
    """Keras 3 files and legacy Keras HDF5 files, through `model.load_weights`."""
    model.load_weights(os.fspath(path))
