"""Embedding."""

import jax
import numpy as np
import pytest
from harness import make_input, run_layer_test

import shoal
from shoal.layers.embedding import Embedding


@pytest.mark.parametrize(
    "kwargs, shape, dtype",
    [
        ({"input_dim": 10, "output_dim": 4}, (2, 3), "int32"),
        ({"input_dim": 10, "output_dim": 3, "mask_zero": True}, (2, 3), "int32"),
        (
            {"input_dim": 10, "output_dim": 2, "embeddings_initializer": "random_normal"},
            (2, 3, 2),
            "int32",
        ),
        ({"input_dim": 10, "output_dim": 4}, (2, 3), "float32"),
    ],
)
def test_embedding(kwargs, shape, dtype):
    data = make_input(shape, "int32").astype(dtype)
    if dtype == "float32":  # truncated to int; keep finite differences away from the steps
        data = data + np.float32(0.25)
    layer, out = run_layer_test(
        Embedding, kwargs, input_data=data, expected_output_shape=shape + (kwargs["output_dim"],)
    )
    assert [w.name for w in layer.weights] == ["embeddings"]
    assert layer.embeddings.shape == (kwargs["input_dim"], kwargs["output_dim"])
    np.testing.assert_array_equal(out, layer.embeddings.numpy()[data.astype("int32")])


def test_mask_zero():
    layer = Embedding(5, 2, mask_zero=True)
    ids = np.array([[1, 2, 0, 0], [3, 0, 4, 0]], "int32")
    np.testing.assert_array_equal(layer.compute_mask(ids), ids != 0)
    assert Embedding(5, 2).compute_mask(ids) is None
    symbolic = layer(shoal.Input((4,), dtype="int32"))
    assert symbolic._keras_mask is not None
    assert symbolic._keras_mask.shape == (None, 4)
    assert symbolic._keras_mask.dtype == "bool"


def test_integer_ids_are_not_cast_to_float():
    """Ids above 2048 are not representable in float16; they must reach the table intact."""
    layer = Embedding(3000, 2, dtype="mixed_float16")
    ids = np.array([[2049, 2047]], "int32")
    out = layer(ids)
    assert out.dtype == "float16"
    np.testing.assert_array_equal(out, layer.embeddings.numpy()[ids].astype("float16"))
    assert layer.embeddings.dtype == "float32"
    # float ids are not autocast either (float32 2049.0 would become 2048 in float16)
    np.testing.assert_array_equal(layer(ids.astype("float32")), out)


def test_out_of_range_ids_behave_as_keras_jax():
    """Documented behaviour: negative ids wrap, ids beyond the table give NaN rows."""
    import keras

    ids = np.array([[0, 4, -1, 5, -6, 100]], "int32")
    layer = Embedding(5, 3)
    out = np.asarray(layer(ids))
    table = layer.embeddings.numpy()
    np.testing.assert_array_equal(out[0, :3], table[[0, 4, 4]])
    assert np.isnan(out[0, 3:]).all()
    reference = keras.layers.Embedding(5, 3)
    reference.build()
    reference.set_weights([table])
    np.testing.assert_array_equal(out, np.asarray(reference(ids)))


def test_input_length_and_weights_accepted():
    table = np.arange(8, dtype="float32").reshape(4, 2)
    layer = Embedding(4, 2, input_length=7, weights=[table])
    assert layer.built
    np.testing.assert_array_equal(layer(np.array([3, 1])), table[[3, 1]])
    assert "input_length" not in layer.get_config()
    np.testing.assert_array_equal(Embedding(4, 2, weights=table).embeddings.numpy(), table)


def test_gradient_reaches_only_looked_up_rows():
    layer = Embedding(6, 2)
    ids = np.array([[1, 1, 4]], "int32")
    layer(ids)

    def loss(table):
        out, _ = layer.stateless_call([table], [], ids)
        return out.sum()

    grad = np.asarray(jax.grad(loss)(layer.embeddings.value))
    np.testing.assert_array_equal(grad[:, 0], [0, 2, 0, 0, 1, 0])


def test_keras_config_loads():
    import keras

    config = keras.layers.Embedding(7, 3, mask_zero=True).get_config()
    layer = Embedding.from_config(config)
    assert (layer.input_dim, layer.output_dim, layer.mask_zero) == (7, 3, True)
    ours = layer.get_config()
    keras.layers.Embedding.from_config(ours)
    for key in set(ours) - {"name"}:
        assert ours[key] == config[key], key


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            {"input_dim": 0, "output_dim": 2},
            r"Embedding '.*': argument 'input_dim' must be a positive integer, got 0",
        ),
        ({"input_dim": 3.5, "output_dim": 2}, r"argument 'input_dim'.*got 3.5"),
        (
            {"input_dim": 5, "output_dim": -1},
            r"argument 'output_dim' must be a positive integer, got -1",
        ),
        ({"input_dim": 5, "output_dim": True}, r"argument 'output_dim'.*got True"),
        (
            {"input_dim": 5, "output_dim": 2, "lora_rank": 0},
            r"argument 'lora_rank' must be None or a positive integer; got 0",
        ),
        ({"input_dim": 5, "output_dim": 2, "embeddings_initializer": "nope"}, r"nope"),
        (
            {"input_dim": 5, "output_dim": 2, "weights": [np.zeros((4, 2))]},
            r"weight 'embeddings' has shape \(5, 2\).*\(4, 2\)",
        ),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Embedding(**kwargs)
