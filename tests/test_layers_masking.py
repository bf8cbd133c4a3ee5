"""Masking: zeroes fully-masked timesteps and hands a mask to recurrent layers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import run_layer_test
from test_layers_wrappers import RNN_LAYERS, TinyRNN, _findable_by_name, needs_recurrent

import shoal
from shoal.layers.masking import Masking

__all__ = ["_findable_by_name"]  # the autouse fixture, shared with the wrappers tests


def _padded(shape=(3, 5, 4), seed=0, value=0.0):
    x = np.random.default_rng(seed).standard_normal(shape).astype("float32")
    x[0, 3:] = value  # trailing padding
    x[1, :2] = value  # leading padding
    x[2, 2] = value  # a padded step in the middle
    x[2, 4, 1] = value  # one matching feature does not mask a step
    return x


@pytest.mark.parametrize("mask_value", [0.0, -1.0])
def test_masking(mask_value):
    x = _padded(value=mask_value)
    # Finite differences would move inputs off `mask_value` (a step function): the
    # gradient is checked exactly below instead.
    layer, out = run_layer_test(
        Masking,
        {"mask_value": mask_value},
        input_data=x,
        expected_output_shape=x.shape,
        check_grad=False,
    )
    keep = np.any(x != mask_value, axis=-1)
    np.testing.assert_array_equal(layer.compute_mask(x), keep)
    np.testing.assert_array_equal(out, np.where(keep[..., None], x, 0.0))
    assert keep[2, 4] and not keep[2, 2]
    grad = jax.grad(lambda v: jnp.sum(layer(v) * 3.0))(jnp.asarray(x))
    np.testing.assert_array_equal(grad, np.broadcast_to(3.0 * keep[..., None], x.shape))


def test_symbolic_mask_and_config():
    x = shoal.Input((5, 4))
    y = Masking(mask_value=2.0)(x)
    assert y.shape == (None, 5, 4)
    assert y._keras_mask.shape == (None, 5) and y._keras_mask.dtype == "bool"
    assert Masking(mask_value=2.0).get_config()["mask_value"] == 2.0
    per_feature = Masking(mask_value=[0.0, 1.0])  # one value per feature, as an array
    x = np.array([[[0.0, 1.0], [0.0, 2.0]]], "float32")
    np.testing.assert_array_equal(per_feature.compute_mask(x), [[False, True]])
    np.testing.assert_array_equal(
        Masking.from_config(per_feature.get_config()).compute_mask(x), [[False, True]]
    )
    with pytest.raises(ValueError, match=r"Masking .*'mask_value'.*number.*got 'zero'"):
        Masking(mask_value="zero")


@pytest.mark.parametrize("kind", ["tiny", pytest.param("LSTM", marks=needs_recurrent)])
def test_masking_then_recurrent_matches_keras(kind):
    import keras

    x = _padded()
    if kind == "tiny":
        s_rnn, k_rnn = (
            TinyRNN(3, return_sequences=True),
            keras.layers.SimpleRNN(3, return_sequences=True),
        )
    else:
        s_rnn = RNN_LAYERS[kind](3, return_sequences=True)
        k_rnn = getattr(keras.layers, kind)(3, return_sequences=True)
    s_model = shoal.Sequential([shoal.Input((5, 4)), Masking(), s_rnn])
    k_model = keras.Sequential([keras.Input((5, 4)), keras.layers.Masking(), k_rnn])
    s_rnn.set_weights(k_rnn.get_weights())
    got = np.asarray(s_model(x))
    np.testing.assert_allclose(got, np.asarray(k_model(x)), rtol=1e-5, atol=1e-6)
    # Masked steps repeat the previous output (zeros before the first real step).
    np.testing.assert_allclose(got[0, 3], got[0, 2])
    np.testing.assert_array_equal(got[1, :2], 0.0)
    np.testing.assert_allclose(got[2, 2], got[2, 1])
    np.testing.assert_allclose(s_model.predict(x, verbose=0), got, rtol=1e-5, atol=1e-6)
