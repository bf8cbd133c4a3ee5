"""Faults that keras.io vision examples (a-m) hit, each checked against Keras 3 (JAX).

The examples: captcha_ocr (validation_data as a dict of inputs for a model whose loss comes
from add_loss), knowledge_distillation (a Distiller holding a compiled teacher), edsr (a fully
convolutional model with an L1 loss, a function metric, a JAX-style train_step),
image_captioning (a subclassed decoder whose attention masks come from a masking embedding),
and image_classification_with_vision_transformer (resizing uint8 images).
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import shoal

keras = pytest.importorskip("keras")


def _close(a, b, rtol=1e-4, atol=1e-5):
    a_leaves, b_leaves = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    assert len(a_leaves) == len(b_leaves)
    for x, y in zip(a_leaves, b_leaves, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _history_close(ours, theirs):
    assert sorted(ours) == sorted(theirs), (ours, theirs)
    for k in theirs:
        _close(ours[k], theirs[k], rtol=1e-3, atol=1e-5)


# -- captcha_ocr: validation_data given as a dict of inputs (the loss is an add_loss) --------


def _add_loss_model(lib):
    class EndpointLoss(lib.layers.Layer):
        def call(self, target, pred):
            self.add_loss(lib.ops.mean(lib.ops.square(target - pred)))
            return pred

    image = lib.Input((3,), name="image")
    label = lib.Input((2,), name="label")
    pred = lib.layers.Dense(2, name="dense")(image)
    model = lib.Model([image, label], EndpointLoss(name="endpoint")(label, pred))
    model.compile(optimizer=lib.optimizers.SGD(0.1))
    return model


def test_validation_data_as_dict_of_inputs_and_as_list():
    rng = np.random.default_rng(0)
    data = {"image": rng.random((4, 3), "float32"), "label": rng.random((4, 2), "float32")}
    theirs, ours = _add_loss_model(keras), _add_loss_model(shoal)
    ours.set_weights(theirs.get_weights())
    histories = {
        name: model.fit(
            data, validation_data=data, epochs=2, batch_size=2, shuffle=False, verbose=0
        ).history
        for name, model in (("keras", theirs), ("shoal", ours))
    }
    _history_close(histories["shoal"], histories["keras"])
    assert "val_loss" in histories["shoal"]

    # A list [x, y] is read as the tuple (x, y), as Keras does.
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = data["image"], data["image"][:, :1]
    history = model.fit(x, y, validation_data=[x, y], epochs=1, verbose=0).history
    assert sorted(history) == ["loss", "val_loss"]
    # A bare array is inputs alone, as Keras reads it: a model compiled with a loss then
    # says it needs targets, before it trains (its weights are untouched).
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"Targets are required.*`validation_data`"):
        model.fit(x, y, validation_data=x, epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"`validation_data` must be a tuple.*list of 4"):
        model.fit(x, y, validation_data=[x, y, y, y], epochs=1, verbose=0)


# -- knowledge_distillation: a Distiller model holding a compiled teacher ---------------------


def _distiller_history(lib, weights=None):
    ops = lib.ops

    class Distiller(lib.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher, self.student = teacher, student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn):
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, **kwargs):
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation = self.distillation_loss_fn(
                ops.softmax(teacher_pred / 3.0, axis=1), ops.softmax(y_pred / 3.0, axis=1)
            )
            return 0.1 * student_loss + 0.9 * distillation * 9.0

        def call(self, x):
            return self.student(x)

    def net(name):
        return lib.Sequential([lib.Input((4,)), lib.layers.Dense(3)], name=name)

    teacher, student = net("teacher"), net("student")
    if weights is not None:
        teacher.set_weights(weights[0])
        student.set_weights(weights[1])
    weights = (teacher.get_weights(), student.get_weights())
    rng = np.random.default_rng(1)
    x, y = rng.random((8, 4), "float32"), rng.integers(0, 3, 8)
    sparse = lib.losses.SparseCategoricalCrossentropy(from_logits=True)
    teacher.compile(optimizer="adam", loss=sparse, metrics=["sparse_categorical_accuracy"])
    teacher.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0)
    distiller = Distiller(student, teacher)
    distiller.compile(
        optimizer=lib.optimizers.Adam(),
        metrics=[lib.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=sparse,
        distillation_loss_fn=lib.losses.KLDivergence(),
    )
    history = distiller.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history
    evaluated = distiller.evaluate(x, y, verbose=0, return_dict=True)
    return weights, history, evaluated, [m.name for m in distiller.metrics]


def test_compiled_submodel_metrics_stay_out_of_the_outer_model_logs():
    weights, theirs, theirs_eval, their_names = _distiller_history(keras)
    _, ours, ours_eval, our_names = _distiller_history(shoal, weights)
    _history_close(ours, theirs)
    _history_close(ours_eval, theirs_eval)
    assert sorted(ours) == ["loss", "sparse_categorical_accuracy"]
    assert our_names == their_names == ["loss", "compile_metrics"]


# -- edsr: a fully convolutional model, a function metric, a JAX-style train_step -----------


def _edsr(lib, custom_step):
    ops = lib.ops

    def PSNR(super_resolution, high_resolution):
        return ops.psnr(high_resolution, super_resolution, max_val=255)

    class EDSRModel(lib.Model):
        def train_step(self, state, data):
            trainable, non_trainable, optimizer_vars, metrics_vars = state
            x, y = data

            def loss_fn(tv, ntv):
                y_pred, ntv = self.stateless_call(tv, ntv, x, training=True)
                return self.compute_loss(x, y, y_pred), (y_pred, ntv)

            grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
            (loss, (y_pred, non_trainable)), grads = grad_fn(trainable, non_trainable)
            trainable, optimizer_vars = self.optimizer.stateless_apply(
                optimizer_vars, grads, trainable
            )
            logs, new_metrics_vars = {}, []
            for metric in self.metrics:  # the loss tracker, then "compile_metrics"
                n = len(new_metrics_vars)
                this = metrics_vars[n : n + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, y, y_pred)
                logs[metric.name] = metric.stateless_result(this)  # a dict for compile_metrics
                new_metrics_vars += this
            return logs, (trainable, non_trainable, optimizer_vars, new_metrics_vars)

    image = lib.Input((None, None, 3))
    x = lib.layers.Rescaling(1.0 / 255)(image)
    x = lib.layers.Conv2D(12, 3, padding="same")(x)
    x = ops.depth_to_space(x, 2)
    x = lib.layers.Rescaling(255.0)(x)
    cls = EDSRModel if custom_step else lib.Model
    model = cls(image, x)
    model.compile(optimizer=lib.optimizers.Adam(1e-2), loss="mae", metrics=[PSNR])
    return model


@pytest.mark.parametrize("custom_step", [False, True], ids=["fit", "custom_train_step"])
def test_fully_convolutional_l1_model_with_function_metric(custom_step):
    rng = np.random.default_rng(2)
    low = (rng.random((4, 6, 6, 3)) * 255).astype("float32")
    high = (rng.random((4, 12, 12, 3)) * 255).astype("float32")
    theirs, ours = _edsr(keras, custom_step), _edsr(shoal, custom_step)
    ours.set_weights(theirs.get_weights())
    histories = {
        name: model.fit(
            low, high, validation_data=(low, high), epochs=2, batch_size=2, shuffle=False, verbose=0
        ).history
        for name, model in (("keras", theirs), ("shoal", ours))
    }
    # The function metric logs under its snake-cased name ("psnr"), as in Keras.
    assert sorted(histories["shoal"]) == ["loss", "psnr", "val_loss", "val_psnr"]
    _history_close(histories["shoal"], histories["keras"])


def test_target_shape_check_still_catches_a_mismatch_on_a_known_axis():
    model = shoal.Sequential([shoal.Input((None, 3)), shoal.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mae")
    with pytest.raises(ValueError, match=r"`y` has shape \(4, 5, 3\).*\(None, None, 2\)"):
        model.fit(np.zeros((4, 5, 3), "float32"), np.zeros((4, 5, 3), "float32"), verbose=0)


# -- image_captioning: masks carried into a subclassed layer's attention --------------------


def _decoder(lib):
    ops = lib.ops

    class TokenEmbedding(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tokens = lib.layers.Embedding(9, 6)

        def call(self, inputs):
            return self.tokens(inputs)

        def compute_mask(self, inputs, mask=None):
            return ops.not_equal(inputs, 0)

    class Decoder(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = TokenEmbedding()
            self.attention = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3)
            self.out = lib.layers.Dense(4)

        def call(self, tokens, context):
            x = self.embedding(tokens)
            # self-attention: the embedding's mask reaches query_mask, value_mask, key_mask
            x = x + self.attention(query=x, value=x, key=x)
            return self.out(x + ops.mean(context, axis=1, keepdims=True))

    return Decoder()


def test_eager_calls_route_carried_masks_to_name_mask_arguments():
    tokens = np.array([[3, 4, 5, 0], [2, 7, 0, 0]], "int32")
    context = np.random.default_rng(3).random((2, 5, 6)).astype("float32")
    theirs, ours = _decoder(keras), _decoder(shoal)
    theirs(tokens, context)
    ours(tokens, context)
    ours.set_weights(theirs.get_weights())
    expected = theirs(tokens, context)
    _close(ours(tokens, context), expected)
    # and the same inside a jitted computation (tracers carry masks too)
    _close(jax.jit(lambda t, c: ours(t, c))(tokens, context), expected)
    # without the masks the padded keys would be attended to
    e = ours.embedding(tokens)
    masked = ours.attention(e, e)
    plain = ours.attention(np.asarray(e), np.asarray(e))
    assert not np.allclose(np.asarray(masked)[:, :2], np.asarray(plain)[:, :2], atol=1e-6)


# -- image_classification_with_vision_transformer / learnable_resizer: resizing uint8 images --


def test_resize_keeps_integer_dtype_as_keras():
    image = (np.random.default_rng(4).random((1, 10, 12, 3)) * 255).astype("uint8")
    for call in (
        lambda lib: lib.ops.image.resize(image, (8, 8)),
        lambda lib: lib.ops.image.resize(image.astype("int32"), (5, 7), antialias=True),
        lambda lib: lib.ops.image.resize(image, (6, 6), crop_to_aspect_ratio=True),
        lambda lib: lib.layers.Resizing(5, 5)(image),
    ):
        ours, theirs = call(shoal), call(keras)
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    # smart_resize gives floats, and a NumPy array for a NumPy image, as Keras
    ours = shoal.preprocessing.image.smart_resize(image[0], (5, 5))
    theirs = keras.preprocessing.image.smart_resize(image[0], (5, 5))
    assert type(ours) is np.ndarray and ours.dtype == theirs.dtype == np.float32
    _close(ours, theirs)
