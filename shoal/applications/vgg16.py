"""VGG16 (Simonyan & Zisserman, ICLR 2015), as `keras.applications.vgg16`."""

from __future__ import annotations

from shoal import layers
from shoal.applications import common, imagenet_utils

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"


def build_vgg(
    fn,
    convs_per_block,
    file_stem,
    file_hashes,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    name,
):
    """A VGG network; `convs_per_block` counts the 3x3 convolutions of each of the 5 blocks."""
    common.check_arguments(fn, weights, include_top, classes, pooling, classifier_activation)
    input_shape = common.obtain_input_shape(
        fn,
        input_shape,
        default_size=224,
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    img_input = common.image_input(input_tensor, input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(
        zip((64, 128, 256, 512, 512), convs_per_block, strict=True), 1
    ):
        for i in range(1, convs + 1):
            x = layers.Conv2D(
                filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}"
            )(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.pool(x, pooling)
    suffix = "" if include_top else "_notop"
    file_name = f"{file_stem}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    return common.finish(
        common.model_inputs(input_tensor, img_input),
        x,
        name,
        weights,
        file_name=file_name,
        origin=f"{_BASE}{file_stem}/{file_name}",
        file_hash=file_hashes[0 if include_top else 1],
    )


def VGG16(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg16",
):
    """Instantiates the VGG16 model.

    Args:
        include_top: whether to include the 3 fully-connected layers at the top.
        weights: None (random initialization), 'imagenet' (pre-training on ImageNet,
            downloaded once and cached) or the path to a weights file.
        input_tensor: optional symbolic tensor (e.g. `shoal.Input(...)`) to use as input.
        input_shape: optional shape tuple, only to be given with `include_top=False`
            (otherwise it is (224, 224, 3)); 3 channels, at least 32x32.
        pooling: with `include_top=False`: None (4D output of the last block), 'avg' or
            'max' (global pooling, 2D output).
        classes: number of classes, with `include_top=True` and no 'imagenet' weights.
        classifier_activation: activation of the top layer (None returns logits); only
            None or 'softmax' with pretrained weights.
        name: the model's name.

    Returns:
        A `Functional` model. Inputs are preprocessed by `vgg16.preprocess_input`.
    """
    return build_vgg(
        "VGG16",
        (2, 2, 3, 3, 3),
        "vgg16",
        ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
        include_top,
        weights,
        input_tensor,
        input_shape,
        pooling,
        classes,
        classifier_activation,
        name,
    )


def preprocess_input(x, data_format=None):
    """Caffe-style preprocessing: RGB to BGR, then zero-center each channel (ImageNet mean)."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The top ImageNet classes `(class_name, description, score)` of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
