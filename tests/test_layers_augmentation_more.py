"""The newer image augmentation layers against Keras 3.15 (JAX backend).

As in test_layers_augmentation.py, parity is checked in halves: inference outputs, and
`transform_images` given a transformation that the Keras layer drew. Layers whose Keras
draw cannot be replayed (RandomColorJitter draws inside `transform_images`,
RandomElasticTransform keeps a seed) are checked by feeding the same draws to both.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import json  # noqa: E402
import random  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402
from shoal.backend.random import RngScope  # noqa: E402
from shoal.layers.augmentation import _image_ops as imops  # noqa: E402
from shoal.layers.augmentation.blur import RandomGaussianBlur  # noqa: E402
from shoal.layers.augmentation.bounding_boxes import MaxNumBoundingBoxes  # noqa: E402
from shoal.layers.augmentation.color_more import (  # noqa: E402
    RandomColorDegeneration,
    RandomColorJitter,
    RandomGrayscale,
    RandomHue,
    RandomInvert,
    RandomSaturation,
    RandomSharpness,
)
from shoal.layers.augmentation.erasing import RandomErasing  # noqa: E402
from shoal.layers.augmentation.geometric_more import (  # noqa: E402
    RandomElasticTransform,
    RandomPerspective,
    RandomShear,
)
from shoal.layers.augmentation.mixing import CutMix, MixUp  # noqa: E402
from shoal.layers.augmentation.policies import AugMix, RandAugment  # noqa: E402
from shoal.layers.augmentation.tone import (  # noqa: E402
    AutoContrast,
    Equalization,
    RandomPosterization,
    Solarization,
)

# Keras' MixUp asks for int64 indices, which JAX (without x64) truncates with a warning.
pytestmark = pytest.mark.filterwarnings("ignore:.*Explicitly requested dtype int64")

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 1, (4, 8, 6, 3)).astype("float32")  # channels_last, H != W
IMAGES_255 = (IMAGES * 255).astype("float32")
CL, CF = "channels_last", "channels_first"


def _close(actual, expected, scale=1.0, tol=1e-5):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=tol, atol=tol * scale)


def _as_format(x, data_format):
    return x if data_format == CL else np.moveaxis(x, -1, -3)


# (class, kwargs, images in channels_last, seed of the Keras draw)
CASES = [
    (MixUp, {}, IMAGES, 3),
    (MixUp, {"alpha": 0.8, "data_format": CF}, IMAGES, 5),
    (CutMix, {}, IMAGES, 3),
    (CutMix, {"factor": (0.3, 0.9), "data_format": CF}, IMAGES, 6),
    (RandomGrayscale, {"factor": 0.6}, IMAGES, 1),
    (RandomGrayscale, {"factor": 0.6, "data_format": CF}, IMAGES, 1),
    (RandomHue, {"factor": 0.8}, IMAGES_255, 1),
    (RandomHue, {"factor": (0.2, 0.9), "value_range": (0, 1), "data_format": CF}, IMAGES, 1),
    (RandomSaturation, {"factor": 0.8}, IMAGES_255, 1),
    (RandomSaturation, {"factor": (0.1, 0.9), "value_range": (0, 1), "data_format": CF}, IMAGES, 2),
    (RandomColorDegeneration, {"factor": 0.9}, IMAGES_255, 1),
    (RandomColorDegeneration, {"factor": (0.2, 0.7), "value_range": (0, 1)}, IMAGES, 1),
    (RandomSharpness, {"factor": 0.9}, IMAGES_255, 1),
    (RandomSharpness, {"factor": (0.1, 0.9), "value_range": (0, 1), "data_format": CF}, IMAGES, 1),
    (RandomInvert, {}, IMAGES_255, 3),
    (RandomInvert, {"factor": 0.9, "value_range": (0, 1), "data_format": CF}, IMAGES, 3),
    (RandomPosterization, {"factor": 6}, IMAGES_255, 1),
    (RandomPosterization, {"factor": (2, 5), "value_range": (0, 1), "data_format": CF}, IMAGES, 1),
    (RandomPosterization, {"factor": 3, "value_range": (0, 1)}, IMAGES, 1),
    (Solarization, {"addition_factor": 0.3, "threshold_factor": 0.6}, IMAGES_255, 1),
    (Solarization, {"threshold_factor": 0.5, "value_range": (0, 1), "data_format": CF}, IMAGES, 1),
    (AutoContrast, {}, IMAGES_255 * 0.5 + 20, 1),
    (AutoContrast, {"value_range": (0, 1)}, IMAGES * 0.5 + 0.1, 1),
    (Equalization, {}, IMAGES_255, 1),
    (Equalization, {"value_range": (0, 1), "bins": 16, "data_format": CF}, IMAGES, 1),
    (RandomShear, {"x_factor": 0.5, "y_factor": 0.3}, IMAGES, 1),
    (
        RandomShear,
        {"x_factor": (0.1, 0.4), "fill_mode": "constant", "fill_value": 0.5, "data_format": CF},
        IMAGES,
        1,
    ),
    (RandomShear, {"y_factor": 0.5, "interpolation": "nearest", "fill_mode": "wrap"}, IMAGES, 2),
    (RandomPerspective, {"scale": 0.6}, IMAGES, 1),
    (
        RandomPerspective,
        {"factor": (0.5, 1.0), "scale": 0.4, "fill_value": 0.3, "data_format": CF},
        IMAGES,
        2,
    ),
    (RandomPerspective, {"scale": 0.8, "interpolation": "nearest"}, IMAGES, 3),
    (RandomErasing, {}, IMAGES_255, 1),
    (RandomErasing, {"scale": (0.2, 0.6), "fill_value": 0.5, "value_range": (0, 1)}, IMAGES, 1),
    (
        RandomErasing,
        {"factor": 0.9, "scale": 0.5, "fill_value": 128, "data_format": CF},
        IMAGES_255,
        2,
    ),
    (RandomGaussianBlur, {"sigma": 0.9}, IMAGES_255, 1),
    (
        RandomGaussianBlur,
        {"kernel_size": (3, 5), "sigma": (0.5, 2.0), "value_range": (0, 1), "data_format": CF},
        IMAGES,
        1,
    ),
    (RandAugment, {}, IMAGES_255, 1),
    (RandAugment, {"num_ops": 3, "factor": 0.8, "value_range": (0, 1)}, IMAGES, 2),
    (RandAugment, {"interpolation": "nearest", "data_format": CF}, IMAGES_255, 7),
    (AugMix, {}, IMAGES_255, 1),
    (
        AugMix,
        {"num_chains": 2, "chain_depth": 2, "all_ops": False, "value_range": (0, 1)},
        IMAGES,
        2,
    ),
    (AugMix, {"factor": 0.6, "alpha": 0.5, "data_format": CF}, IMAGES_255, 3),
]
IDS = [f"{c.__name__}-{i}" for i, (c, *_rest) in enumerate(CASES)]
NOT_RANDOM = (AutoContrast, Equalization)


def _pair(cls, kwargs, seed=None):
    """The shoal layer and the Keras layer of one configuration."""
    return cls(**kwargs), getattr(keras.layers, cls.__name__)(**kwargs, seed=seed)


def _keras(cls, kwargs, seed=None):
    if cls in NOT_RANDOM:
        return getattr(keras.layers, cls.__name__)(**kwargs)
    return getattr(keras.layers, cls.__name__)(**kwargs, seed=seed)


def _inputs(kwargs, images):
    x = _as_format(images, kwargs.get("data_format", CL))
    return [x, x[0]]  # a batch and a single image


def _structure(value):
    """Keys, lengths and shapes of a (nested) transformation."""
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and not all(isinstance(v, int) for v in value):
        return [_structure(v) for v in value]
    if value is None:
        return None
    return np.shape(value)


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_inference_matches_keras(cls, kwargs, images, seed):
    ours, theirs = cls(**kwargs), _keras(cls, kwargs)
    for x in _inputs(kwargs, images):
        out = ours(x, training=False)
        assert out.shape == tuple(ours.compute_output_shape(x.shape))
        if cls is AutoContrast:
            assert not np.allclose(out, x)
        else:
            np.testing.assert_array_equal(out, x)
        if cls is AutoContrast and kwargs.get("data_format") == CF:
            continue  # Keras reduces over axes (1, 2) whatever the format
        _close(out, theirs(x, training=False), float(np.max(images)))


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_same_transformation_as_keras(cls, kwargs, images, seed):
    ours, theirs = cls(**kwargs), _keras(cls, kwargs, seed)
    scale = float(np.max(images))
    random.seed(seed)  # Keras' AugMix picks its layers with Python's random
    for x in _inputs(kwargs, images):
        transformation = theirs.get_random_transformation(x, training=True)
        if x.ndim == 3:
            expected = theirs.transform_single_image(x, transformation, training=True)
        else:
            expected = theirs.transform_images(x, transformation, training=True)
        out = ours.transform_images(x, transformation, training=True)
        assert out.shape == expected.shape and out.dtype == np.float32
        # Posterization floors: a pixel a rounding error away from a level may drop one.
        tol = 1e-4 if cls in (RandomPerspective, RandAugment, AugMix) else 1e-5
        if cls is RandomPosterization:
            mismatch = np.mean(~np.isclose(out, expected, rtol=1e-5, atol=1e-5 * scale))
            assert mismatch < 0.01
        else:
            _close(out, expected, scale, tol)
        if x.ndim == 4 and cls is not RandomGrayscale:
            assert not np.allclose(out, x), "the drawn transformation must change the images"
        # Our own draw has Keras' structure (keys and shapes), except where documented.
        with RngScope(jax.random.key(0)):
            mine = ours.get_random_transformation(x, training=True)
        if cls is AugMix:
            assert set(mine) == set(transformation)
        elif cls is not RandAugment or x.ndim == 4:
            assert _structure(mine) == _structure(transformation)


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_training_is_random_and_reproducible(cls, kwargs, images, seed):
    layer = cls(**kwargs)
    x = _inputs(kwargs, images)[0]

    def draws(key):
        with RngScope(key):
            return [np.asarray(layer(x, training=True)) for _ in range(3)]

    first = draws(jax.random.key(0))
    for a, b in zip(first, draws(jax.random.key(0)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[0], x)
    if cls in NOT_RANDOM:
        assert all(np.array_equal(first[0], other) for other in first[1:])
        return
    assert any(not np.array_equal(first[0], other) for other in first[1:]), "draws must differ"
    other = cls(**kwargs, seed=5)
    with RngScope(jax.random.key(0)):
        assert not np.array_equal(first[0], other(x, training=True))


# One configuration per class (compiling is the slow part); AugMix with fewer steps.
JIT_CASES = {c: (c, k, i, s) for c, k, i, s in reversed(CASES)}
JIT_CASES[AugMix] = (AugMix, {"num_chains": 2, "chain_depth": 1}, IMAGES_255, 0)
JIT_CASES = list(JIT_CASES.values())


@pytest.mark.parametrize(
    "cls, kwargs, images, seed", JIT_CASES, ids=[c[0].__name__ for c in JIT_CASES]
)
def test_training_under_jit_matches_eager(cls, kwargs, images, seed):
    layer = cls(**kwargs)
    x = jnp.asarray(_inputs(kwargs, images)[0])

    def run(key, x):
        with RngScope(key):
            return layer(x, training=True)

    key = jax.random.key(3)
    _close(jax.jit(run)(key, x), run(key, x), float(np.max(images)), 1e-4)


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_config_round_trip_and_keras_keys(cls, kwargs, images, seed):
    ours, theirs = cls(**kwargs, name="aug"), _keras(cls, {**kwargs, "name": "aug"})
    config = ours.get_config()
    keras_config = theirs.get_config()
    # Keras' RandomGrayscale forgets its seed in its config; we keep it.
    assert set(config) - set(keras_config) == ({"seed"} if cls is RandomGrayscale else set())
    assert set(keras_config) <= set(config)
    for key in set(keras_config) - {"dtype", "seed"}:
        assert config[key] == keras_config[key], key
    restored = cls.from_config(config)
    assert restored.get_config() == config


# -- layers whose Keras draw cannot be replayed --------------------------------------


def test_color_jitter_matches_keras_steps():
    kwargs = dict(brightness_factor=0.3, contrast_factor=0.5, saturation_factor=0.6, hue_factor=0.4)
    ours = RandomColorJitter(**kwargs)
    theirs = keras.layers.RandomColorJitter(**kwargs, seed=1)
    for x in (IMAGES_255, IMAGES_255[0]):
        transformation, expected = {}, x
        for step in ("random_brightness", "random_contrast", "random_saturation", "random_hue"):
            sub = getattr(theirs, step)
            transformation[step] = sub.get_random_transformation(expected)
            if x.ndim == 3:
                expected = sub.transform_single_image(expected, transformation[step])
            else:
                expected = sub.transform_images(expected, transformation[step])
        _close(ours.transform_images(x, transformation), expected, 255.0)
    with RngScope(jax.random.key(0)):
        mine = ours.get_random_transformation(IMAGES_255)
    assert _structure(mine) == _structure(transformation) or set(mine) == set(transformation)
    np.testing.assert_array_equal(ours(IMAGES_255, training=False), IMAGES_255)
    np.testing.assert_array_equal(RandomColorJitter()(IMAGES_255), IMAGES_255)  # no steps
    config = ours.get_config()
    assert set(config) == set(theirs.get_config())
    assert RandomColorJitter.from_config(config).get_config() == config


@pytest.mark.parametrize("data_format", [CL, CF])
def test_elastic_transform_matches_keras_given_the_noise(data_format):
    x = _as_format(RNG.uniform(0, 255, (2, 24, 20, 3)).astype("float32"), data_format)
    kwargs = dict(factor=(0.6, 1.0), scale=(0.5, 1.0), fill_mode="constant", fill_value=7.0)
    ours = RandomElasticTransform(**kwargs, data_format=data_format)
    theirs = keras.layers.RandomElasticTransform(**kwargs, data_format=data_format, seed=1)
    for images in (x, x[0]):
        transformation = theirs.get_random_transformation(images, training=True)
        transformation["seed"] = 3  # Keras draws dx and dy from this key, in transform_images
        if images.ndim == 3:
            expected = theirs.transform_single_image(images, transformation)
        else:
            expected = theirs.transform_images(images, transformation)
        batch = images.shape[0] if images.ndim == 4 else 1
        noise = jax.random.normal(jnp.array([3, 0], jnp.uint32), (batch, 24, 20), jnp.float32)
        mine = {
            "apply_transform": transformation["apply_transform"],
            "distortion_factor": transformation["distortion_factor"],
            "dx": noise,
            "dy": noise,  # Keras' two fields are the same draw
        }
        out = ours.transform_images(images, mine)
        assert not np.allclose(out, images)
        _close(out, expected, 255.0, 1e-4)
    with RngScope(jax.random.key(0)):
        drawn = ours.get_random_transformation(x)
    assert drawn["dx"].shape == (2, 24, 20) and not np.allclose(drawn["dx"], drawn["dy"])


def test_elastic_transform_random_jit_config_and_errors():
    x = RNG.uniform(0, 1, (2, 16, 12, 3)).astype("float32")
    layer = RandomElasticTransform(value_range=(0, 1), fill_mode="mirror")
    np.testing.assert_array_equal(layer(x, training=False), x)

    def run(key, x):
        with RngScope(key):
            return layer(x, training=True)

    key = jax.random.key(1)
    out = run(key, x)
    assert not np.allclose(out, x) and float(out.min()) >= 0 and float(out.max()) <= 1
    _close(jax.jit(run)(key, x), out, 1.0, 1e-4)
    with RngScope(jax.random.key(2)):
        assert not np.array_equal(out, layer(x, training=True))
    theirs = keras.layers.RandomElasticTransform(value_range=(0, 1), fill_mode="mirror")
    config = layer.get_config()
    assert set(config) == set(theirs.get_config())
    for key in set(config) - {"dtype", "seed", "name"}:
        assert config[key] == theirs.get_config()[key], key
    assert RandomElasticTransform.from_config(config).get_config() == config
    np.testing.assert_array_equal(RandomElasticTransform(scale=0.0)(x), x)


# -- mixing with labels ---------------------------------------------------------------


def _class_images(batch=6):
    """Image i is constant, equal to i; its label is one-hot i."""
    labels = np.eye(batch, dtype="float32")
    images = np.broadcast_to(
        np.arange(batch, dtype="float32")[:, None, None, None], (batch, 8, 6, 3)
    )
    return np.array(images), labels


@pytest.mark.parametrize("cls", [MixUp, CutMix])
def test_labels_are_mixed_like_the_images(cls):
    images, labels = _class_images()
    layer = cls(seed=0)
    with RngScope(jax.random.key(4)):
        out = layer({"images": images, "labels": labels}, training=True)
    mixed_images, mixed_labels = np.asarray(out["images"]), np.asarray(out["labels"])
    assert mixed_labels.shape == labels.shape
    np.testing.assert_allclose(mixed_labels.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(mixed_labels >= 0) and not np.allclose(mixed_labels, labels)
    if cls is MixUp:
        # Each output pixel is the label-weighted mean of the class ids.
        expected = mixed_labels @ np.arange(6, dtype="float32")
        np.testing.assert_allclose(mixed_images[:, 0, 0, 0], expected, rtol=1e-5, atol=1e-5)
    else:
        # Each image holds at most two classes, in the proportions of the labels (up to
        # the pixel grid: Keras weighs labels by the box's fractional area).
        for img, lab in zip(mixed_images, mixed_labels, strict=True):
            share = np.array([np.mean(img == c) for c in range(6)])
            assert np.count_nonzero(share) <= 2
            np.testing.assert_allclose(share, lab, atol=0.35)
    # Inference: both unchanged.
    out = layer({"images": images, "labels": labels}, training=False)
    np.testing.assert_array_equal(out["images"], images)
    np.testing.assert_array_equal(out["labels"], labels)


def test_mixup_weights_follow_the_beta_distribution():
    layer = MixUp(alpha=0.2)
    with RngScope(jax.random.key(0)):
        t = layer.get_random_transformation(np.zeros((4000, 2, 2, 1)))
    weights = np.asarray(t["mix_weight"])
    assert weights.min() >= 0 and weights.max() <= 1
    # Beta(0.2, 0.2): mean 1/2, variance 1 / (4 (2 alpha + 1)) = 0.1786.
    assert abs(weights.mean() - 0.5) < 0.03 and abs(weights.var() - 0.1786) < 0.02
    np.testing.assert_array_equal(np.sort(t["permutation_order"]), np.arange(4000))


def test_mixing_labels_match_keras_given_keras_draw():
    images, labels = _class_images()
    for cls in (MixUp, CutMix):
        theirs = getattr(keras.layers, cls.__name__)(seed=2)
        t = theirs.get_random_transformation(images, training=True)
        _close(cls().transform_labels(labels, t), theirs.transform_labels(labels, t))


def test_other_layers_pass_labels_through():
    images, labels = _class_images()
    for layer in (RandomHue(0.5), RandomShear(0.3), RandAugment(), AutoContrast()):
        out = layer({"images": images * 40, "labels": labels})
        np.testing.assert_array_equal(out["labels"], labels)
        assert out["images"].shape == images.shape
    with pytest.raises(ValueError, match="'images'"):
        MixUp()({"pictures": images})
    with pytest.raises(ValueError, match="bounding_boxes"):
        MixUp()({"images": images, "bounding_boxes": {}})


def test_single_images_keep_labels():
    images, labels = _class_images()
    out = MixUp()({"images": images[0], "labels": labels[0]})
    _close(out["images"], images[0])  # mixed with itself
    _close(out["labels"], labels[0])
    out = CutMix()({"images": images[0], "labels": labels[0]})
    np.testing.assert_array_equal(out["images"], images[0])


# -- the rest --------------------------------------------------------------------------


def test_color_conversions_match_keras():
    x = RNG.uniform(0, 1, (2, 5, 4, 3)).astype("float32")
    x[0, 0, 0] = 0.5  # grey
    x[0, 0, 1] = [0.2, 0.9, 0.9]  # ties
    for fmt in (CL, CF):
        xf = _as_format(x, fmt)
        hsv = imops.rgb_to_hsv(jnp.asarray(xf), fmt)
        _close(hsv, keras.ops.image.rgb_to_hsv(xf, data_format=fmt))
        _close(
            imops.hsv_to_rgb(hsv, fmt), keras.ops.image.hsv_to_rgb(np.asarray(hsv), data_format=fmt)
        )
        _close(
            imops.rgb_to_grayscale(jnp.asarray(xf), fmt),
            keras.ops.image.rgb_to_grayscale(xf, data_format=fmt),
        )
        _close(
            imops.gaussian_blur(jnp.asarray(xf), (3, 5), (0.7, 1.3), fmt),
            keras.ops.image.gaussian_blur(xf, (3, 5), (0.7, 1.3), data_format=fmt),
        )


def test_max_num_bounding_boxes():
    images = IMAGES[:2]
    boxes = RNG.uniform(0, 5, (2, 4, 4)).astype("float32")
    labels = np.array([[1, 2, 3, 4], [5, 6, 7, 8]], "int32")
    data = {"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}}
    for n in (2, 6):
        ours = MaxNumBoundingBoxes(n, bounding_box_format="xyxy")
        theirs = keras.layers.MaxNumBoundingBoxes(n, bounding_box_format="xyxy")
        out = ours(dict(data))
        expected = theirs({"images": images, "bounding_boxes": {"boxes": boxes, "labels": labels}})
        np.testing.assert_array_equal(out["images"], images)
        for key in ("boxes", "labels"):
            np.testing.assert_array_equal(
                out["bounding_boxes"][key], expected["bounding_boxes"][key]
            )
        config = ours.get_config()
        assert set(config) == set(theirs.get_config())
        assert MaxNumBoundingBoxes.from_config(config).get_config() == config
    np.testing.assert_array_equal(MaxNumBoundingBoxes(3)(images), images)
    with pytest.raises(ValueError, match="bounding_box_format"):
        MaxNumBoundingBoxes(3)(dict(data))


def test_auto_contrast_leaves_flat_channels():
    x = np.full((1, 4, 4, 3), 80.0, "float32")
    x[..., 1] = np.linspace(10, 90, 16).reshape(4, 4)
    out = np.asarray(AutoContrast()(x))
    np.testing.assert_array_equal(out[..., 0], x[..., 0])
    assert out[..., 1].min() == 0 and out[..., 1].max() == 255
    _close(out, keras.layers.AutoContrast()(x))


def test_symbolic_shapes():
    inputs = shoal.Input((8, 6, 3))
    for layer in (MixUp(), RandomHue(0.2), RandAugment(), AugMix(), RandomErasing()):
        assert layer(inputs).shape == (None, 8, 6, 3)


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: MixUp(alpha=0), "alpha"),
        (lambda: MixUp(seed=1.5), "seed"),
        (lambda: CutMix(factor=1.5), "factor"),
        (lambda: RandomGrayscale(factor=1.2), "factor"),
        (lambda: RandomGrayscale(data_format="nchw"), "data_format"),
        (lambda: RandomHue(factor=-0.1), "factor"),
        (lambda: RandomHue(0.1, value_range=(0, 1, 2)), "value_range"),
        (lambda: RandomSaturation("0.5"), "factor"),
        (lambda: RandomSharpness(0.5, value_range=None), "value_range"),
        (lambda: RandomPosterization(9), "factor"),
        (lambda: Solarization(addition_factor=(0.1, 1.5)), "addition_factor"),
        (lambda: Solarization(threshold_factor=-0.5), "threshold_factor"),
        (lambda: Equalization(bins=1), "bins"),
        (lambda: RandomShear(x_factor=1.5), "x_factor"),
        (lambda: RandomShear(0.1, fill_mode="mirror"), "fill_mode"),
        (lambda: RandomShear(0.1, interpolation="bicubic"), "interpolation"),
        (lambda: RandomPerspective(scale=2.0), "scale"),
        (lambda: RandomPerspective(fill_value="black"), "fill_value"),
        (lambda: RandomErasing(fill_value=(1, 2)), "fill_value"),
        (lambda: RandomErasing(scale=(2, 3)), "scale"),
        (lambda: RandomGaussianBlur(kernel_size=4), "kernel_size"),
        (lambda: RandomGaussianBlur(sigma=1.5), "sigma"),
        (lambda: RandomElasticTransform(fill_mode="edge"), "fill_mode"),
        (lambda: RandomColorJitter(hue_factor=3.0), "hue_factor"),
        (lambda: RandAugment(num_ops=0), "num_ops"),
        (lambda: RandAugment(factor=2.0), "factor"),
        (lambda: AugMix(chain_depth=0), "chain_depth"),
        (lambda: AugMix(all_ops="yes"), "all_ops"),
        (lambda: MaxNumBoundingBoxes(0), "max_number"),
    ],
)
def test_bad_arguments_name_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_bad_rank_is_an_error():
    with pytest.raises(ValueError, match="rank 3"):
        RandomHue(0.5)(np.zeros((8, 8)), training=True)


def test_model_with_new_layers_trains_and_saves(tmp_path):
    shoal.utils.set_random_seed(0)
    model = shoal.Sequential(
        [
            shoal.Input((8, 8, 3)),
            RandomShear(0.2),
            RandomColorDegeneration(0.5, value_range=(0, 1)),
            RandAugment(value_range=(0, 1), num_ops=1),
            shoal.layers.Conv2D(2, 3),
            shoal.layers.GlobalAveragePooling2D(),
            shoal.layers.Dense(2),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = RNG.uniform(0, 1, (8, 8, 8, 3)).astype("float32")
    y = RNG.standard_normal((8, 2)).astype("float32")
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, model.predict(x, verbose=0))
    path = str(tmp_path / "augmented.keras")
    model.save(path)
    restored = shoal.saving.load_model(path)
    assert [type(layer) for layer in restored.layers] == [type(layer) for layer in model.layers]
    for old, new in zip(model.layers, restored.layers, strict=True):
        assert json.dumps(new.get_config()) == json.dumps(old.get_config())  # lists for tuples
    np.testing.assert_allclose(restored.predict(x, verbose=0), first, rtol=1e-6, atol=1e-6)
