"""DenseNet121/169/201 (Huang et al., CVPR 2017), as `keras.applications.densenet`."""

from __future__ import annotations

from shoal import layers
from shoal.applications import common, imagenet_utils

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
WEIGHTS_HASHES = {  # blocks -> (stem, (with top, without top)), md5 as Keras records them
    (6, 12, 24, 16): (
        "densenet121",
        ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    ),
    (6, 12, 32, 32): (
        "densenet169",
        ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    ),
    (6, 12, 48, 32): (
        "densenet201",
        ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
    ),
}
_EPS = 1.001e-5


def _bn(x, name):
    return layers.BatchNormalization(axis=common.channel_axis(), epsilon=_EPS, name=name)(x)


def dense_block(x, blocks, name):
    """`blocks` conv blocks, each concatenating 32 new feature maps to its input."""
    for i in range(blocks):
        x = conv_block(x, 32, name=f"{name}_block{i + 1}")
    return x


def transition_block(x, reduction, name):
    """BN, ReLU, a 1x1 convolution keeping `reduction` of the channels, 2x2 average pooling."""
    x = _bn(x, f"{name}_bn")
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    channels = x.shape[common.channel_axis()]
    x = layers.Conv2D(int(channels * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def conv_block(x, growth_rate, name):
    """BN-ReLU-1x1 conv-BN-ReLU-3x3 conv, concatenated to the block's input."""
    x1 = _bn(x, f"{name}_0_bn")
    x1 = layers.Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _bn(x1, f"{name}_1_bn")
    x1 = layers.Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return layers.Concatenate(axis=common.channel_axis(), name=f"{name}_concat")([x, x1])


def DenseNet(
    blocks,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet",
):
    """A DenseNet with `blocks` conv blocks in each of its 4 dense blocks."""
    fn = "DenseNet"
    if not common.channels_last():
        raise ValueError(
            f"{fn}: the 'channels_first' image data format is not supported; use "
            "'channels_last' (shoal.config.set_image_data_format)."
        )
    common.check_arguments(fn, weights, include_top, classes, pooling, classifier_activation)
    blocks = tuple(blocks)
    if weights == "imagenet" and blocks not in WEIGHTS_HASHES:
        raise ValueError(
            f"{fn}: no 'imagenet' weights for blocks={list(blocks)}; pretrained weights exist "
            f"for {[list(b) for b in WEIGHTS_HASHES]}"
        )
    input_shape = common.obtain_input_shape(
        fn,
        input_shape,
        default_size=224,
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    img_input = common.image_input(input_tensor, input_shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn(x, "conv1_bn")
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, count in enumerate(blocks):
        x = dense_block(x, count, name=f"conv{i + 2}")
        if i < 3:
            x = transition_block(x, 0.5, name=f"pool{i + 2}")
    x = _bn(x, "bn")
    x = layers.Activation("relu", name="relu")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.pool(x, pooling, avg_name="avg_pool", max_name="max_pool")
    file_name = origin = file_hash = None
    if weights == "imagenet":
        stem, hashes = WEIGHTS_HASHES[blocks]
        file_name = f"{stem}_weights_tf_dim_ordering_tf_kernels{'' if include_top else '_notop'}.h5"
        origin = BASE_WEIGHTS_PATH + file_name
        file_hash = hashes[0 if include_top else 1]
    return common.finish(
        common.model_inputs(input_tensor, img_input),
        x,
        name,
        weights,
        file_name=file_name,
        origin=origin,
        file_hash=file_hash,
    )


_DOC = """Instantiates the {fn} architecture (Densely Connected Convolutional Networks).

    Args:
        include_top: whether to include the fully-connected classifier at the top.
        weights: None, 'imagenet' or the path to a weights file.
        input_tensor: optional symbolic tensor to use as the model's input.
        input_shape: optional shape tuple, only with `include_top=False` (otherwise
            (224, 224, 3)); at least 32x32.
        pooling: with `include_top=False`: None (4D output), 'avg' or 'max'.
        classes: number of classes, with `include_top=True` and no 'imagenet' weights.
        classifier_activation: activation of the top layer (None returns logits).
        name: the model's name.

    Returns:
        A `Functional` model. Inputs are preprocessed by `densenet.preprocess_input`.
    """


def DenseNet121(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet121",
):
    return DenseNet(
        [6, 12, 24, 16],
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        name=name,
    )


def DenseNet169(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet169",
):
    return DenseNet(
        [6, 12, 32, 32],
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        name=name,
    )


def DenseNet201(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="densenet201",
):
    return DenseNet(
        [6, 12, 48, 32],
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        name=name,
    )


for _f in (DenseNet121, DenseNet169, DenseNet201):
    _f.__doc__ = _DOC.format(fn=_f.__name__)


def preprocess_input(x, data_format=None):
    """Torch-style preprocessing: scale to [0, 1], then normalize each channel (ImageNet)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top=5):
    """The top ImageNet classes `(class_name, description, score)` of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
