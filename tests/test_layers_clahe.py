"""ContrastLimitedAdaptiveHistogramEqualization against Keras 3.15 (JAX): tile grids that do
and do not divide the image, clipping on and off, value ranges, dtypes, layouts."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402

CLAHE = shoal.layers.ContrastLimitedAdaptiveHistogramEqualization
RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (2, 10, 13, 3))
# Low-contrast images: most levels empty, so clipping and redistribution matter.
DIM = (RNG.normal(120, 6, (2, 16, 16, 1))).clip(0, 255).astype("float32")


@pytest.mark.parametrize(
    "kwargs, images",
    [
        ({}, PIXELS),
        ({}, PIXELS.astype("float32")),
        ({"tile_grid_size": (3, 4), "clip_limit": 2.0}, PIXELS.astype("float32")),
        ({"tile_grid_size": (1, 1)}, PIXELS.astype("float32")),
        ({"value_range": (0, 1)}, PIXELS.astype("float32") / 255),
        ({"value_range": (-1, 1), "tile_grid_size": (2, 2)}, PIXELS.astype("float32") / 128 - 1),
        ({"clip_limit": 0}, PIXELS[0].astype("uint8")),
        ({"tile_grid_size": (4, 4), "clip_limit": 1.5}, DIM),
        ({"tile_grid_size": (2, 3), "data_format": "channels_first"}, DIM.transpose(0, 3, 1, 2)),
    ],
    ids=[
        "int64",
        "default",
        "grid3x4",
        "one_tile",
        "unit_range",
        "signed_range",
        "no_clip_uint8_unbatched",
        "dim_clip",
        "channels_first",
    ],
)
def test_equals_keras(kwargs, images):
    ours = np.asarray(CLAHE(**kwargs)(images))
    reference = keras.layers.ContrastLimitedAdaptiveHistogramEqualization(**kwargs)
    ref = np.asarray(jax.jit(reference)(images))  # one compilation, not one per op
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    tolerance = 1e-4 * (kwargs.get("value_range", (0, 255))[1] - kwargs.get("value_range", (0,))[0])
    np.testing.assert_allclose(ours.astype("float64"), ref.astype("float64"), atol=tolerance)
    assert np.abs(ours.astype("float64") - images).max() > 0  # it did change the images


def test_inference_too_in_a_model_and_config_round_trip(tmp_path):
    layer = CLAHE(clip_limit=3.0, tile_grid_size=(2, 2), name="clahe")
    model = shoal.Sequential([shoal.Input((16, 16, 1)), layer])
    direct = np.asarray(layer(DIM, training=True))
    np.testing.assert_allclose(model.predict(DIM, verbose=0), direct, atol=1e-4)
    config = layer.get_config()
    assert (config["clip_limit"], tuple(config["tile_grid_size"])) == (3.0, (2, 2))
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras")  # Keras reads ours
    np.testing.assert_allclose(again.predict(DIM, verbose=0), direct, atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"clip_limit": -1}, "'clip_limit' must be a number >= 0"),
        ({"tile_grid_size": (0, 2)}, "'tile_grid_size' must be a pair of positive integers"),
        ({"tile_grid_size": 8}, "'tile_grid_size' must be a pair"),
        ({"value_range": (0,)}, "'value_range' must be a pair"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CLAHE(**kwargs)
