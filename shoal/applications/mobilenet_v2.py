"""MobileNetV2 (Sandler et al., CVPR 2018), as `keras.applications.mobilenet_v2`."""

from __future__ import annotations

import warnings

from shoal import layers
from shoal.applications import common, imagenet_utils
from shoal.applications.mobilenet import _image_size
from shoal.backend import is_keras_tensor

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
_SIZES = (96, 128, 160, 192, 224)
_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
# (filters, stride, expansion) of the 17 inverted residual blocks
_BLOCKS = [
    (16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
    (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6),
    (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6),
]  # fmt: skip


def _make_divisible(v, divisor, min_value=None):
    """`v` rounded to a multiple of `divisor`, never more than 10% below `v`."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def check_input_tensor(fn, input_tensor, input_shape):
    """The width check Keras' MobileNetV2/V3 make when both input arguments are given."""
    if input_tensor is None or input_shape is None:
        return
    if not is_keras_tensor(input_tensor):
        raise ValueError(
            f"{fn}: argument 'input_tensor' must be a symbolic tensor when 'input_shape' is "
            f"also given; got {type(input_tensor).__name__}"
        )
    width = input_tensor.shape[2] if common.channels_last() else input_tensor.shape[1]
    if width != input_shape[1]:
        raise ValueError(
            f"{fn}: arguments 'input_tensor' (shape {tuple(input_tensor.shape)}) and "
            f"'input_shape' ({tuple(input_shape)}) disagree"
        )


def MobileNetV2(
    input_shape=None,
    alpha=1.0,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """Instantiates the MobileNetV2 architecture.

    Args:
        input_shape: optional shape tuple (default (224, 224, 3)); at least 32x32.
        alpha: width multiplier (pretrained: 0.35, 0.5, 0.75, 1.0, 1.3 or 1.4).
        include_top: whether to include the classifier at the top.
        weights: None, 'imagenet' or the path to a weights file.
        input_tensor: optional symbolic tensor to use as the model's input.
        pooling: with `include_top=False`: None, 'avg' or 'max'.
        classes: number of classes, with `include_top=True` and no 'imagenet' weights.
        classifier_activation: activation of the top layer (None returns logits).
        name: the model's name (default `mobilenetv2_{alpha:.2f}_{rows}`).

    Returns:
        A `Functional` model. Inputs are preprocessed by `mobilenet_v2.preprocess_input`.
    """
    fn = "MobileNetV2"
    common.check_arguments(fn, weights, include_top, classes, pooling, classifier_activation)
    check_input_tensor(fn, input_tensor, input_shape)
    if input_shape is None and input_tensor is not None and is_keras_tensor(input_tensor):
        default_size = _image_size(tuple(input_tensor.shape[1:]), _SIZES)
    else:
        default_size = _image_size(input_shape, _SIZES)
    input_shape = common.obtain_input_shape(
        fn,
        input_shape,
        default_size=default_size,
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    rows, cols = input_shape[:2] if common.channels_last() else input_shape[1:]
    if weights == "imagenet":
        if alpha not in _ALPHAS:
            raise ValueError(
                f"{fn}: with weights='imagenet', argument 'alpha' must be one of {_ALPHAS}; "
                f"got alpha={alpha!r}"
            )
        if rows != cols or rows not in _SIZES:
            rows = 224
            warnings.warn(
                f"{fn}: input_shape is undefined, non-square or not one of {_SIZES} pixels; "
                "the weights for 224x224 inputs are loaded.",
                stacklevel=2,
            )
    img_input = common.image_input(input_tensor, input_shape)
    axis = common.channel_axis()
    x = layers.Conv2D(
        _make_divisible(32 * alpha, 8),
        kernel_size=3,
        strides=(2, 2),
        padding="same",
        use_bias=False,
        name="Conv1",
    )(img_input)
    x = layers.BatchNormalization(axis=axis, epsilon=1e-3, momentum=0.999, name="bn_Conv1")(x)
    x = layers.ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    last_filters = _make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last_filters, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.BatchNormalization(axis=axis, epsilon=1e-3, momentum=0.999, name="Conv_1_bn")(x)
    x = layers.ReLU(6.0, name="out_relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.pool(x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{rows}"
    top = "" if include_top else "_no_top"
    file_name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}{top}.h5"
    return common.finish(
        common.model_inputs(input_tensor, img_input),
        x,
        name,
        weights,
        file_name=file_name,
        origin=BASE_WEIGHT_PATH + file_name,
        file_hash=None,  # Keras records no hash for these files
    )


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    axis = common.channel_axis()
    in_channels = inputs.shape[axis]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"

    def bn(x, suffix):
        return layers.BatchNormalization(
            axis=axis, epsilon=1e-3, momentum=0.999, name=f"{prefix}{suffix}"
        )(x)

    if block_id:
        x = layers.Conv2D(
            expansion * in_channels,
            kernel_size=1,
            padding="same",
            use_bias=False,
            activation=None,
            name=f"{prefix}expand",
        )(x)
        x = bn(x, "expand_BN")
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=common.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(
        kernel_size=3,
        strides=stride,
        activation=None,
        use_bias=False,
        padding="same" if stride == 1 else "valid",
        name=f"{prefix}depthwise",
    )(x)
    x = bn(x, "depthwise_BN")
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = layers.Conv2D(
        pointwise_filters,
        kernel_size=1,
        padding="same",
        use_bias=False,
        activation=None,
        name=f"{prefix}project",
    )(x)
    x = bn(x, "project_BN")
    if in_channels == pointwise_filters and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def preprocess_input(x, data_format=None):
    """Scales pixels from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The top ImageNet classes `(class_name, description, score)` of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
