"""Rescaling, Normalization, Resizing and CenterCrop: parity with Keras 3, adapt, saving."""

from __future__ import annotations

import os

import numpy as np
import pytest
from harness import run_layer_test

import shoal
from shoal import layers

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402  (test-only numerical reference)


def images(shape=(2, 6, 8, 3), seed=0):
    return np.random.default_rng(seed).random(shape).astype("float32")


def keras_config_keys(layer):
    return set(layer.get_config()) - {"dtype"}


@pytest.mark.parametrize(
    "kwargs, data",
    [
        ({"scale": 1 / 255}, np.array([[0, 17, 255]], "int32")),
        ({"scale": 1 / 127.5, "offset": -1.0}, images()),
        ({"scale": [0.5, 2.0, 3.0], "offset": [0.0, 1.0, -1.0]}, images()),
    ],
)
def test_rescaling_matches_keras(kwargs, data):
    layer, out = run_layer_test(
        layers.Rescaling, kwargs, input_data=data, check_grad=False, check_saving=False
    )
    assert out.dtype == np.float32
    assert set(layer.get_config()) - {"dtype"} == keras_config_keys(
        keras.layers.Rescaling(**kwargs)
    )


@pytest.mark.parametrize("axis", [-1, None, (1, 2), (-1, 1)])
def test_normalization_adapt_matches_keras(axis):
    data = images((5, 4, 3, 2), seed=1) * 10 + 3
    ours, theirs = layers.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
    ours.adapt(data)
    theirs.adapt(data)
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    probe = images((2, 4, 3, 2), seed=2) * 10
    np.testing.assert_allclose(ours(probe), theirs(probe), rtol=1e-5, atol=1e-5)
    assert ours.get_config().keys() - {"dtype"} == theirs.get_config().keys() - {"dtype"}


def test_normalization_adapt_over_batches_equals_the_whole_array():
    data = np.random.default_rng(3).standard_normal((50, 3)).astype("float32") * [1, 10, 100]
    whole = layers.Normalization()
    whole.adapt(data)
    for source in ([data[:7], data[7:30], data[30:]], (b for b in np.array_split(data, 4))):
        batched = layers.Normalization()
        batched.adapt(source)
        for a, b in zip(batched.get_weights()[:2], whole.get_weights()[:2], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6)

    class Batches(shoal.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return data[i * 10 : (i + 1) * 10], np.zeros(10)  # (x, y): x is adapted

    from_dataset = layers.Normalization()
    from_dataset.adapt(Batches())
    np.testing.assert_allclose(from_dataset.get_weights()[0], whole.get_weights()[0], rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"mean": 2.0, "variance": 4.0},
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0]},
        {"mean": [1.0, 2.0, 3.0], "variance": [1.0, 4.0, 9.0], "invert": True},
        {"axis": (1, 2), "mean": [[1.0, 2.0, 3.0]] * 4, "variance": [[4.0] * 3] * 4},
    ],
)
def test_normalization_given_statistics_match_keras(kwargs):
    run_layer_test(
        layers.Normalization,
        kwargs,
        input_data=images((2, 4, 3)) * 5,
        check_grad=False,
        check_saving=False,
    )


def test_normalization_in_a_model_saves_its_adapted_statistics(tmp_path):
    x = np.random.default_rng(4).standard_normal((64, 3)).astype("float32") * 50 + 7
    norm = layers.Normalization()
    norm.adapt(x)
    model = shoal.Sequential([shoal.Input((3,)), norm, layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :1], epochs=1, batch_size=16, verbose=0)
    assert norm.trainable_weights == []  # the statistics are not trained
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = shoal.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(loaded.layers[0].get_weights()[0], x.mean(0), rtol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mean": 1.0}, "'mean' and 'variance' must be given together"),
        ({"axis": "x"}, "argument 'axis'"),
        ({"mean": [1.0, 2.0], "variance": [1.0]}, "same shape"),
    ],
)
def test_normalization_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        layers.Normalization(**kwargs)


def test_normalization_adapt_errors():
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match="incompatible"):
        layer.adapt(np.ones((4, 5)))
    with pytest.raises(ValueError, match="axis"):
        layers.Normalization(axis=3).adapt(np.ones((4, 3)))
    with pytest.raises(ValueError, match="empty"):
        layers.Normalization().adapt([])
    with pytest.raises(TypeError, match="adapt"):
        layers.Normalization().adapt(3)


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"height": 3, "width": 5}, (2, 6, 8, 3)),
        ({"height": 9, "width": 4, "interpolation": "nearest"}, (2, 6, 8, 3)),
        ({"height": 4, "width": 4, "crop_to_aspect_ratio": True}, (2, 6, 8, 3)),
        ({"height": 4, "width": 4, "pad_to_aspect_ratio": True, "fill_value": 0.5}, (2, 6, 8, 3)),
        ({"height": 3, "width": 5, "data_format": "channels_first"}, (2, 3, 6, 8)),
        ({"height": 3, "width": 4, "interpolation": "bicubic"}, (6, 8, 3)),
    ],
)
def test_resizing_matches_keras(kwargs, shape):
    layer, _ = run_layer_test(
        layers.Resizing, kwargs, input_data=images(shape), check_grad=False, check_saving=False
    )
    assert set(layer.get_config()) - {"dtype"} == keras_config_keys(keras.layers.Resizing(**kwargs))


@pytest.mark.parametrize(
    "kwargs, shape",
    [
        ({"height": 4, "width": 5}, (2, 6, 8, 3)),  # cropped
        ({"height": 3, "width": 3}, (7, 7, 1)),  # one image, odd margins
        ({"height": 8, "width": 4}, (2, 6, 8, 3)),  # taller than the image: resized
        ({"height": 4, "width": 5, "data_format": "channels_first"}, (2, 3, 6, 8)),
    ],
)
def test_center_crop_matches_keras(kwargs, shape):
    run_layer_test(
        layers.CenterCrop, kwargs, input_data=images(shape), check_grad=False, check_saving=False
    )


@pytest.mark.parametrize(
    "cls, kwargs, message",
    [
        (layers.Resizing, {"height": 0, "width": 2}, "'height' must be a positive integer"),
        (layers.Resizing, {"height": 2, "width": 2, "interpolation": "cubic"}, "interpolation"),
        (
            layers.Resizing,
            {"height": 2, "width": 2, "crop_to_aspect_ratio": True, "pad_to_aspect_ratio": True},
            "only one of",
        ),
        (layers.CenterCrop, {"height": 2, "width": 2.5}, "'width' must be a positive integer"),
        (layers.Rescaling, {"scale": "half"}, "'scale' must be a number"),
    ],
)
def test_bad_arguments_name_the_argument(cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cls(**kwargs)


def test_image_preprocessing_model_trains_and_round_trips(tmp_path):
    """Resizing + Rescaling + CenterCrop in front of a convnet, saved and loaded."""
    model = shoal.Sequential(
        [
            shoal.Input((10, 12, 3)),
            layers.Resizing(8, 8),
            layers.Rescaling(1 / 255),
            layers.CenterCrop(6, 6),
            layers.Conv2D(2, 3),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    assert model.output_shape == (None, 2)
    x = (images((16, 10, 12, 3)) * 255).astype("float32")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, np.arange(16) % 2, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    np.testing.assert_allclose(
        shoal.models.load_model(path).predict(x, verbose=0), model.predict(x, verbose=0)
    )
