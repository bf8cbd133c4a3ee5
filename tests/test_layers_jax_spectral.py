"""JaxLayer and SpectralNormalization, against raw JAX functions and Keras 3 (JAX backend)."""

import os
import re
import tempfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from harness import make_input, run_layer_test

import shoal
from shoal.layers.conv import Conv2D
from shoal.layers.core import Dense
from shoal.layers.jax_layer import JaxLayer
from shoal.layers.spectral_normalization import SpectralNormalization

# -- JaxLayer models --------------------------------------------------------------------


@shoal.saving.register_keras_serializable(package="shoal_tests")
def mlp_call(params, inputs):
    h = jax.nn.relu(inputs @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


@shoal.saving.register_keras_serializable(package="shoal_tests")
def mlp_init(rng, inputs):
    k1, k2 = jax.random.split(rng)
    d = inputs.shape[-1]
    return {
        "w1": jax.random.normal(k1, (d, 5)) * 0.5,
        "b1": jnp.zeros(5),
        "w2": jax.random.normal(k2, (5, 1)) * 0.5,
        "b2": jnp.zeros(1),
    }


def running_mean_call(params, state, inputs, training):
    """Batch-norm-like: centre by the batch mean in training, by the running mean otherwise."""
    if training:
        mean = jnp.mean(inputs, axis=0)
        new_state = {"mean": 0.5 * state["mean"] + 0.5 * mean, "count": state["count"] + 1}
    else:
        mean, new_state = state["mean"], state
    return (inputs - mean) * params["scale"], new_state


def dropout_call(rng, inputs, training):
    if not training:
        assert rng is None
        return inputs
    keep = jax.random.bernoulli(rng, 0.5, inputs.shape)
    return jnp.where(keep, inputs * 2.0, 0.0)


def _params_of(layer):
    """The layer's params pytree as plain arrays."""
    return jax.tree_util.tree_map(
        lambda v: jnp.asarray(v.numpy()), layer.params, is_leaf=lambda x: hasattr(x, "numpy")
    )


def test_jax_layer_mlp_trains_with_fit_in_functional_model():
    shoal.utils.set_random_seed(0)
    x = make_input((16, 3), seed=1)
    y = (x.sum(axis=1, keepdims=True) > 0).astype("float32")
    inputs = shoal.Input((3,))
    layer = JaxLayer(mlp_call, mlp_init)
    model = shoal.Model(inputs, layer(inputs))
    # Flattened in jax.tree_util order of the dict keys: b1, b2, w1, w2.
    assert [w.shape for w in layer.trainable_weights] == [(5,), (1,), (3, 5), (5, 1)]
    assert layer.non_trainable_weights == []
    before = [w.copy() for w in model.get_weights()]
    model.compile(optimizer=shoal.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    # The trained layer computes exactly the raw function with its current params.
    np.testing.assert_allclose(
        model.predict(x, verbose=0), mlp_call(_params_of(layer), x), rtol=1e-5, atol=1e-6
    )


def test_jax_layer_params_from_pytree_match_keras():
    import keras

    rng = np.random.default_rng(0)
    params = {
        "w1": rng.standard_normal((3, 5)).astype("float32"),
        "b1": rng.standard_normal(5).astype("float32"),
        "w2": rng.standard_normal((5, 1)).astype("float32"),
        "b2": np.zeros(1, "float64"),  # float leaves take the layer's dtype
    }
    x = make_input((4, 3))
    layer = JaxLayer(mlp_call, params=params)
    out = layer(x)
    np.testing.assert_allclose(out, mlp_call(params, x), rtol=1e-5, atol=1e-6)
    ref = keras.layers.JaxLayer(mlp_call, params=params)
    np.testing.assert_allclose(out, np.asarray(ref(x)), rtol=1e-6, atol=1e-6)

    # Keras numbers unnamed variables by a process-wide counter ("variable_36" after other
    # tests made some): names compare without that suffix.
    def stem(name):
        return re.sub(r"_\d+$", "", name)

    ours = [(stem(w.name), w.shape, w.dtype, w.trainable) for w in layer.weights]
    theirs = [(stem(w.name), tuple(w.shape), w.dtype, w.trainable) for w in ref.weights]
    assert ours == theirs
    assert layer.weights[1].dtype == "float32"
    # The weights are live: changing them changes the call.
    layer.set_weights([w * 0 for w in layer.get_weights()])
    np.testing.assert_allclose(layer(x), np.zeros((4, 1)))


def test_jax_layer_state_updates():
    params = {"scale": np.float32(2.0)}
    state = {"mean": np.zeros(2, "float32"), "count": np.int32(0)}
    layer = JaxLayer(running_mean_call, params=params, state=state)
    x = np.array([[1.0, 2.0], [3.0, 6.0]], "float32")
    assert [w.shape for w in layer.non_trainable_weights] == [(), (2,)]
    out = layer(x, training=True)
    np.testing.assert_allclose(out, (x - x.mean(0)) * 2.0)
    np.testing.assert_allclose(layer.state["mean"].numpy(), [1.0, 2.0])
    assert int(layer.state["count"].numpy()) == 1
    # Inference uses, and keeps, the running mean.
    np.testing.assert_allclose(layer(x), (x - [1.0, 2.0]) * 2.0)
    assert int(layer.state["count"].numpy()) == 1
    # Inside fit the state update is carried by the pure step and written back.
    inputs = shoal.Input((2,))
    model = shoal.Model(inputs, layer(inputs))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros_like(x), epochs=1, batch_size=2, verbose=0)
    assert int(layer.state["count"].numpy()) == 2
    np.testing.assert_allclose(layer.state["mean"].numpy(), [1.5, 3.0], rtol=1e-6)


def test_jax_layer_state_structure_mismatch_raises():
    def bad(params, state, inputs):
        return inputs, {"other": state["mean"]}

    layer = JaxLayer(bad, params={"w": np.ones(2, "float32")}, state={"mean": np.zeros(2)})
    with pytest.raises(ValueError, match="structure"):
        layer(np.ones((1, 2), "float32"))


def test_jax_layer_rng_only_in_training():
    x = np.ones((4, 32), "float32")
    layer = JaxLayer(dropout_call, seed=3)
    np.testing.assert_array_equal(layer(x), x)
    a, b = np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))
    assert set(np.unique(a)) <= {0.0, 2.0} and 0 < (a == 0).mean() < 1
    assert not np.array_equal(a, b)  # a fresh key each call
    # In fit the key comes from the step's rng: a dropout-like model still trains.
    inputs = shoal.Input((32,))
    model = shoal.Model(inputs, Dense(1)(layer(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_jax_layer_init_fn_gets_training_and_rng_key_data():
    seen = {}

    def init_fn(rng, inputs, training):
        seen.update(rng=rng, shape=inputs.shape, training=training)
        return {"w": jnp.ones((inputs.shape[-1], 2))}

    def call_fn(params, inputs):
        return inputs @ params["w"]

    inputs = shoal.Input((3,))
    JaxLayer(call_fn, init_fn)(inputs)
    assert seen["shape"] == (1, 3) and seen["training"] is True
    assert np.asarray(seen["rng"]).dtype == np.uint32


@pytest.mark.parametrize(
    "call_fn, init_fn, match",
    [
        (lambda params, x: x, None, "'call_fn'.*unsupported parameter 'x'"),
        (lambda params, state: state, None, "'call_fn'.*missing the required parameter 'inputs'"),
        (lambda inputs: inputs, lambda key, inputs: None, "'init_fn'.*unsupported parameter 'key'"),
        (lambda params, inputs: inputs, None, "'init_fn', 'params' and 'state' cannot all be None"),
        ("not a function", None, "'call_fn' must be a callable, got 'not a function'"),
    ],
)
def test_jax_layer_bad_signatures(call_fn, init_fn, match):
    with pytest.raises(ValueError, match=match):
        JaxLayer(call_fn, init_fn)


def test_jax_layer_bad_seed():
    with pytest.raises(ValueError, match="'seed' must be an integer or None, got 'a'"):
        JaxLayer(lambda inputs: inputs, seed="a")


def test_jax_layer_config_and_save_load():
    import keras

    layer = JaxLayer(mlp_call, mlp_init, name="mlp")
    ref = keras.layers.JaxLayer(mlp_call, mlp_init, name="mlp")
    assert list(layer.get_config()) == list(ref.get_config())
    config = layer.get_config()
    assert config["call_fn"]["config"].endswith("mlp_call")
    clone = JaxLayer.from_config(config)
    assert clone.call_fn is mlp_call and clone.init_fn is mlp_init
    assert clone.get_config() == config

    x = make_input((4, 3))
    inputs = shoal.Input((3,))
    model = shoal.Model(inputs, layer(inputs))
    before = model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = shoal.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6, atol=1e-6)

    # As in Keras, params are not in the config: without init_fn it cannot be rebuilt.
    fixed = JaxLayer(mlp_call, params=_params_of(layer)).get_config()
    with pytest.raises(ValueError, match="cannot all be None"):
        JaxLayer.from_config(fixed)


# -- SpectralNormalization ----------------------------------------------------------------


def _keras_twin(keras_inner, shoal_layer, x, power_iterations=1):
    import keras

    ref = keras.layers.SpectralNormalization(keras_inner, power_iterations=power_iterations)
    ref(x)
    ref.set_weights(shoal_layer.get_weights())
    return ref


@pytest.mark.parametrize("power_iterations", [1, 3])
def test_spectral_dense_matches_keras(power_iterations):
    import keras

    x = make_input((3, 4))
    layer = SpectralNormalization(Dense(5), power_iterations=power_iterations)
    layer(x)
    assert [(w.name, w.shape, w.trainable) for w in layer.weights] == [
        ("kernel", (4, 5), True),
        ("vector_u", (1, 5), False),
        ("bias", (5,), True),
    ]
    ref = _keras_twin(keras.layers.Dense(5), layer, x, power_iterations)
    assert [tuple(w.shape) for w in ref.weights] == [w.shape for w in layer.weights]
    np.testing.assert_allclose(layer(x), np.asarray(ref(x)), rtol=1e-6, atol=1e-6)
    kernel_before = layer.layer.kernel.numpy().copy()
    for _ in range(2):  # training calls normalise the kernel and advance u
        out = layer(x, training=True)
        np.testing.assert_allclose(out, np.asarray(ref(x, training=True)), rtol=1e-5, atol=1e-6)
    for ours, theirs in zip(layer.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(layer.layer.kernel.numpy(), kernel_before)
    # After enough iterations the kernel's largest singular value is ~1.
    assert abs(np.linalg.svd(layer.layer.kernel.numpy(), compute_uv=False)[0] - 1) < 0.2
    assert sorted(layer.get_config()) == sorted(ref.get_config())


def test_spectral_conv_matches_keras_in_training():
    import keras

    x = make_input((2, 5, 5, 2))
    layer = SpectralNormalization(Conv2D(3, 2))
    layer(x)
    assert layer.vector_u.shape == (1, 3)
    ref = _keras_twin(keras.layers.Conv2D(3, 2), layer, x)
    np.testing.assert_allclose(
        layer(x, training=True), np.asarray(ref(x, training=True)), rtol=1e-5, atol=1e-5
    )
    for ours, theirs in zip(layer.get_weights(), ref.get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_spectral_zero_kernel_is_left_alone():
    layer = SpectralNormalization(Dense(2, kernel_initializer="zeros"))
    x = make_input((2, 3))
    layer(x)
    u = layer.vector_u.numpy().copy()
    out = layer(x, training=True)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(layer.vector_u.numpy(), u)


def test_spectral_layer_harness():
    # Inference path: shapes, gradients, config and save/load round trips.
    run_layer_test(
        SpectralNormalization,
        {"layer": Dense(3), "power_iterations": 2},
        input_shape=(2, 4),
        expected_output_shape=(2, 3),
        compare_keras=False,
    )


def test_spectral_fit_updates_vector_u():
    shoal.utils.set_random_seed(0)
    x = make_input((8, 4))
    inputs = shoal.Input((4,))
    layer = SpectralNormalization(Dense(1))
    model = shoal.Model(inputs, layer(inputs))
    u = layer.vector_u.numpy().copy()
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, np.ones((8, 1), "float32"), epochs=2, batch_size=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert not np.allclose(layer.vector_u.numpy(), u)
    np.testing.assert_allclose(np.linalg.norm(layer.vector_u.numpy()), 1.0, rtol=1e-5)


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_spectral_bad_power_iterations(value):
    with pytest.raises(ValueError, match=rf"'power_iterations'.*power_iterations={value!r}"):
        SpectralNormalization(Dense(2), power_iterations=value)


def test_spectral_bad_layer():
    with pytest.raises(ValueError, match="'layer' must be a shoal.layers.Layer"):
        SpectralNormalization("dense")
    layer = SpectralNormalization(shoal.layers.Flatten())
    with pytest.raises(ValueError, match="'kernel' or an 'embeddings' weight.*Flatten"):
        layer(make_input((2, 3)))
