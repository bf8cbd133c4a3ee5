"""Image augmentation layers and the affine_transform op, against Keras 3 (JAX backend).

Random draws cannot be compared across libraries, so parity is checked in two halves,
as the layers are built: inference outputs, and `transform_images` given a
transformation that the Keras layer drew (`get_random_transformation`).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402
from shoal.backend.random import RngScope  # noqa: E402
from shoal.layers.augmentation import (  # noqa: E402
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from shoal.layers.augmentation.geometric import rotation_matrix  # noqa: E402
from shoal.ops.image_transform import affine_transform  # noqa: E402

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0, 1, (4, 8, 6, 3)).astype("float32")  # channels_last, H != W
IMAGES_255 = (IMAGES * 255).astype("float32")


def _close(actual, expected, scale=1.0):
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=1e-5 * scale
    )


def _as_format(x, data_format):
    return x if data_format == "channels_last" else np.moveaxis(x, -1, -3)


# -- affine_transform ------------------------------------------------------------------


def _random_affine(n, rng):
    """Rotation + anisotropic scale + shear + shift, enough to reach outside the image."""
    angle = rng.uniform(-1, 1, n)
    sx, sy = rng.uniform(0.6, 1.5, (2, n))
    shear = rng.uniform(-0.3, 0.3, n)
    rows = [
        sx * np.cos(angle),
        -sx * np.sin(angle) + shear,
        rng.uniform(-4, 4, n),
        sy * np.sin(angle),
        sy * np.cos(angle),
        rng.uniform(-4, 4, n),
        np.zeros(n),
        np.zeros(n),
    ]
    return np.stack(rows, axis=1).astype("float32")


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
@pytest.mark.parametrize("fill_mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_affine_transform_matches_keras(data_format, interpolation, fill_mode):
    rng = np.random.default_rng(1)
    x = _as_format(rng.standard_normal((3, 7, 9, 2)).astype("float32"), data_format)
    transform = _random_affine(3, rng)
    args = dict(
        interpolation=interpolation, fill_mode=fill_mode, fill_value=0.5, data_format=data_format
    )
    ours = affine_transform(x, transform, **args)
    assert ours.shape == x.shape and ours.dtype == x.dtype
    _close(ours, keras.ops.image.affine_transform(x, transform, **args))
    # Rank 3 with a single transform, and one transform broadcast over the batch.
    _close(
        affine_transform(x[1], transform[1], **args),
        keras.ops.image.affine_transform(x[1], transform[1], **args),
    )
    _close(
        affine_transform(x, transform[:1], **args)[2], affine_transform(x[2], transform[0], **args)
    )


def test_affine_transform_integer_images_round_like_keras():
    x = RNG.integers(0, 256, (2, 5, 6, 3)).astype("uint8")
    transform = _random_affine(2, np.random.default_rng(2))
    ours = affine_transform(x, transform, fill_mode="reflect")
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(
        ours, keras.ops.image.affine_transform(x, transform, fill_mode="reflect")
    )


def test_affine_transform_projective_terms_divide():
    """c0, c1 follow the documented formula: input = (a x + a' y + a2) / (c0 x + c1 y + 1).

    (Keras' JAX backend drops them; every Keras layer passes c0 = c1 = 0.)"""
    x = RNG.standard_normal((1, 6, 7, 1)).astype("float32")
    t = np.array([1.1, 0.1, 0.3, -0.2, 0.9, 0.5, 0.04, -0.03], "float32")
    out = np.asarray(affine_transform(x, t, interpolation="bilinear", fill_mode="constant"))
    expected = np.zeros_like(x)
    for y in range(6):
        for xx in range(7):
            k = t[6] * xx + t[7] * y + 1
            sx, sy = (t[0] * xx + t[1] * y + t[2]) / k, (t[3] * xx + t[4] * y + t[5]) / k
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            for iy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
                for ix, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
                    if 0 <= iy < 6 and 0 <= ix < 7:
                        expected[0, y, xx] += wy * wx * x[0, iy, ix]
    _close(out, expected)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"interpolation": "bicubic"}, "'interpolation'"),
        ({"fill_mode": "edge"}, "'fill_mode'"),
        ({"transform": np.zeros((2, 6))}, "'transform'"),
        ({"transform": np.zeros((3, 8))}, "'transform'"),
        ({"images": np.zeros((8, 8))}, "'images'"),
    ],
)
def test_affine_transform_errors(kwargs, match):
    args = {"images": np.zeros((2, 4, 4, 1)), "transform": np.zeros((2, 8)), **kwargs}
    with pytest.raises(ValueError, match=match):
        affine_transform(**args)


# -- the layers: one table of configurations ------------------------------------------

CL, CF = "channels_last", "channels_first"
CASES = [
    # (class, kwargs, images in channels_last, seed of the Keras draw)
    (RandomFlip, {}, IMAGES, 0),
    (RandomFlip, {"mode": "horizontal"}, IMAGES, 0),
    (RandomFlip, {"mode": "vertical", "data_format": CF}, IMAGES, 0),
    (RandomRotation, {"factor": 0.2}, IMAGES, 1),
    (
        RandomRotation,
        {"factor": (-0.1, 0.3), "fill_mode": "constant", "fill_value": 0.5},
        IMAGES,
        1,
    ),
    (RandomRotation, {"factor": 0.3, "interpolation": "nearest", "data_format": CF}, IMAGES, 1),
    (RandomZoom, {"height_factor": 0.3}, IMAGES, 1),
    (
        RandomZoom,
        {"height_factor": (-0.3, 0.2), "width_factor": 0.4, "fill_mode": "wrap"},
        IMAGES,
        1,
    ),
    (
        RandomZoom,
        {
            "height_factor": 0.5,
            "fill_mode": "nearest",
            "interpolation": "nearest",
            "data_format": CF,
        },
        IMAGES,
        1,
    ),
    (RandomTranslation, {"height_factor": 0.2, "width_factor": 0.3}, IMAGES, 1),
    (
        RandomTranslation,
        {
            "height_factor": (-0.3, 0.1),
            "width_factor": 0.4,
            "fill_mode": "constant",
            "data_format": CF,
        },
        IMAGES,
        1,
    ),
    (RandomContrast, {"factor": 0.5}, IMAGES_255, 1),
    (RandomContrast, {"factor": (0.2, 0.8), "value_range": (0, 1), "data_format": CF}, IMAGES, 1),
    (RandomBrightness, {"factor": 0.3}, IMAGES_255, 1),
    (RandomBrightness, {"factor": (-0.2, 0.5), "value_range": (1, 0)}, IMAGES, 1),
    (RandomCrop, {"height": 4, "width": 4}, IMAGES, 1),
    (RandomCrop, {"height": 5, "width": 3, "data_format": CF}, IMAGES, 1),
    (RandomCrop, {"height": 10, "width": 4}, IMAGES, 1),  # taller than the input: resized
]
IDS = [f"{c.__name__}-{i}" for i, (c, *_rest) in enumerate(CASES)]


def _pair(cls, kwargs, seed=None):
    """The shoal layer and the Keras layer of one configuration."""
    return cls(**kwargs), getattr(keras.layers, cls.__name__)(**kwargs, seed=seed)


def _inputs(kwargs, images):
    x = _as_format(images, kwargs.get("data_format", CL))
    return [x, x[0]]  # a batch and a single image


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_inference_matches_keras(cls, kwargs, images, seed):
    ours, theirs = _pair(cls, kwargs)
    for x in _inputs(kwargs, images):
        out = ours(x, training=False)
        if cls is RandomCrop:
            # Keras documents a center crop to the target aspect ratio, resized; Keras 3.15's
            # layer returns the input unchanged instead (a shape its own
            # compute_output_shape contradicts), so we compare with the documented op.
            expected = keras.ops.image.resize(
                x,
                (kwargs["height"], kwargs["width"]),
                crop_to_aspect_ratio=True,
                data_format=ours.data_format,
            )
        else:
            expected = theirs(x, training=False)
            np.testing.assert_array_equal(out, x)
        assert out.shape == tuple(ours.compute_output_shape(x.shape))
        _close(out, expected)


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_same_transformation_as_keras(cls, kwargs, images, seed):
    ours, theirs = _pair(cls, kwargs, seed=seed)
    scale = float(np.max(images))
    for x in _inputs(kwargs, images):
        transformation = theirs.get_random_transformation(x, training=True)
        expected = theirs.transform_images(x, transformation, training=True)
        out = ours.transform_images(x, transformation, training=True)
        assert out.shape == expected.shape
        _close(out, expected, scale)
        if out.shape == x.shape:
            assert not np.allclose(out, x), "the drawn transformation must change the images"
        # Our own draw has Keras' structure (keys and shapes).
        with RngScope(jax.random.key(0)):
            mine = ours.get_random_transformation(x, training=True)
        if isinstance(transformation, dict):
            assert set(mine) == set(transformation)
            for key, value in transformation.items():
                assert np.shape(mine[key]) == np.shape(value), key
        else:
            assert len(mine) == len(transformation) == 2


def test_rotation_matrix_matches_keras():
    theirs = keras.layers.RandomRotation(0.4, seed=2)
    t = theirs.get_random_transformation(IMAGES, training=True)
    _close(rotation_matrix(t["angle"], 8, 6), t["rotation_matrix"])


def test_flip_follows_each_image_coin():
    x = IMAGES[:2]
    flips = np.array([True, False]).reshape(2, 1, 1, 1)
    for mode, axes in [
        ("horizontal", (1,)),
        ("vertical", (0,)),
        ("horizontal_and_vertical", (0, 1)),
    ]:
        out = np.asarray(RandomFlip(mode).transform_images(x, {"flips": flips}))
        np.testing.assert_array_equal(out[0], np.flip(x[0], axis=axes))
        np.testing.assert_array_equal(out[1], x[1])


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
    height_axis = -2 if kwargs.get("data_format") == CF else -3
    if cls is RandomCrop and kwargs["height"] >= x.shape[height_axis]:
        # Smaller than the target: Keras cuts at a fixed position and resizes, even in training.
        assert all(np.array_equal(first[0], other) for other in first[1:])
        return
    assert any(not np.array_equal(first[0], other) for other in first[1:]), "draws must differ"
    if first[0].shape == x.shape:
        assert not np.allclose(first[0], x)
    else:
        assert not np.allclose(first[0], layer(x, training=False))
    # A different layer seed gives a different draw from the same step key.
    other = cls(**kwargs, seed=5)
    with RngScope(jax.random.key(0)):
        assert not np.array_equal(first[0], other(x, training=True))


def test_training_defaults_to_true_as_in_keras():
    """Keras' augmentation layers augment when called without `training` (the default of
    their `call`); models pass `training=False` at inference."""
    layer = RandomRotation(0.3)
    with RngScope(jax.random.key(1)):
        bare = np.asarray(layer(IMAGES))
    with RngScope(jax.random.key(1)):
        explicit = np.asarray(layer(IMAGES, training=True))
    np.testing.assert_array_equal(bare, explicit)
    assert not np.allclose(bare, IMAGES)


@pytest.mark.parametrize("cls, kwargs, images, seed", CASES, ids=IDS)
def test_config_round_trip_and_keras_keys(cls, kwargs, images, seed):
    ours, theirs = _pair(cls, {**kwargs, "name": "aug"})
    config = ours.get_config()
    assert set(config) == set(theirs.get_config())
    keras_config = theirs.get_config()
    for key in set(config) - {"dtype", "seed"}:  # Keras' RandomCrop invents a seed
        assert config[key] == keras_config[key], key
    restored = cls.from_config(config)
    assert restored.get_config() == config


def test_integer_images_come_out_float():
    x = (IMAGES_255[:2]).astype("uint8")
    for layer in (RandomFlip(), RandomRotation(0.1), RandomCrop(4, 4)):
        assert layer(x, training=False).dtype == np.float32


def test_symbolic_shapes():
    inputs = shoal.Input((8, 6, 3))
    assert RandomCrop(4, 5)(inputs).shape == (None, 4, 5, 3)
    assert RandomZoom(0.2)(inputs).shape == (None, 8, 6, 3)


@pytest.mark.parametrize(
    "make, arg",
    [
        (lambda: RandomFlip(mode="diagonal"), "mode"),
        (lambda: RandomFlip(seed="7"), "seed"),
        (lambda: RandomRotation(1.5), "factor"),
        (lambda: RandomRotation((0.1, 0.2, 0.3)), "factor"),
        (lambda: RandomRotation(0.1, fill_mode="mirror"), "fill_mode"),
        (lambda: RandomRotation(0.1, interpolation="bicubic"), "interpolation"),
        (lambda: RandomRotation(0.1, data_format="nhwc"), "data_format"),
        (lambda: RandomZoom(-1.0), "height_factor"),
        (lambda: RandomZoom(0.1, width_factor=(0.1, 2)), "width_factor"),
        (lambda: RandomTranslation(0.1, None), "width_factor"),
        (lambda: RandomTranslation(0.1, 0.1, fill_value="zero"), "fill_value"),
        (lambda: RandomContrast(-0.1), "factor"),
        (lambda: RandomContrast(0.1, value_range=(1,)), "value_range"),
        (lambda: RandomBrightness("0.2"), "factor"),
        (lambda: RandomCrop(0, 3), "height"),
        (lambda: RandomCrop(3, 2.5), "width"),
    ],
)
def test_bad_arguments_name_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_bad_rank_is_an_error():
    with pytest.raises(ValueError, match="rank 3"):
        RandomFlip()(np.zeros((8, 8)), training=True)


def test_model_trains_and_predicts_deterministically():
    shoal.utils.set_random_seed(0)
    model = shoal.Sequential(
        [
            shoal.Input((8, 8, 3)),
            RandomFlip(),
            RandomRotation(0.1),
            shoal.layers.Conv2D(2, 3),
            shoal.layers.GlobalAveragePooling2D(),
            shoal.layers.Dense(2),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = RNG.uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    y = RNG.standard_normal((16, 2)).astype("float32")
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    first = model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, model.predict(x, verbose=0))
