"""keras.ops.image colour, patch, crop/pad, filter and warp ops against Keras 3 (JAX backend)."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import shoal
from shoal.backend.symbolic import KerasTensor
from shoal.ops.image_color import hsv_to_rgb, rgb_to_grayscale, rgb_to_hsv
from shoal.ops.image_crop_pad import crop_images, pad_images
from shoal.ops.image_filters import gaussian_blur, sobel_edges, ssim
from shoal.ops.image_patches import extract_patches, extract_patches_3d
from shoal.ops.image_warp import (
    _elastic_warp,
    elastic_transform,
    map_coordinates,
    perspective_transform,
    scale_and_translate,
)

KI = keras.ops.image
RNG = np.random.default_rng(7)
IMGS = RNG.random((2, 6, 7, 3)).astype("float32")  # channels last batch
IMGS_CF = np.ascontiguousarray(np.moveaxis(IMGS, -1, 1))  # the same batch, channels first
FORMATS = ["channels_last", "channels_first"]


def _same(actual, expected, rtol=1e-5, atol=1e-6):
    """Equal shapes and dtypes, values within tolerance (nested tuples allowed)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            _same(a, e, rtol, atol)
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def _images(data_format, batched=True):
    x = IMGS if data_format == "channels_last" else IMGS_CF
    return x if batched else x[0]


# -- colour ---------------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("op", ["rgb_to_grayscale", "rgb_to_hsv", "hsv_to_rgb"])
def test_colour_ops_match_keras(op, data_format, batched):
    x = _images(data_format, batched)
    mine = {"rgb_to_grayscale": rgb_to_grayscale, "rgb_to_hsv": rgb_to_hsv}.get(op, hsv_to_rgb)
    _same(mine(x, data_format=data_format), getattr(KI, op)(x, data_format=data_format))


def test_hsv_edge_colours_and_round_trip():
    # Pure colours, greys, black, and ties between channels exercise every hue branch.
    x = np.array(
        [
            [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]],
            [[0.5, 0.5, 0.5], [0, 0, 0], [1, 0, 1], [0.2, 0.9, 0.9]],
        ],
        "float32",
    )
    _same(rgb_to_hsv(x), KI.rgb_to_hsv(x))
    _same(hsv_to_rgb(rgb_to_hsv(x)), x, atol=1e-6)
    hsv = np.array([[[1.2, 0.5, 0.5], [-0.25, 1.0, 0.3]]], "float32")  # hue wraps
    _same(hsv_to_rgb(hsv), KI.hsv_to_rgb(hsv))


def test_grayscale_integer_and_single_channel():
    x = (IMGS * 255).astype("uint8")
    _same(rgb_to_grayscale(x), KI.rgb_to_grayscale(x))
    one = IMGS[..., :1]
    _same(rgb_to_grayscale(one), one)


# -- patches --------------------------------------------------------------------------------

PATCH_CASES = [
    ((2, 6, 7, 3), (2, 3), {}),
    ((6, 7, 3), 3, {"strides": (2, 1), "padding": "same"}),
    ((1, 3, 7, 8), (3, 2), {"strides": 1, "dilation_rate": 2, "data_format": "channels_first"}),
    ((2, 7, 8, 2), 3, {"strides": 2, "padding": "same"}),
    ((2, 4, 5, 6, 2), (2, 2, 3), {}),
    ((4, 5, 6, 2), 2, {"strides": 1, "padding": "same"}),
    ((1, 2, 4, 5, 6), (2, 3, 2), {"strides": (1, 2, 2), "data_format": "channels_first"}),
]


@pytest.mark.parametrize("shape,size,kwargs", PATCH_CASES)
def test_extract_patches_matches_keras(shape, size, kwargs):
    x = RNG.random(shape).astype("float32")
    _same(extract_patches(x, size, **kwargs), KI.extract_patches(x, size, **kwargs))


@pytest.mark.parametrize("data_format", FORMATS)
def test_extract_patches_3d_matches_keras(data_format):
    x = RNG.random((2, 4, 5, 6, 3) if data_format == "channels_last" else (2, 3, 4, 5, 6))
    x = x.astype("float32")
    for kwargs in ({}, {"strides": 1, "padding": "same"}, {"strides": 1, "dilation_rate": 2}):
        _same(
            extract_patches_3d(x, 2, data_format=data_format, **kwargs),
            KI.extract_patches_3d(x, 2, data_format=data_format, **kwargs),
        )
    _same(
        extract_patches_3d(x[0], (1, 2, 3), data_format=data_format),
        KI.extract_patches_3d(x[0], (1, 2, 3), data_format=data_format),
    )


def test_extract_patches_keeps_integer_values_exactly():
    x = np.arange(2 * 5 * 5, dtype="int32").reshape(1, 5, 5, 2)
    _same(extract_patches(x, 2, padding="same"), KI.extract_patches(x, 2, padding="same"))


# -- crop / pad -----------------------------------------------------------------------------

PAD_CASES = [
    {"top_padding": 1, "left_padding": 2, "bottom_padding": 0, "right_padding": 3},
    {"top_padding": 2, "left_padding": 1, "target_height": 9, "target_width": 8},
    {"bottom_padding": 1, "right_padding": 0, "target_height": 7, "target_width": 10},
]
CROP_CASES = [
    {"top_cropping": 1, "left_cropping": 2, "bottom_cropping": 0, "right_cropping": 3},
    {"top_cropping": 2, "left_cropping": 1, "target_height": 3, "target_width": 4},
    {"bottom_cropping": 1, "right_cropping": 0, "target_height": 4, "target_width": 5},
]


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kwargs", PAD_CASES)
def test_pad_images_matches_keras(kwargs, batched, data_format):
    x = _images(data_format, batched)
    _same(
        pad_images(x, **kwargs, data_format=data_format),
        KI.pad_images(x, **kwargs, data_format=data_format),
    )


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kwargs", CROP_CASES)
def test_crop_images_matches_keras(kwargs, batched, data_format):
    x = _images(data_format, batched)
    _same(
        crop_images(x, **kwargs, data_format=data_format),
        KI.crop_images(x, **kwargs, data_format=data_format),
    )


def test_pad_and_crop_positional_order_is_top_left_bottom_right():
    x = IMGS[0]
    _same(pad_images(x, 1, 2, 3, 4), KI.pad_images(x, 1, 2, 3, 4))
    _same(crop_images(x, 1, 2, 0, 1), KI.crop_images(x, 1, 2, 0, 1))


# -- filters --------------------------------------------------------------------------------


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("batched", [True, False])
def test_gaussian_blur_matches_keras(data_format, batched):
    x = _images(data_format, batched)
    for kernel_size, sigma in (((3, 3), (1.0, 1.0)), ((3, 5), (0.8, 2.0)), ((4, 2), (1.5, 0.5))):
        _same(
            gaussian_blur(x, kernel_size, sigma, data_format=data_format),
            KI.gaussian_blur(x, kernel_size, sigma, data_format=data_format),
        )


def test_gaussian_blur_default_data_format_follows_the_config():
    # Keras' eager JAX path reads data_format=None as channels_first (its symbolic path
    # does not); shoal takes the configured format, channels_last here.
    _same(gaussian_blur(IMGS), KI.gaussian_blur(IMGS, data_format="channels_last"))


@pytest.mark.parametrize("data_format", FORMATS)
def test_sobel_edges_matches_keras(data_format):
    x = _images(data_format)
    _same(sobel_edges(x, data_format=data_format), KI.sobel_edges(x, data_format=data_format))
    xi = (x * 100).astype("int32")
    _same(sobel_edges(xi, data_format=data_format), KI.sobel_edges(xi, data_format=data_format))


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("batched", [True, False])
def test_ssim_matches_keras(data_format, batched):
    x = _images(data_format, batched)
    y = np.clip(x + RNG.normal(0, 0.1, x.shape), 0, 1).astype("float32")
    for kwargs in (
        {"filter_size": 3},
        {"filter_size": 5, "filter_sigma": 1.0, "max_val": 2.0, "k1": 0.02},
    ):
        _same(
            ssim(x, y, data_format=data_format, **kwargs),
            KI.ssim(x, y, data_format=data_format, **kwargs),
        )
    np.testing.assert_allclose(ssim(x, x, filter_size=3, data_format=data_format), 1.0, rtol=1e-6)


def test_ssim_of_integer_images_is_float():
    x = (IMGS * 255).astype("uint8")
    y = np.clip(x.astype(int) + 9, 0, 255).astype("uint8")
    expected = KI.ssim(x.astype("float32"), y.astype("float32"), max_val=255.0, filter_size=3)
    _same(ssim(x, y, max_val=255.0, filter_size=3), expected)


# -- warps ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
@pytest.mark.parametrize("order", [0, 1])
def test_map_coordinates_matches_keras(order, fill_mode):
    x = IMGS[0]
    scale = np.array([6, 7, 3], "float32")[:, None, None]
    coordinates = (RNG.random((3, 4, 5)) * (scale + 3) - 1.5).astype("float32")
    _same(
        map_coordinates(x, coordinates, order, fill_mode, fill_value=0.5),
        KI.map_coordinates(x, coordinates, order, fill_mode, fill_value=0.5),
    )


def test_map_coordinates_integer_input_rounds_like_keras():
    x = (IMGS[0, :, :, 0] * 255).astype("uint8")
    coordinates = [RNG.random(9).astype("float32") * 5, RNG.random(9).astype("float32") * 6]
    _same(map_coordinates(x, coordinates, 1), KI.map_coordinates(x, np.stack(coordinates), 1))


START = np.array([[[0, 0], [0, 6], [7, 0], [7, 6]]] * 2, "float32")
END = np.array([[[1, 1], [0, 5], [6, 0], [7, 6]], [[0.5, 0], [1, 6], [6, 1], [7.5, 5]]], "float32")


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_perspective_transform_matches_keras(interpolation, data_format):
    x = _images(data_format)
    kwargs = {"interpolation": interpolation, "fill_value": 0.25, "data_format": data_format}
    _same(
        perspective_transform(x, START, END, **kwargs),
        KI.perspective_transform(x, START, END, **kwargs),
    )
    _same(
        perspective_transform(x[0], START[0], END[0], **kwargs),
        KI.perspective_transform(x[0], START[0], END[0], **kwargs),
    )


@pytest.mark.parametrize("method", ["linear", "cubic", "lanczos3", "lanczos5"])
@pytest.mark.parametrize("antialias", [True, False])
def test_scale_and_translate_matches_keras(method, antialias):
    x = IMGS[0]
    scale, shift = np.array([0.6, 1.5], "float32"), np.array([0.2, -0.5], "float32")
    _same(
        scale_and_translate(x, (4, 9, 3), scale, shift, (0, 1), method, antialias),
        KI.scale_and_translate(x, (4, 9, 3), scale, shift, (0, 1), method, antialias),
    )


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("fill_mode", ["reflect", "constant", "nearest"])
def test_elastic_warp_matches_keras_given_its_noise(fill_mode, data_format):
    # Keras' JAX backend draws both displacement fields from the same key ([seed, 0]), so
    # they are equal; shoal draws them independently. Given Keras' noise, the warps agree.
    x = _images(data_format)
    noise = jax.random.normal(jnp.array([7, 0], "uint32"), (2, 6, 7), "float32")
    kwargs = {"fill_mode": fill_mode, "fill_value": 0.3, "data_format": data_format}
    expected = KI.elastic_transform(x, alpha=3.0, sigma=1.0, seed=7, **kwargs)
    mine = _elastic_warp(jnp.asarray(x), noise, noise, 3.0, 1.0, "bilinear", **kwargs)
    _same(mine, expected)
    expected = KI.elastic_transform(x[0], 2.0, 0.7, "nearest", seed=7, **kwargs)
    _same(
        _elastic_warp(jnp.asarray(x[0]), noise[:1], noise[:1], 2.0, 0.7, "nearest", **kwargs),
        expected,
    )


def test_elastic_transform_randomness_follows_shoal_random():
    key = jax.random.key(3)
    a = elastic_transform(IMGS, alpha=4.0, sigma=1.0, seed=key)
    _same(elastic_transform(IMGS, alpha=4.0, sigma=1.0, seed=key), a)  # a key is deterministic
    assert not np.allclose(a, elastic_transform(IMGS, alpha=4.0, sigma=1.0, seed=jax.random.key(4)))
    gen_a, gen_b = shoal.random.SeedGenerator(5), shoal.random.SeedGenerator(5)
    _same(
        elastic_transform(IMGS, 4.0, 1.0, seed=gen_a), elastic_transform(IMGS, 4.0, 1.0, seed=gen_b)
    )
    # alpha = 0 displaces nothing.
    _same(elastic_transform(IMGS_CF, alpha=0.0, seed=1, data_format="channels_first"), IMGS_CF)
    assert elastic_transform(IMGS[0], seed=2).shape == IMGS[0].shape


# -- jit, symbolic use ----------------------------------------------------------------------


def test_ops_jit():
    fn = jax.jit(
        lambda x: (
            rgb_to_hsv(x),
            extract_patches(x, 2, padding="same"),
            crop_images(pad_images(x, 1, 1, 1, 1), 1, 1, 1, 1),
            gaussian_blur(x, (3, 3), (1.0, 1.0)),
            sobel_edges(x),
            ssim(x, x * 0.9, filter_size=3),
            perspective_transform(x, START, END),
            elastic_transform(x, 2.0, 1.0, seed=jax.random.key(0)),
        )
    )
    out = fn(IMGS)
    _same(out[0], rgb_to_hsv(IMGS))
    _same(out[1], extract_patches(IMGS, 2, padding="same"))
    _same(out[2], IMGS)
    _same(out[5], ssim(IMGS, IMGS * 0.9, filter_size=3))
    _same(out[6], perspective_transform(IMGS, START, END))
    _same(out[7], elastic_transform(IMGS, 2.0, 1.0, seed=jax.random.key(0)))


def test_symbolic_ops_in_a_functional_model():
    inputs = shoal.Input((6, 7, 3))
    gray = rgb_to_grayscale(inputs)
    patches = extract_patches(pad_images(gray, 1, 0, 1, 1), (2, 2))
    edges = sobel_edges(inputs)
    score = ssim(inputs, gaussian_blur(inputs), filter_size=3)
    assert isinstance(patches, KerasTensor)
    assert patches.shape == (None, 4, 4, 4) and edges.shape == (None, 6, 7, 3, 2)
    assert score.shape == (None,)
    model = shoal.Model(inputs, [patches, edges, score])
    out = model(IMGS)
    _same(out[0], KI.extract_patches(KI.pad_images(KI.rgb_to_grayscale(IMGS), 1, 0, 1, 1), (2, 2)))
    _same(out[1], KI.sobel_edges(IMGS))
    blurred = KI.gaussian_blur(IMGS, data_format="channels_last")
    _same(out[2], KI.ssim(IMGS, blurred, filter_size=3))


def test_symbolic_shapes_channels_first_and_points():
    x = KerasTensor((None, 3, 8, 9))
    assert crop_images(
        x, 1, 2, target_height=4, target_width=5, data_format="channels_first"
    ).shape == (None, 3, 4, 5)
    assert perspective_transform(x, START[:1], END[:1], data_format="channels_first").shape == (
        None,
        3,
        8,
        9,
    )
    assert elastic_transform(x, data_format="channels_first").shape == (None, 3, 8, 9)


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,argument",
    [
        (lambda: rgb_to_grayscale(IMGS[..., :2]), "'images'"),
        (lambda: rgb_to_grayscale(IMGS[0, 0]), "'images'"),
        (lambda: rgb_to_hsv((IMGS * 255).astype("uint8")), "'images'"),
        (lambda: hsv_to_rgb(IMGS, data_format="NHWC"), "'data_format'"),
        (lambda: extract_patches(IMGS, (2, 2, 2, 2)), "'size'"),
        (lambda: extract_patches(IMGS, 2, padding="full"), "'padding'"),
        (lambda: extract_patches(IMGS, 2, strides=0), "'strides'"),
        (lambda: extract_patches(IMGS, (9, 2)), "'size'"),
        (lambda: extract_patches_3d(IMGS[0], 2), "'volumes'"),
        (lambda: pad_images(IMGS, 1, 1), "'target_height'"),
        (lambda: pad_images(IMGS, 1, 1, target_height=3, target_width=9), "'bottom_padding'"),
        (lambda: pad_images(IMGS, -1, 0, 0, 0), "'top_padding'"),
        (lambda: crop_images(IMGS, 4, 0, target_height=3, target_width=7), "'bottom_cropping'"),
        (lambda: crop_images(IMGS, 0.5, 0, 0, 0), "'top_cropping'"),
        (lambda: gaussian_blur(IMGS, kernel_size=(3, 0)), "'kernel_size'"),
        (lambda: gaussian_blur(IMGS, sigma=(1.0, -1.0)), "'sigma'"),
        (lambda: sobel_edges(IMGS[0]), "'images'"),
        (lambda: ssim(IMGS, IMGS[:1]), "'image2'"),
        (lambda: ssim(IMGS, IMGS, filter_size=0), "'filter_size'"),
        (lambda: ssim(IMGS, IMGS), "'filter_size'"),  # 11 > 6 pixels
        (lambda: map_coordinates(IMGS[0], np.zeros((2, 4)), 1), "'coordinates'"),
        (lambda: map_coordinates(IMGS[0], np.zeros((3, 4)), 3), "'order'"),
        (lambda: map_coordinates(IMGS[0], np.zeros((3, 4)), 1, "edge"), "'fill_mode'"),
        (lambda: perspective_transform(IMGS, START[:, :3], END[:, :3]), "'start_points'"),
        (lambda: perspective_transform(IMGS, START, END[0]), "'end_points'"),
        (
            lambda: perspective_transform(IMGS, START, END, interpolation="bicubic"),
            "'interpolation'",
        ),
        (lambda: perspective_transform(IMGS[:1], START, END), "'start_points'"),
        (lambda: elastic_transform(IMGS, fill_mode="edge"), "'fill_mode'"),
        (lambda: elastic_transform(IMGS, sigma=-1.0), "'sigma'"),
        (lambda: elastic_transform(IMGS, seed="abc"), "'seed'"),
        (
            lambda: scale_and_translate(IMGS[0], (4, 4, 3), [1.0, 1.0], [0, 0], (0, 1), "nearest"),
            "'method'",
        ),
        (
            lambda: scale_and_translate(IMGS[0], (4, 4), [1.0, 1.0], [0, 0], (0, 1), "linear"),
            "'output_shape'",
        ),
        (
            lambda: scale_and_translate(IMGS[0], (4, 4, 3), [1.0], [0, 0], (0, 1), "linear"),
            "'scale'",
        ),
    ],
)
def test_bad_arguments_name_argument_and_value(call, argument):
    with pytest.raises(ValueError, match=argument) as info:
        call()
    assert "got" in str(info.value)


def test_size_of_the_wrong_type_is_a_type_error():
    with pytest.raises(TypeError, match="'size'.*got 'big'"):
        extract_patches(IMGS, "big")


def test_errors_are_raised_for_symbolic_inputs_too():
    with pytest.raises(ValueError, match="'images'.*got shape"):
        sobel_edges(KerasTensor((None, 6, 7)))
