"""Patterns from keras.io's vision examples (n-z) and keras_recipes that shoal got wrong,
each checked against what Keras 3 (JAX backend) does."""

import math

import jax
import numpy as np
import pytest

import shoal as keras
from shoal import layers, ops


def _fill(model, scale=0.3):
    """Give `model` the same weights in shoal and in Keras (seeded normals)."""
    weights = [
        np.random.default_rng(i).standard_normal(w.shape).astype("float32") * scale
        for i, w in enumerate(model.get_weights())
    ]
    model.set_weights(weights)
    return weights


# -- keras_recipes/subclassing_conv_layers: the convolution_op hook -------------------------


def _standardized_conv(base, ops_module):
    class StandardizedConv2D(base):
        def convolution_op(self, inputs, kernel):
            mean = ops_module.mean(kernel, axis=[0, 1, 2], keepdims=True)
            var = ops_module.var(kernel, axis=[0, 1, 2], keepdims=True)
            return super().convolution_op(inputs, (kernel - mean) / ops_module.sqrt(var + 1e-10))

    class StandardizedConv2DWithCall(base):
        def call(self, inputs):
            mean = ops_module.mean(self.kernel, axis=[0, 1, 2], keepdims=True)
            var = ops_module.var(self.kernel, axis=[0, 1, 2], keepdims=True)
            out = self.convolution_op(inputs, (self.kernel - mean) / ops_module.sqrt(var + 1e-10))
            return out + self.bias

    return StandardizedConv2D, StandardizedConv2DWithCall


def test_conv_convolution_op_is_the_overridable_convolution():
    import keras as K

    x = np.random.default_rng(0).random((2, 6, 6, 2)).astype("float32")
    for index in range(2):
        ours = _standardized_conv(layers.Conv2D, ops)[index](3, 3, activation="relu")
        theirs = _standardized_conv(K.layers.Conv2D, K.ops)[index](3, 3, activation="relu")
        ours.build(x.shape)
        theirs.build(x.shape)
        theirs.set_weights(_fill(ours))
        np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    plain = layers.Conv2D(3, 3)
    plain.build(x.shape)
    kernel = plain.kernel.value
    np.testing.assert_allclose(plain.convolution_op(x, kernel), plain(x) - plain.bias.value)


# -- keras_recipes/packaging_keras_models_for_wide_distribution -----------------------------


class _PackagedModel(keras.Model):
    """Functional subclassing: the graph is built in an __init__ taking only **kwargs."""

    def __init__(self, **kwargs):
        inputs = keras.Input(shape=(None, None, 1), dtype="uint8")
        x = layers.Rescaling(1 / 255.0)(inputs)
        x = layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3, padding="same")(x))
        outputs = layers.Dense(3, activation="softmax", name="classification_head")(x)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)


def test_functional_subclass_with_kwargs_only_init_saves_and_loads(tmp_path):
    model = _PackagedModel(name="packaged")
    config = model.get_config()
    assert "layers" not in config and config["name"] == "packaged"  # Keras: its own kwargs
    path = str(tmp_path / "packaged.keras")
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"_PackagedModel": _PackagedModel})
    assert type(loaded) is _PackagedModel and loaded.name == "packaged"
    x = np.random.default_rng(0).integers(0, 255, (2, 5, 7, 1)).astype("uint8")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


# -- keras_recipes/debugging_tips: a train_step logging compile_metrics' dict ----------------


class _NormalizedGradientModel(keras.Model):
    def train_step(self, state, data):
        trainable, non_trainable, optimizer_vars, metric_vars = state
        x, y = data

        def loss_fn(tv):
            pred, ntv = self.stateless_call(tv, non_trainable, x, training=True)
            return ops.mean(keras.losses.sparse_categorical_crossentropy(y, pred)), (pred, ntv)

        (loss, (pred, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable)
        grads = [g / (ops.norm(g) + 1e-12) for g in grads]
        trainable, optimizer_vars = self.optimizer.stateless_apply(optimizer_vars, grads, trainable)
        logs, new_metric_vars = {}, []
        for metric in self.metrics:
            own = metric_vars[len(new_metric_vars) : len(new_metric_vars) + len(metric.variables)]
            if metric.name == "loss":
                own = metric.stateless_update_state(own, loss)
            else:
                own = metric.stateless_update_state(own, y, pred)
            logs[metric.name] = metric.stateless_result(own)  # compile_metrics: a dict
            new_metric_vars += list(own)
        return logs, (trainable, non_trainable, optimizer_vars, new_metric_vars)


def test_train_step_logs_holding_a_dict_are_flattened():
    inputs = keras.Input((4,))
    model = _NormalizedGradientModel(inputs, layers.Dense(3, activation="softmax")(inputs))
    _fill(model)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((8, 4)).astype("float32")
    y = np.arange(8) % 3
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert sorted(history.history) == ["accuracy", "loss"]  # as Keras 3
    assert history.history["loss"][0] == pytest.approx(1.14969, abs=1e-4)  # Keras: 1.14969


# -- vision/zero_dce, vision/siamese_network: targetless models ------------------------------


class _Targetless(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)
        self.tracker = keras.metrics.Mean(name="total_loss")

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, x):
        return self.dense(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = ops.mean(ops.square(y_pred - 1.0))
        self.tracker.update_state(loss)
        return loss


def test_validation_data_may_be_a_one_tuple():
    model = _Targetless()
    model.compile(optimizer="adam")
    x = np.ones((4, 3), "float32")
    history = model.fit(x, validation_data=(x,), epochs=1, batch_size=2, verbose=0)
    assert sorted(history.history) == ["total_loss", "val_total_loss"]  # as Keras 3


# -- vision/super_resolution_sub_pixel: an image model of unknown spatial size ----------------


class _DepthToSpace(layers.Layer):
    def __init__(self, block_size, **kwargs):
        super().__init__(**kwargs)
        self.block_size = block_size

    def call(self, x):
        b, h, w, d = ops.shape(x)
        s = self.block_size
        x = ops.transpose(ops.reshape(x, (b, h, w, s, s, d // (s * s))), [0, 1, 3, 2, 4, 5])
        return ops.reshape(x, (b, h * s, w * s, d // (s * s)))


def test_targets_fit_an_output_with_unknown_spatial_dims():
    inputs = keras.Input((None, None, 1))
    features = layers.Conv2D(4, 3, padding="same")(inputs)
    model = keras.Model(inputs, _DepthToSpace(2)(features))
    assert model.output_shape == (None, None, None, 1)
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).random((2, 5, 5, 1)).astype("float32")
    history = model.fit(x, np.zeros((2, 10, 10, 1), "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    features_model = keras.Model(inputs, features)
    features_model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="entry by entry"):  # a real mismatch still fails
        features_model.fit(x, np.zeros((2, 5, 5, 3), "float32"), epochs=1, verbose=0)


# -- vision/vit_small_ds: MultiHeadAttention subclass overriding _compute_attention ----------


def _lsa_class(base, ops_module, variable):
    class LocalitySelfAttention(base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tau = variable(math.sqrt(float(self._key_dim)), trainable=True)

        def _compute_attention(
            self, query, key, value, attention_mask=None, training=None, return_scores=False
        ):
            query = ops_module.multiply(query, 1.0 / self.tau)
            scores = ops_module.einsum(self._dot_product_equation, key, query)
            scores = self._masked_softmax(scores, attention_mask)
            dropped = self._dropout_layer(scores, training=training)
            return ops_module.einsum(self._combine_equation, dropped, value), scores

    return LocalitySelfAttention


def test_multi_head_attention_compute_attention_override_with_keras_helpers():
    import keras as K

    x = np.random.default_rng(0).random((2, 4, 6)).astype("float32")
    mask = np.array([1 - np.eye(4)], "int8")
    ours = _lsa_class(layers.MultiHeadAttention, ops, keras.Variable)(num_heads=2, key_dim=3)
    theirs = _lsa_class(K.layers.MultiHeadAttention, K.ops, K.Variable)(num_heads=2, key_dim=3)
    ours(x, x)
    theirs(x, x)
    theirs.set_weights(_fill(ours))
    np.testing.assert_allclose(
        ours(x, x, attention_mask=mask), theirs(x, x, attention_mask=mask), rtol=1e-5, atol=1e-6
    )
    dropping = _lsa_class(layers.MultiHeadAttention, ops, keras.Variable)(
        num_heads=2, key_dim=3, dropout=0.5
    )
    out = dropping(x, x, training=True)
    assert out.shape == x.shape and np.all(np.isfinite(out))


# -- vision/shiftvit: layers with a SeedGenerator created in a sub-layer's build -------------


class _DropPath(layers.Layer):
    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(1337)

    def call(self, x, training=False):
        if not training:
            return x
        shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
        keep = ops.floor(1 - self.rate + keras.random.uniform(shape, seed=self.seed_generator))
        return x / (1 - self.rate) * keep


class _Block(layers.Layer):
    def build(self, input_shape):
        self.mlp = keras.Sequential([layers.Dense(input_shape[-1]), layers.Dropout(0.1)])
        self.drop_path = _DropPath(0.2)

    def call(self, x, training=False):
        return x + self.drop_path(self.mlp(x), training=training)


class _BlockModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.block = _Block()
        self.head = layers.Dense(2)

    def call(self, x, training=False):
        return self.head(self.block(x, training=training))


def test_seed_generators_created_while_a_subclassed_model_is_traced():
    model = _BlockModel()
    x = np.random.default_rng(0).random((4, 3)).astype("float32")
    assert model(x).shape == (4, 2)  # the first call traces `call` to build the layers
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, np.zeros((4, 2), "float32"), epochs=2, batch_size=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


# -- vision/nnclr: a non-trainable variable assigned in compute_loss -------------------------


class _QueueModel(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)
        self.queue = keras.Variable(np.zeros((4, 2), "float32"), trainable=False)

    def call(self, x):
        return self.dense(x)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        batch = ops.shape(y_pred)[0]
        self.queue.assign(ops.concatenate([y_pred, self.queue[:-batch]], axis=0))
        return ops.mean(ops.square(y_pred - ops.mean(self.queue)))


def test_non_trainable_variables_assigned_in_compute_loss_are_kept():
    model = _QueueModel()
    # No update: the queue holds the last batches' outputs, which predict then reproduces
    # (with a learning rate, an unseeded kernel made the last step move them past 1e-2).
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    x = np.arange(8, dtype="float32").reshape(4, 2)
    model.fit(x, epochs=1, batch_size=2, verbose=0, shuffle=False)
    queue = np.asarray(model.queue.value)
    assert np.abs(queue).max() > 0  # Keras: the two batches' outputs, newest first
    np.testing.assert_allclose(queue[:2], model.predict(x[2:], verbose=0), rtol=1e-2, atol=1e-2)


# -- vision/perceiver_image_classification: a batch-1 latent array merged with a batch -------


def test_merge_layers_of_a_built_model_broadcast_a_batch_of_one():
    a, b = keras.Input((3, 4)), keras.Input((3, 4))
    model = keras.Model([a, b], layers.Add()([a, b]))
    x = np.random.default_rng(0).random((5, 3, 4)).astype("float32")
    latent = np.random.default_rng(1).random((1, 3, 4)).astype("float32")
    np.testing.assert_allclose(model([x, latent]), x + latent, rtol=1e-6)  # as Keras 3
    with pytest.raises(ValueError, match="batch size"):  # building on such shapes still fails
        layers.Add()([x, latent])


# -- vision/video_transformers: a custom layer's MultiHeadAttention sees the input's mask ----


def _video_transformer(K):
    class FramesWithPositions(K.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.positions = K.layers.Embedding(input_dim=5, output_dim=4)

        def build(self, input_shape):
            self.positions.build(input_shape)

        def call(self, inputs):
            return inputs + self.positions(K.ops.arange(0, K.ops.shape(inputs)[1]))

        def compute_mask(self, inputs, mask=None):
            return K.ops.any(K.ops.cast(inputs, "bool"), axis=-1)

    class Encoder(K.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.attention = K.layers.MultiHeadAttention(num_heads=1, key_dim=4, dropout=0.3)
            self.norm = K.layers.LayerNormalization()

        def call(self, inputs, mask=None):
            attention_mask = None if mask is None else mask[:, None, :]
            return self.norm(inputs + self.attention(inputs, inputs, attention_mask=attention_mask))

    inputs = K.Input((None, 4))
    return K.Model(inputs, Encoder()(FramesWithPositions()(inputs)))


@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")  # Keras' warning
def test_masks_reach_the_sub_layers_of_a_custom_layer_in_a_model():
    import keras as K

    x = np.random.default_rng(0).random((2, 5, 4)).astype("float32")
    x[1, 3:] = 0  # padded frames
    ours, theirs = _video_transformer(keras), _video_transformer(K)
    ours(x)
    theirs(x)
    theirs.set_weights(_fill(ours))
    # Keras: the padded frames' queries are masked too (their rows attend to nothing).
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)
