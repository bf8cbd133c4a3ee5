"""Keras applications: canonical image classification networks (`keras.applications`).

Each family lives in its own module, named as in Keras (`shoal.applications.resnet50`,
`...mobilenet_v2`, `...efficientnet`, ...) with its model functions, `preprocess_input` and
`decode_predictions`; the model functions are also re-exported here. Layer names, weight
shapes and weight order follow Keras, so `model.set_weights(keras_model.get_weights())`
and Keras' pretrained files (`weights="imagenet"`) load as they are.
"""

from shoal.applications import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    nasnet,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from shoal.applications.convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from shoal.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from shoal.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from shoal.applications.efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from shoal.applications.inception_resnet_v2 import InceptionResNetV2
from shoal.applications.inception_v3 import InceptionV3
from shoal.applications.mobilenet import MobileNet
from shoal.applications.mobilenet_v2 import MobileNetV2
from shoal.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from shoal.applications.nasnet import NASNetLarge, NASNetMobile
from shoal.applications.resnet import ResNet50, ResNet101, ResNet152
from shoal.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from shoal.applications.vgg16 import VGG16
from shoal.applications.vgg19 import VGG19
from shoal.applications.xception import Xception

__all__ = [
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet50",
    "ResNet50V2",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "VGG16",
    "VGG19",
    "Xception",
    "convnext",
    "densenet",
    "efficientnet",
    "efficientnet_v2",
    "imagenet_utils",
    "inception_resnet_v2",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "nasnet",
    "resnet",
    "resnet50",
    "resnet_v2",
    "vgg16",
    "vgg19",
    "xception",
]
