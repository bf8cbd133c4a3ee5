"""NASNet-A (Zoph et al., CVPR 2018), as `keras.applications.nasnet`.

The network is a stem, then normal and reduction cells; each cell reads the two previous
cell outputs (`ip`, and `p` adjusted to its shape). Many layers (ReLUs, paddings, the
adjusting concatenation) are unnamed in Keras, so they take default names in creation
order; this module creates every layer in Keras' order. NASNet is channels_last only.
"""

from __future__ import annotations

from shoal import layers
from shoal.applications import common, imagenet_utils
from shoal.backend import image_data_format

_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/nasnet/"
# default size -> (include_top file, no-top file), each (local name, remote name, hash)
WEIGHTS = {
    224: (
        ("nasnet_mobile.h5", "NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
        ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63"),
    ),
    331: (
        ("nasnet_large.h5", "NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
        ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5"),
    ),
}
_BN = dict(axis=-1, momentum=0.9997, epsilon=1e-3)


def _conv1x1(filters, name):
    return layers.Conv2D(
        filters,
        (1, 1),
        padding="same",
        use_bias=False,
        name=name,
        kernel_initializer="he_normal",
    )


def _separable_conv_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    """Two [ReLU, separable conv, BN] units; the first one strided."""
    x = layers.Activation("relu")(ip)
    if strides == (2, 2):
        x = layers.ZeroPadding2D(
            padding=common.correct_pad(x, kernel_size), name=f"separable_conv_1_pad_{block_id}"
        )(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = layers.SeparableConv2D(
        filters,
        kernel_size,
        strides=strides,
        name=f"separable_conv_1_{block_id}",
        padding=conv_pad,
        use_bias=False,
    )(x)
    x = layers.BatchNormalization(name=f"separable_conv_1_bn_{block_id}", **_BN)(x)
    x = layers.Activation("relu")(x)
    x = layers.SeparableConv2D(
        filters, kernel_size, name=f"separable_conv_2_{block_id}", padding="same", use_bias=False
    )(x)
    return layers.BatchNormalization(name=f"separable_conv_2_bn_{block_id}", **_BN)(x)


def _adjust_block(p, ip, filters, block_id=None, after_reduction=False):
    """The previous path `p` brought to the shape of `ip` (`filters` channels).

    `p` has a larger grid than `ip` when `ip` comes out of a reduction cell. Keras compares
    the widths, and with an unknown width (input_shape (None, None, 3)) wrongly takes the
    projection path, building a model that fails when called; so an unknown width falls
    back on `after_reduction`, which agrees with the comparison for every known size.
    """
    if p is None:
        return ip
    p_width, ip_width = p.shape[-2], ip.shape[-2]
    if p_width is None or ip_width is None:
        shrinks = after_reduction
    else:
        shrinks = p_width != ip_width
    if shrinks:
        p = layers.Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = layers.AveragePooling2D(
            (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_1_{block_id}"
        )(p)
        p1 = _conv1x1(filters // 2, f"adjust_conv_1_{block_id}")(p1)
        # the second half samples the odd pixels: shift by one before the strided pooling
        p2 = layers.ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = layers.Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = layers.AveragePooling2D(
            (1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_2_{block_id}"
        )(p2)
        p2 = _conv1x1(filters // 2, f"adjust_conv_2_{block_id}")(p2)
        p = layers.concatenate([p1, p2], axis=-1)
        return layers.BatchNormalization(name=f"adjust_bn_{block_id}", **_BN)(p)
    if p.shape[-1] != filters:
        p = layers.Activation("relu")(p)
        p = _conv1x1(filters, f"adjust_conv_projection_{block_id}")(p)
        return layers.BatchNormalization(name=f"adjust_bn_{block_id}", **_BN)(p)
    return p


def _cell_input(ip, p, filters, kind, block_id, after_reduction):
    p = _adjust_block(p, ip, filters, block_id, after_reduction)
    h = layers.Activation("relu")(ip)
    h = _conv1x1(filters, f"{kind}_conv_1_{block_id}")(h)
    h = layers.BatchNormalization(name=f"{kind}_bn_1_{block_id}", **_BN)(h)
    return p, h


def _avg_pool(name, strides=(1, 1), padding="same"):
    return layers.AveragePooling2D((3, 3), strides=strides, padding=padding, name=name)


def _normal_a_cell(ip, p, filters, block_id=None, after_reduction=False):
    """A NASNet-A normal cell (Fig. 4 of the paper); returns (output, ip)."""
    p, h = _cell_input(ip, p, filters, "normal", block_id, after_reduction)
    x1_1 = _separable_conv_block(h, filters, (5, 5), block_id=f"normal_left1_{block_id}")
    x1_2 = _separable_conv_block(p, filters, block_id=f"normal_right1_{block_id}")
    x1 = layers.add([x1_1, x1_2], name=f"normal_add_1_{block_id}")
    x2_1 = _separable_conv_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}")
    x2_2 = _separable_conv_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")
    x2 = layers.add([x2_1, x2_2], name=f"normal_add_2_{block_id}")
    x3 = _avg_pool(f"normal_left3_{block_id}")(h)
    x3 = layers.add([x3, p], name=f"normal_add_3_{block_id}")
    x4_1 = _avg_pool(f"normal_left4_{block_id}")(p)
    x4_2 = _avg_pool(f"normal_right4_{block_id}")(p)
    x4 = layers.add([x4_1, x4_2], name=f"normal_add_4_{block_id}")
    x5 = _separable_conv_block(h, filters, block_id=f"normal_left5_{block_id}")
    x5 = layers.add([x5, h], name=f"normal_add_5_{block_id}")
    x = layers.concatenate([p, x1, x2, x3, x4, x5], axis=-1, name=f"normal_concat_{block_id}")
    return x, ip


def _reduction_a_cell(ip, p, filters, block_id=None, after_reduction=False):
    """A NASNet-A reduction cell (Fig. 4 of the paper); returns (output, ip)."""
    p, h = _cell_input(ip, p, filters, "reduction", block_id, after_reduction)
    h3 = layers.ZeroPadding2D(padding=common.correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(
        h
    )

    def sep(x, kernel_size, side):
        return _separable_conv_block(
            x, filters, kernel_size, strides=(2, 2), block_id=f"reduction_{side}_{block_id}"
        )

    def max_pool(name):
        return layers.MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=name)

    x1_1 = sep(h, (5, 5), "left1")
    x1_2 = sep(p, (7, 7), "right1")
    x1 = layers.add([x1_1, x1_2], name=f"reduction_add_1_{block_id}")
    x2_1 = max_pool(f"reduction_left2_{block_id}")(h3)
    x2_2 = sep(p, (7, 7), "right2")
    x2 = layers.add([x2_1, x2_2], name=f"reduction_add_2_{block_id}")
    x3_1 = _avg_pool(f"reduction_left3_{block_id}", strides=(2, 2), padding="valid")(h3)
    x3_2 = sep(p, (5, 5), "right3")
    x3 = layers.add([x3_1, x3_2], name=f"reduction_add3_{block_id}")
    x4 = _avg_pool(f"reduction_left4_{block_id}")(x1)
    x4 = layers.add([x2, x4])
    x5_1 = _separable_conv_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}")
    x5_2 = max_pool(f"reduction_right5_{block_id}")(h3)
    x5 = layers.add([x5_1, x5_2], name=f"reduction_add4_{block_id}")
    x = layers.concatenate([x2, x3, x4, x5], axis=-1, name=f"reduction_concat_{block_id}")
    return x, ip


def NASNet(
    input_shape=None,
    penultimate_filters=4032,
    num_blocks=6,
    stem_block_filters=96,
    skip_reduction=True,
    filter_multiplier=2,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    default_size=None,
    classifier_activation="softmax",
    name="NASNet",
    fn="NASNet",
):
    """A NASNet-A (N @ P) model: `num_blocks` normal cells per stage, `penultimate_filters`.

    `NASNetMobile` and `NASNetLarge` are this with their paper settings; 'imagenet'
    weights exist for those two only (`default_size` 224 and 331). `fn` names the caller
    in error messages.
    """
    if not common.channels_last():
        raise ValueError(
            f"{fn}: only the 'channels_last' image data format is supported; the image data "
            f"format is {image_data_format()!r} (see shoal.config.set_image_data_format)"
        )
    common.check_arguments(fn, weights, include_top, classes, pooling, classifier_activation)
    if (
        isinstance(input_shape, (tuple, list))
        and None in tuple(input_shape)
        and isinstance(weights, str)
        and weights == "imagenet"
    ):
        raise ValueError(
            f"{fn}: with weights='imagenet', argument 'input_shape' must be static (no None "
            f"entries); got input_shape={tuple(input_shape)}"
        )
    if default_size is None:
        default_size = 331
    if isinstance(weights, str) and weights == "imagenet" and default_size not in WEIGHTS:
        raise ValueError(
            f"{fn}: 'imagenet' weights exist only for NASNetMobile (default_size=224) and "
            f"NASNetLarge (default_size=331); got default_size={default_size!r}"
        )
    input_shape = common.obtain_input_shape(
        fn,
        input_shape,
        default_size=default_size,
        min_size=32,
        require_flatten=include_top,
        weights=weights,
    )
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError(
            f"{fn}: argument 'penultimate_filters' must be a multiple of 24 * "
            f"filter_multiplier**2 = {24 * filter_multiplier**2}; got "
            f"penultimate_filters={penultimate_filters!r}"
        )
    img_input = common.image_input(input_tensor, input_shape)

    filters = penultimate_filters // 24
    x = layers.Conv2D(
        stem_block_filters,
        (3, 3),
        strides=(2, 2),
        padding="valid",
        use_bias=False,
        name="stem_conv1",
        kernel_initializer="he_normal",
    )(img_input)
    x = layers.BatchNormalization(name="stem_bn1", **_BN)(x)
    p = None
    x, p = _reduction_a_cell(x, p, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = _reduction_a_cell(
        x, p, filters // filter_multiplier, block_id="stem_2", after_reduction=True
    )
    for stage in range(3):
        if stage:
            x, p0 = _reduction_a_cell(
                x, p, filters * filter_multiplier**stage, block_id=f"reduce_{stage * num_blocks}"
            )
            p = p if skip_reduction else p0
        for i in range(num_blocks):
            block_id = f"{i}" if stage == 0 else f"{stage * num_blocks + i + 1}"
            x, p = _normal_a_cell(
                x, p, filters * filter_multiplier**stage, block_id=block_id, after_reduction=i == 0
            )
    x = layers.Activation("relu")(x)

    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = common.pool(x, pooling)
    file_name = origin = file_hash = None
    if isinstance(weights, str) and weights == "imagenet":
        file_name, remote, file_hash = WEIGHTS[default_size][0 if include_top else 1]
        origin = _BASE + remote
    return common.finish(
        common.model_inputs(input_tensor, img_input),
        x,
        name,
        weights,
        file_name=file_name,
        origin=origin,
        file_hash=file_hash,
    )


def NASNetMobile(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_mobile",
):
    """Instantiates a Mobile NASNet model (NASNet-A 4 @ 1056).

    Args:
        input_shape: optional shape tuple; (224, 224, 3) by default and with
            `include_top=True` and 'imagenet' weights; 3 channels, at least 32x32.
        include_top: whether to include the fully-connected classifier at the top.
        weights: None, 'imagenet' or the path to a weights file.
        input_tensor: optional symbolic tensor to use as the model's input.
        pooling: with `include_top=False`: None (4D output), 'avg' or 'max'.
        classes: number of classes, with `include_top=True` and no 'imagenet' weights.
        classifier_activation: activation of the top layer (None returns logits).
        name: the model's name.

    Returns:
        A `Functional` model. Inputs are preprocessed by `nasnet.preprocess_input`.
    """
    if not include_top and input_shape is None:
        input_shape = (224, 224, 3)
    return NASNet(
        input_shape,
        penultimate_filters=1056,
        num_blocks=4,
        stem_block_filters=32,
        skip_reduction=False,
        filter_multiplier=2,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        default_size=224,
        classifier_activation=classifier_activation,
        name=name,
        fn="NASNetMobile",
    )


def NASNetLarge(
    input_shape=None,
    include_top=True,
    weights="imagenet",
    input_tensor=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    name="nasnet_large",
):
    """Instantiates a NASNet-A Large model (NASNet-A 6 @ 4032).

    Args:
        input_shape: optional shape tuple; (331, 331, 3) by default and with
            `include_top=True` and 'imagenet' weights; 3 channels, at least 32x32.
        include_top: whether to include the fully-connected classifier at the top.
        weights: None, 'imagenet' or the path to a weights file.
        input_tensor: optional symbolic tensor to use as the model's input.
        pooling: with `include_top=False`: None (4D output), 'avg' or 'max'.
        classes: number of classes, with `include_top=True` and no 'imagenet' weights.
        classifier_activation: activation of the top layer (None returns logits).
        name: the model's name.

    Returns:
        A `Functional` model. Inputs are preprocessed by `nasnet.preprocess_input`.
    """
    if not include_top and input_shape is None:
        # Keras leaves (None, None, 3) here, which builds a model that fails when called
        # (see _adjust_block); NASNetMobile's rule gives the size the weights were trained at.
        input_shape = (331, 331, 3)
    return NASNet(
        input_shape,
        penultimate_filters=4032,
        num_blocks=6,
        stem_block_filters=96,
        skip_reduction=True,
        filter_multiplier=2,
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        pooling=pooling,
        classes=classes,
        default_size=331,
        classifier_activation=classifier_activation,
        name=name,
        fn="NASNetLarge",
    )


def preprocess_input(x, data_format=None):
    """Scales pixels from [0, 255] to [-1, 1]."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The top ImageNet classes `(class_name, description, score)` of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
