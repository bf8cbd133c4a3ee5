"""Optimizers written the Keras way (`build` adding Variables, `update_step` assigning
them), trained by `fit` and compared with Keras 3 (JAX backend)."""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import shoal  # noqa: E402

keras = pytest.importorskip("keras")


def _momentum_sgd(k):
    """Keras' own docstring example of a custom optimizer, plus an unreferenced counter."""

    class MomentumSGD(k.optimizers.Optimizer):
        def __init__(self, learning_rate=0.1, momentum=0.9, name="momentum_sgd", **kwargs):
            super().__init__(learning_rate=learning_rate, name=name, **kwargs)
            self.momentum = momentum

        def build(self, var_list):
            if self.built:
                return
            super().build(var_list)
            self.momentums = self.add_optimizer_variables(var_list, "momentum")
            self.count = self.add_variable((), name="count")

        def update_step(self, gradient, variable, learning_rate):
            ops = k.ops
            learning_rate = ops.cast(learning_rate, variable.dtype)
            m = self.momentums[self._get_variable_index(variable)]
            decayed = ops.multiply(m, ops.cast(self.momentum, variable.dtype))
            self.assign(m, ops.subtract(decayed, ops.multiply(gradient, learning_rate)))
            self.assign_add(variable, m)
            self.assign_add(self.count, 1.0)

        def get_config(self):
            return {**super().get_config(), "momentum": self.momentum}

    return MomentumSGD


def _trained(k, **options):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 5)).astype("float32")
    y = rng.standard_normal((32, 2)).astype("float32")
    model = k.Sequential([k.Input((5,)), k.layers.Dense(4, activation="relu"), k.layers.Dense(2)])
    model.set_weights(
        [
            np.random.default_rng(i).standard_normal(w.shape).astype("float32") * 0.3
            for i, w in enumerate(model.get_weights())
        ]
    )
    model.compile(_momentum_sgd(k)(**options), "mse")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize(
    "options",
    [{"weight_decay": 0.1, "clipnorm": 0.5}, {"gradient_accumulation_steps": 2, "use_ema": True}],
    ids=["decay-clip", "accumulate-ema"],
)
def test_keras_style_optimizer_trains_as_keras(options):
    ours, our_loss = _trained(shoal, **options)
    theirs, their_loss = _trained(keras, **options)
    np.testing.assert_allclose(our_loss, their_loss, rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    # Names without the per-process counters ("sequential_3_dense_7_kernel_momentum").
    def names(model):
        return [(re.sub(r"_\d+", "", v.name), tuple(v.shape)) for v in model.optimizer.variables]

    assert names(ours) == names(theirs)
    for a, b in zip(ours.optimizer.variables, theirs.optimizer.variables, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_keras_style_optimizer_saves_loads_and_applies_eagerly(tmp_path):
    model, _ = _trained(shoal)
    path = str(tmp_path / "custom.keras")
    model.save(path)
    cls = type(model.optimizer)
    loaded = shoal.saving.load_model(path, custom_objects={"MomentumSGD": cls})
    assert type(loaded.optimizer) is cls and loaded.optimizer.momentum == 0.9
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    w = shoal.Variable(np.ones(3, "float32"))
    opt = cls(learning_rate=0.5, momentum=0.5)
    opt.apply_gradients([(np.full(3, 2.0, "float32"), w)])
    opt.apply_gradients([(np.full(3, 2.0, "float32"), w)])
    # m1 = -1, w = 0; m2 = -0.5 - 1 = -1.5, w = -1.5
    np.testing.assert_allclose(w.numpy(), [-1.5] * 3)
    opt.set_weights([np.asarray(v) * 0 for v in opt.variables])
    assert float(np.asarray(opt.count)) == 0.0
    with pytest.raises(ValueError, match="'weights'.*a list of 4 arrays"):
        opt.set_weights([0])


def test_a_subclass_without_a_rule_says_what_to_implement():
    class NoRule(shoal.optimizers.Optimizer):
        pass

    w = shoal.Variable(np.ones(2, "float32"))
    with pytest.raises(NotImplementedError, match="NoRule must implement update_step"):
        NoRule().apply_gradients([(np.ones(2, "float32"), w)])
