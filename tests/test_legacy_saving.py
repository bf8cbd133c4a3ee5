"""shoal.legacy.saving (Keras 2 config format) against keras.legacy.saving (Keras 3.15)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402


def _holder(lib):
    class Holder(lib.layers.Layer):
        """A layer whose config holds raw objects, as Keras 2 layers did."""

        def __init__(self, inner=None, fn=None, n=1, **kwargs):
            super().__init__(**kwargs)
            self.inner, self.fn, self.n = inner, fn, n

        def get_config(self):
            return {"name": self.name, "inner": self.inner, "fn": self.fn, "n": self.n}

    return Holder


@pytest.mark.parametrize("make", ["dense", "holder"])
def test_serialize_equals_keras_and_round_trips(make):
    out = {}
    for lib in (keras, shoal):
        if make == "dense":
            obj = lib.layers.Dense(
                3, activation="relu", kernel_regularizer=lib.regularizers.L2(0.1), name="d"
            )
        else:
            obj = _holder(lib)(
                inner=lib.regularizers.L2(0.25), fn=lib.activations.relu, n=4, name="h"
            )
        out[lib] = lib.legacy.saving.serialize_keras_object(obj)
    assert out[shoal] == out[keras]
    if make == "holder":
        inner = out[shoal]["config"]["inner"]
        assert inner["__passive_serialization__"] is True and inner["class_name"] == "L2"
        assert out[shoal]["config"]["fn"] == "relu" and out[shoal]["config"]["n"] == 4
        custom = {
            "Holder": _holder(shoal),
            "L2": shoal.regularizers.L2,
            "relu": shoal.activations.relu,
        }
        back = shoal.legacy.saving.deserialize_keras_object(out[shoal], custom_objects=custom)
        assert back.fn is shoal.activations.relu and back.n == 4
        assert isinstance(back.inner, shoal.regularizers.L2) and back.inner.l2 == 0.25
    else:
        back = shoal.legacy.saving.deserialize_keras_object(
            out[shoal], module_objects=vars(shoal.layers)
        )
        assert isinstance(back, shoal.layers.Dense) and back.units == 3
        assert back.kernel_regularizer.l2 == pytest.approx(0.1)


def test_names_functions_and_errors():
    saving = shoal.legacy.saving
    assert saving.serialize_keras_object(shoal.activations.relu) == "relu"
    assert saving.serialize_keras_object(None) is None
    assert saving.deserialize_keras_object(None) is None
    relu = saving.deserialize_keras_object("relu", module_objects=vars(shoal.activations))
    assert relu is shoal.activations.relu
    assert saving.deserialize_keras_object(relu) is relu
    zeros = saving.deserialize_keras_object("Zeros", module_objects=vars(shoal.initializers))
    assert isinstance(zeros, shoal.initializers.Zeros)  # classes by name are instantiated
    with pytest.raises(ValueError, match="Unknown layer: 'Nope'"):
        saving.deserialize_keras_object(
            {"class_name": "Nope", "config": {}}, printable_module_name="layer"
        )
    with pytest.raises(ValueError, match="'class_name' and 'config'"):
        saving.deserialize_keras_object({"config": {}})
    with pytest.raises(ValueError, match="get_config"):
        saving.serialize_keras_object(3)
    assert set(saving.__all__) == {n for n in dir(keras.legacy.saving) if not n.startswith("_")}
