"""Faults found by running Keras 3.15's own layer unit tests against shoal; each case is
compared with Keras 3.15 (JAX backend)."""

import numpy as np
import pytest

import shoal


def _keras():
    import keras

    return keras


def _activation_with_scale(lib):
    class Scaled(lib.layers.Activation):
        """A weightless layer's subclass that makes a weight in its own `build`."""

        def build(self, input_shape):
            self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="s")

        def call(self, x):
            return super().call(x) * self.s

    return Scaled


@pytest.mark.parametrize("lib_name", ["shoal", "keras"])
def test_subclass_overriding_build_of_a_weightless_layer_runs_its_build(lib_name):
    lib = shoal if lib_name == "shoal" else _keras()
    layer = _activation_with_scale(lib)("relu")
    assert not layer.built
    out = layer(np.array([[-1.0, 2.0, 3.0]], "float32"))
    assert layer.built and [w.shape for w in layer.weights] == [(3,)]
    np.testing.assert_allclose(np.asarray(out), [[0.0, 2.0, 3.0]])
    assert shoal.layers.Activation("relu").built  # without an own build: built at once


def _frozen_regularized(lib):
    x = np.ones((2, 4), "float32")
    layer = lib.layers.Dense(3, kernel_regularizer="l2", kernel_initializer="ones")
    layer(x)
    plain = len(layer.losses)
    layer.trainable = False
    model = lib.Sequential([lib.Input((4,)), layer])
    model.compile(optimizer="sgd", loss="mse")
    loss = model.evaluate(x, np.zeros((2, 3), "float32"), verbose=0)
    lora = lib.layers.Dense(3, kernel_regularizer="l2", lora_rank=2)
    lora(x)
    return plain, len(layer.losses), loss, len(lora.losses)


def test_frozen_weights_add_no_regularization_loss():
    ours, theirs = _frozen_regularized(shoal), _frozen_regularized(_keras())
    assert ours[:2] == theirs[:2] == (1, 0)
    np.testing.assert_allclose(ours[2], theirs[2], rtol=1e-6)  # 16.0, no 0.12 penalty
    assert ours[3] == theirs[3] == 2  # LoRA freezes the kernel: only lora_kernel_a/_b


def _lora_path(lib):
    class MyModel(lib.Model):
        def __init__(self):
            super().__init__(name="mymodel")
            self.dense = lib.layers.Dense(4, name="dense")

        def build(self, input_shape):
            self.dense.build(input_shape)

        def call(self, x):
            return self.dense(x)

    model = MyModel()
    model.build((None, 3))
    model.dense.enable_lora(2)
    return [w.path for w in model.dense.weights]


def test_weights_made_after_build_join_the_layer_path():
    assert _lora_path(shoal) == _lora_path(_keras())
    assert _lora_path(shoal)[-1] == "mymodel/dense/lora_kernel_b"


@pytest.mark.parametrize("policy", ["mixed_float16", "int8_from_float32"])
def test_dtype_policy_set_by_name(policy):
    def run(lib):
        layer = lib.layers.Dense(4)
        layer.build((None, 3))
        layer.dtype_policy = policy
        return layer.dtype_policy.name, layer.compute_dtype, [tuple(v.shape) for v in layer.weights]

    assert run(shoal) == run(_keras())


def test_input_layer_numpy_dims_and_deprecated_input_shape():
    keras = _keras()
    assert shoal.Input(shape=(np.int64(5),)).shape == keras.Input(shape=(np.int64(5),)).shape
    with pytest.warns(UserWarning, match="input_shape` is deprecated"):
        ours = shoal.layers.InputLayer(input_shape=(2, 3), batch_size=4)
    with pytest.warns(UserWarning, match="input_shape` is deprecated"):
        theirs = keras.layers.InputLayer(input_shape=(2, 3), batch_size=4)
    assert ours.batch_shape == tuple(theirs.batch_shape) == (4, 2, 3)
    with pytest.raises(ValueError, match="batch_size"):
        shoal.layers.InputLayer(batch_size=4, batch_shape=(2, 3))
    tensor = shoal.KerasTensor((2, 3), dtype="float32")
    with pytest.raises(ValueError, match="incompatible `dtype`"):
        shoal.layers.InputLayer(input_tensor=tensor, dtype="float16")
    with pytest.raises(ValueError, match="incompatible `shape`"):
        shoal.layers.InputLayer(input_tensor=tensor, shape=(4,))


def test_rms_normalization_built_without_batch_axis_and_mixed_precision():
    x = np.random.default_rng(0).normal(5, 10, size=(3, 2, 2, 2)).astype("float32")
    outs = []
    for lib in (shoal, _keras()):
        layer = lib.layers.RMSNormalization()
        layer.build((2, 2, 2))  # the batch axis left out: axis=-1 is still the last one
        outs.append(np.asarray(layer(x)))
        assert lib.layers.RMSNormalization(dtype="mixed_float16")(x).dtype == "float16"
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def test_batch_normalization_mask_with_feature_axis_1():
    x = np.random.default_rng(0).normal(5, 10, size=(5, 2, 3)).astype("float32")
    x[:, 1, :] = 0
    results = []
    for lib in (shoal, _keras()):
        layer = lib.layers.BatchNormalization(axis=1, momentum=0)
        masked = lib.layers.Masking()(x)
        out = layer(masked, training=True)
        results.append((np.asarray(out), np.asarray(layer.moving_mean)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-6)


def _conv_lora(lib):
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    rng = np.random.default_rng(1)
    layer = lib.layers.Conv2D(4, 3, kernel_regularizer="l2", lora_rank=2, lora_alpha=4)
    layer.build(x.shape)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    names = [w.path.split("/")[-1] for w in layer.trainable_weights]
    config = {k: layer.get_config()[k] for k in ("lora_rank", "lora_alpha")}
    return np.asarray(layer(x)), names, len(layer.losses), config


def test_conv_lora_as_keras():
    ours, theirs = _conv_lora(shoal), _conv_lora(_keras())
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-4)
    assert ours[1:] == theirs[1:]
    assert ours[1] == ["bias", "lora_kernel_a", "lora_kernel_b"]
    layer = shoal.layers.Conv1D(2, 3)
    layer.build((None, 5, 3))
    layer.enable_lora(1)
    assert [tuple(w.shape) for w in layer.weights] == [(3, 3, 2), (2,), (3, 3, 1), (1, 2)]


def test_attention_scores_are_reported_after_dropout():
    q = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    v = np.random.default_rng(1).normal(size=(2, 5, 4)).astype("float32")
    for lib in (shoal, _keras()):
        layer = lib.layers.Attention(dropout=0.5, seed=1)
        _, full = layer([q, v], return_attention_scores=True)
        _, kept = layer([q, v], return_attention_scores=True, training=True)
        kept, full = np.asarray(kept), np.asarray(full)
        assert (kept == 0).any()
        np.testing.assert_allclose(kept, np.where(kept == 0, 0, 2 * full), rtol=1e-5, atol=1e-6)


def _embedding_lora(lib, tmp_path):
    ids = np.array([[1, 2, 0], [3, 4, 5]])
    layer = lib.layers.Embedding(6, 4, lora_rank=2, embeddings_regularizer="l2")
    layer(ids)
    rng = np.random.default_rng(1)
    for w in layer.weights:
        w.assign(rng.normal(size=w.shape).astype("float32"))
    model = lib.Sequential([lib.Input((3,), dtype="int32"), layer])
    path = str(tmp_path / f"{lib.__name__}.weights.h5")
    model.save_weights(path)  # the merged table only
    plain = lib.Sequential([lib.Input((3,), dtype="int32"), lib.layers.Embedding(6, 4)])
    plain.load_weights(path)
    names = [w.path.split("/")[-1] for w in layer.trainable_weights]
    config = {k: layer.get_config()[k] for k in ("lora_rank", "lora_alpha")}
    return np.asarray(layer(ids)), np.asarray(plain(ids)), names, len(layer.losses), config


def test_embedding_lora_as_keras(tmp_path):
    ours, theirs = _embedding_lora(shoal, tmp_path), _embedding_lora(_keras(), tmp_path)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours[1], ours[0], rtol=1e-5, atol=1e-5)
    assert ours[2:] == theirs[2:]
    assert ours[2] == ["lora_embeddings_a", "lora_embeddings_b"]


@pytest.mark.parametrize("make", ["embedding", "dense"])
def test_model_of_layers_built_by_hand_saves_and_loads(make, tmp_path):
    x = np.random.default_rng(0).integers(0, 9, size=(4, 3))
    if make == "embedding":
        layer = shoal.layers.Embedding(10, 4)
        layer.build()
    else:
        layer = shoal.layers.Dense(2)
        layer.build((None, 3))
        x = x.astype("float32")
    model = shoal.Sequential([layer])  # no Input: the layer's own build is what is saved
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = shoal.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert layer.get_build_config() is not None
