"""VGG19 (Simonyan & Zisserman, ICLR 2015), as `keras.applications.vgg19`."""

from __future__ import annotations

from shoal.applications import imagenet_utils
from shoal.applications.vgg16 import build_vgg


def VGG19(
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="vgg19",
):
    """Instantiates the VGG19 model (arguments as `VGG16`)."""
    return build_vgg(
        "VGG19",
        (2, 2, 4, 4, 4),
        "vgg19",
        ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
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
