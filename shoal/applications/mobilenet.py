"""MobileNet (Howard et al., 2017), as `keras.applications.mobilenet`."""

from __future__ import annotations

import warnings

from shoal import layers
from shoal.applications import common, imagenet_utils

BASE_WEIGHT_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet/"
_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
# (pointwise filters, stride) of the 13 depthwise-separable blocks
_BLOCKS = [
    (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1),
]  # fmt: skip


def _image_size(input_shape, sizes):
    """The square size of `input_shape` when it is one of `sizes`, else 224."""
    if input_shape is None or len(input_shape) != 3:
        return 224  # obtain_input_shape reports a malformed shape
    rows, cols = (input_shape[0], input_shape[1]) if common.channels_last() else input_shape[1:3]
    return rows if rows == cols and rows in sizes else 224


def MobileNet(
    input_shape=None,
    alpha=1.0,
    depth_multiplier=1,
    dropout=1e-3,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name=None,
):
    """Instantiates the MobileNet architecture.

    Args:
        input_shape: optional shape tuple (default (224, 224, 3)); at least 32x32.
        alpha: width multiplier of every layer's filter count (pretrained: 0.25, 0.5,
            0.75 or 1.0).
        depth_multiplier: depthwise convolution multiplier (pretrained: 1).
        dropout: dropout rate before the classifier.
        include_top: whether to include the classifier at the top.
        weights: None, 'imagenet' or the path to a weights file.
        input_tensor: optional symbolic tensor to use as the model's input.
        pooling: with `include_top=False`: None, 'avg' or 'max'.
        classes: number of classes, with `include_top=True` and no 'imagenet' weights.
        classifier_activation: activation of the top layer (None returns logits).
        name: the model's name (default `mobilenet_{alpha:.2f}_{rows}`).

    Returns:
        A `Functional` model. Inputs are preprocessed by `mobilenet.preprocess_input`.
    """
    fn = "MobileNet"
    common.check_arguments(fn, weights, include_top, classes, pooling, classifier_activation)
    default_size = _image_size(input_shape, (128, 160, 192, 224))
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
        if depth_multiplier != 1:
            raise ValueError(
                f"{fn}: with weights='imagenet', argument 'depth_multiplier' must be 1; got "
                f"depth_multiplier={depth_multiplier!r}"
            )
        if alpha not in _ALPHA_TEXT:
            raise ValueError(
                f"{fn}: with weights='imagenet', argument 'alpha' must be one of 0.25, 0.5, "
                f"0.75 or 1.0; got alpha={alpha!r}"
            )
        if rows != cols or rows not in (128, 160, 192, 224):
            rows = 224
            warnings.warn(
                f"{fn}: input_shape is undefined, non-square or not 128/160/192/224 pixels; "
                "the weights for 224x224 inputs are loaded.",
                stacklevel=2,
            )
    img_input = common.image_input(input_tensor, input_shape)
    axis = common.channel_axis()
    x = layers.Conv2D(
        int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1"
    )(img_input)
    x = layers.BatchNormalization(axis=axis, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(_BLOCKS, 1):
        x = _depthwise_conv_block(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = common.pool(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{rows}"
    file_name = None
    if weights == "imagenet":
        top = "" if include_top else "_no_top"
        file_name = f"mobilenet_{_ALPHA_TEXT[alpha]}_{rows}_tf{top}.h5"
    return common.finish(
        common.model_inputs(input_tensor, img_input),
        x,
        name,
        weights,
        file_name=file_name,
        origin=BASE_WEIGHT_PATH + (file_name or ""),
        file_hash=None,  # Keras records no hash for these files
    )


def _depthwise_conv_block(x, pointwise_filters, alpha, depth_multiplier, stride, block_id):
    axis = common.channel_axis()
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D(
        (3, 3),
        padding="same" if stride == 1 else "valid",
        depth_multiplier=depth_multiplier,
        strides=(stride, stride),
        use_bias=False,
        name=f"conv_dw_{block_id}",
    )(x)
    x = layers.BatchNormalization(axis=axis, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(
        int(pointwise_filters * alpha),
        (1, 1),
        padding="same",
        use_bias=False,
        strides=(1, 1),
        name=f"conv_pw_{block_id}",
    )(x)
    x = layers.BatchNormalization(axis=axis, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def preprocess_input(x, data_format=None):
    """Scales pixels from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The top ImageNet classes `(class_name, description, score)` of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
