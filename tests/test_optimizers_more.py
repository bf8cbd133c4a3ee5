"""Lamb, Muon, ScheduleFreeAdamW, MultiOptimizer / OptimizerMap and the SwapEMAWeights
callback against Keras 3.15 (JAX backend): same initial values, same gradients."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import shoal
import shoal.optimizers as so
from shoal.backend.variables import Variable
from shoal.callbacks.callback import Callback
from shoal.callbacks.swap_ema_weights import SwapEMAWeights
from shoal.optimizers.lamb import Lamb
from shoal.optimizers.multi_optimizer import MultiOptimizer, OptimizerMap
from shoal.optimizers.muon import Muon
from shoal.optimizers.schedule_free import ScheduleFreeAdamW

OURS = {"Lamb": Lamb, "Muon": Muon, "ScheduleFreeAdamW": ScheduleFreeAdamW}
# Ranks 1-3; two more 2-D variables, one named like an embedding (Muon gives it AdamW).
SHAPES = {"v0": (3, 4), "v1": (4,), "v2": (2, 2, 3), "v3": (5, 2), "token_embedding": (6, 3)}
_RNG = np.random.default_rng(0)
INIT = [_RNG.normal(size=s).astype("float32") for s in SHAPES.values()]
# Gradients of varying size, so that the clipping options bite on some steps only.
GRADS = [
    [(_RNG.normal(size=s) * (1 + 2 * (k % 3))).astype("float32") for s in SHAPES.values()]
    for k in range(6)
]
SCHEDULE = {
    "module": "keras.optimizers.schedules",
    "class_name": "ExponentialDecay",
    "config": {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.5},
    "registered_name": None,
}

CASES = [
    ("Lamb", {}),
    ("Lamb", {"weight_decay": 0.1, "learning_rate": 0.01}),
    ("Lamb", {"clipnorm": 1.0, "use_ema": True, "ema_overwrite_frequency": 2}),
    ("Lamb", {"gradient_accumulation_steps": 2, "learning_rate": SCHEDULE}),
    ("Muon", {}),
    ("Muon", {"nesterov": False, "rms_rate": None, "adam_lr_ratio": 0.1, "learning_rate": 0.01}),
    (
        "Muon",
        {
            "exclude_layers": ["v3"],
            "exclude_embeddings": False,
            "weight_decay": 0.1,
            "adam_weight_decay": None,
        },
    ),
    (
        "Muon",
        {
            "ns_steps": 3,
            "momentum": 0.9,
            "use_ema": True,
            "global_clipnorm": 2.0,
            "learning_rate": SCHEDULE,
        },
    ),
    ("Muon", {"gradient_accumulation_steps": 2, "clipvalue": 0.5, "loss_scale_factor": 4.0}),
    ("ScheduleFreeAdamW", {}),
    ("ScheduleFreeAdamW", {"warmup_steps": 3, "weight_decay": 0.1, "learning_rate": 0.01}),
    ("ScheduleFreeAdamW", {"beta_1": 0.5, "epsilon": 1e-6, "use_ema": True}),
    ("ScheduleFreeAdamW", {"gradient_accumulation_steps": 2, "learning_rate": SCHEDULE}),
]


def _make(lib, name, kwargs):
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), dict):
        schedules = keras.optimizers.schedules if lib == "keras" else so.schedules
        kwargs["learning_rate"] = schedules.deserialize(kwargs["learning_rate"])
    cls = getattr(keras.optimizers, name) if lib == "keras" else OURS[name]
    return cls(**kwargs)


def _variables(lib):
    make = keras.Variable if lib == "keras" else Variable
    return [make(x, name=n) for x, n in zip(INIT, SHAPES, strict=True)]


def _apply(opt, variables, steps):
    for grads in steps:
        opt.apply_gradients(zip([jnp.asarray(g) for g in grads], variables, strict=True))


def _assert_same(actual, expected, rtol=1e-5, atol=1e-6):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, a.dtype, e.shape, e.dtype)
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


def _numpy(variables):
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_keras_step_by_step(name, kwargs):
    # Keras' eager accumulation compiles a lax.cond per step: 4 steps (2 updates) suffice.
    steps = GRADS[:4] if kwargs.get("gradient_accumulation_steps") else GRADS[:5]
    ours, our_vars = _make("shoal", name, kwargs), _variables("shoal")
    ref, ref_vars = _make("keras", name, kwargs), _variables("keras")
    for grads in steps:
        _apply(ours, our_vars, [grads])
        _apply(ref, ref_vars, [grads])
        _assert_same(_numpy(our_vars), _numpy(ref_vars))
    # Same optimizer state, same names, same order (so saved optimizer weights interchange).
    _assert_same(_numpy(ours.variables), _numpy(ref.variables))
    assert [v.name for v in ours.variables] == [v.name for v in ref.variables]


def test_muon_routes_kernels_as_keras_decides():
    opt = Muon(exclude_layers=["v3"])
    opt.build(_variables("shoal"))
    names = [v.name for v in opt.variables]
    # v0 (2-D) takes Muon: momentum only; 1-D, 3-D, the embedding and excluded v3: AdamW.
    assert "v0_momentum" in names and "v0_velocity" not in names
    for adamw in ("v1", "v2", "v3", "token_embedding"):
        assert f"{adamw}_velocity" in names


@pytest.mark.parametrize("names", [["v1", "v2"], ["v0", "v3"]], ids=["adamw_only", "muon_only"])
def test_muon_with_a_single_rule_matches_keras(names):
    picked = [i for i, n in enumerate(SHAPES) if n in names]
    results = []
    for lib, make in (("shoal", Variable), ("keras", keras.Variable)):
        opt = _make(lib, "Muon", {})
        variables = [make(INIT[i], name=n) for i, n in zip(picked, names, strict=True)]
        _apply(opt, variables, [[g[i] for i in picked] for g in GRADS[:3]])
        results.append((_numpy(variables), _numpy(opt.variables)))
    _assert_same(results[0][0], results[1][0])
    _assert_same(results[0][1], results[1][1])


JIT_CASES = [(name, {}) for name in OURS] + [
    (name, kwargs)
    for name, kwargs in CASES
    if kwargs.get("gradient_accumulation_steps") or kwargs.get("use_ema")
]


@pytest.mark.parametrize("name,kwargs", JIT_CASES, ids=[n for n, _ in JIT_CASES])
def test_stateless_apply_under_jit_equals_eager(name, kwargs):
    eager, eager_vars = _make("shoal", name, kwargs), _variables("shoal")
    _apply(eager, eager_vars, GRADS[:4])
    opt, variables = _make("shoal", name, kwargs), _variables("shoal")
    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    trainable = [v.value for v in variables]
    state = [v.value for v in opt.variables]
    for grads in GRADS[:4]:
        trainable, state = step(state, [jnp.asarray(g) for g in grads], trainable)
    _assert_same(trainable, _numpy(eager_vars))
    _assert_same(state, _numpy(eager.variables))
    _assert_same(_numpy(variables), INIT, rtol=0, atol=0)  # pure


@pytest.mark.parametrize("name", list(OURS))
def test_config_equals_keras_and_round_trips(name):
    kwargs = {"name": "opt", "learning_rate": 0.5}
    if name == "Muon":
        kwargs.update(exclude_layers=["head"], rms_rate=None, adam_weight_decay=None)
    ours = OURS[name](**kwargs)
    config = ours.get_config()
    assert config == getattr(keras.optimizers, name)(**kwargs).get_config()
    assert OURS[name].from_config(config).get_config() == config
    restored = so.deserialize(so.serialize(ours), custom_objects=OURS)
    assert type(restored) is OURS[name] and restored.get_config() == config
    # Keras' own serialized form (a schedule included) loads as the same optimizer.
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    theirs = keras.optimizers.serialize(getattr(keras.optimizers, name)(learning_rate=schedule))
    assert so.serialize(so.deserialize(theirs, custom_objects=OURS)) == theirs


def test_schedule_free_momentum_starts_at_the_variables():
    opt, variables = ScheduleFreeAdamW(), _variables("shoal")
    opt.build(variables)
    momentum = [v for v in opt.variables if v.name.endswith("_momentum")]
    _assert_same(_numpy(momentum), INIT, rtol=0, atol=0)
    assert all(m.value is not v.value for m, v in zip(momentum, variables, strict=True))


def test_optimizer_weights_interchange_with_keras():
    ref, ref_vars = _make("keras", "Muon", {}), _variables("keras")
    _apply(ref, ref_vars, GRADS[:2])
    store = {}
    ref.save_own_variables(store)
    ours = Muon()
    ours.build(_variables("shoal"))
    ours.load_own_variables(store)
    _assert_same(_numpy(ours.variables), [store[str(i)] for i in range(len(store))])


# -- MultiOptimizer / OptimizerMap -------------------------------------------------------


def _multi(lib, callable_map=False, loss_scale_factor=None):
    opts = keras.optimizers if lib == "keras" else so
    lamb = keras.optimizers.Lamb if lib == "keras" else Lamb
    multi = keras.optimizers.MultiOptimizer if lib == "keras" else MultiOptimizer
    omap = keras.optimizers.OptimizerMap if lib == "keras" else OptimizerMap
    sgd = opts.SGD(learning_rate=0.1, momentum=0.9, name="sgd")
    adam = opts.Adam(learning_rate=0.01, name="adam")
    other = lamb(use_ema=True, weight_decay=0.1, name="lamb")
    if callable_map:

        def pick(variable):
            return {"v0": adam, "v3": other}.get(variable.name, sgd)

        return multi(pick, loss_scale_factor=loss_scale_factor, name="multi")
    mapping = omap(sgd, {"v0": adam, "v[23]": other})
    return multi(mapping, loss_scale_factor=loss_scale_factor, name="multi")


@pytest.mark.parametrize("callable_map", [False, True], ids=["optimizer_map", "callable"])
def test_multi_optimizer_matches_keras(callable_map):
    ours, our_vars = _multi("shoal", callable_map, 2.0), _variables("shoal")
    ref, ref_vars = _multi("keras", callable_map, 2.0), _variables("keras")
    _apply(ours, our_vars, GRADS[:5])
    _apply(ref, ref_vars, GRADS[:5])
    _assert_same(_numpy(our_vars), _numpy(ref_vars))
    assert [o.name for o in ours.optimizers] == [o.name for o in ref.optimizers]
    assert [v.name for v in ours.variables] == [v.name for v in ref.variables]
    _assert_same(_numpy(ours.variables), _numpy(ref.variables))
    assert int(ours.iterations.numpy()) == 5
    assert all(o.loss_scale_factor == 2.0 for o in ours.optimizers)


def test_multi_optimizer_stateless_apply_under_jit_equals_eager():
    eager, eager_vars = _multi("shoal"), _variables("shoal")
    _apply(eager, eager_vars, GRADS[:3])
    opt, variables = _multi("shoal"), _variables("shoal")
    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    trainable, state = [v.value for v in variables], [v.value for v in opt.variables]
    for grads in GRADS[:3]:
        trainable, state = step(state, [jnp.asarray(g) for g in grads], trainable)
    _assert_same(trainable, _numpy(eager_vars))
    _assert_same(state, _numpy(eager.variables))
    _assert_same(_numpy(variables), INIT, rtol=0, atol=0)


def test_multi_optimizer_config_equals_keras_and_round_trips():
    ours, ref = _multi("shoal"), _multi("keras")
    ref_config = keras.optimizers.serialize(ref)
    assert so.serialize(ours) == ref_config
    custom = {"MultiOptimizer": MultiOptimizer, "Lamb": Lamb}
    restored = so.deserialize(ref_config, custom_objects=custom)
    assert isinstance(restored, MultiOptimizer)
    assert [type(o).__name__ for o in restored.optimizers] == ["Adam", "Lamb", "SGD"]
    assert restored.get_config() == ours.get_config()
    again = MultiOptimizer.from_config(ours.get_config(), custom_objects=custom)
    assert again.get_config() == ours.get_config()


def test_optimizer_map_lookup_equals_keras():
    def build(lib, omap):
        opts = keras.optimizers if lib == "keras" else so
        m = omap(default_optimizer=opts.RMSprop(name="rmsprop"))
        m["encoder/layer_0/dense"] = opts.Adam(name="adam")
        m["encoder/.*"] = opts.SGD(name="sgd")
        m["decoder"] = opts.Adam(name="adam2")
        return m

    ours, ref = build("shoal", OptimizerMap), build("keras", keras.optimizers.OptimizerMap)
    for key in ["decoder", "encoder/layer_0/dense", "encoder/a/query", "decoder/dense", "x"]:
        assert ours[key].name == ref[key].name
    assert len(ours) == 3 and list(ours) == list(ref)
    with pytest.raises(ValueError, match="'decoder' is already mapped"):
        ours["decoder"] = so.SGD()
    ours["enc.*"] = so.SGD()
    with pytest.raises(ValueError, match=r"'encoder/a' matches several keys"):
        ours["encoder/a"]
    del ours["enc.*"]
    assert ours["encoder/a"].name == "sgd"


def test_multi_optimizer_learning_rate_is_not_an_attribute():
    opt = _multi("shoal")
    with pytest.raises(AttributeError, match="sub-optimizers"):
        opt.learning_rate  # noqa: B018
    with pytest.raises(AttributeError, match="sub-optimizers"):
        opt.learning_rate = 0.1


# -- training ------------------------------------------------------------------------


def _regression_data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32") + 0.3).astype("float32")
    return x, y


def _tiny_model():
    return shoal.Sequential(
        [
            shoal.Input((4,)),
            shoal.layers.Dense(8, activation="tanh", name="hidden"),
            shoal.layers.Dense(1, name="out"),
        ]
    )


FIT_OPTIMIZERS = {
    "Lamb": lambda: Lamb(learning_rate=0.02),
    "Muon": lambda: Muon(learning_rate=0.02, exclude_layers=["out"]),
    "ScheduleFreeAdamW": lambda: ScheduleFreeAdamW(learning_rate=0.02, warmup_steps=2),
    "MultiOptimizer": lambda: MultiOptimizer(
        OptimizerMap(so.SGD(learning_rate=0.05), {"hidden/.*": Lamb(learning_rate=0.02)})
    ),
}


@pytest.mark.parametrize("name", list(FIT_OPTIMIZERS))
def test_fit_decreases_the_loss(name):
    x, y = _regression_data()
    model = _tiny_model()
    optimizer = FIT_OPTIMIZERS[name]()
    model.compile(optimizer=optimizer, loss="mse")
    history = model.fit(x, y, batch_size=16, epochs=6, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.7 * losses[0], losses
    assert model.optimizer is optimizer and optimizer.built


# -- SwapEMAWeights ------------------------------------------------------------------


def _spy(base):
    class Spy(base):
        """Records the model's weights at each hook (placed after SwapEMAWeights)."""

        def __init__(self):
            super().__init__()
            self.seen = []

        def _record(self, hook):
            self.seen.append((hook, [np.asarray(w) for w in self.model.get_weights()]))

        def on_test_batch_begin(self, batch, logs=None):
            self._record("test_batch")

        def on_epoch_begin(self, epoch, logs=None):
            self._record("epoch_begin")

        def on_epoch_end(self, epoch, logs=None):
            self._record("epoch_end")

    return Spy()


def _swap_run(lib, swap_on_epoch):
    x = np.random.default_rng(2023).normal(size=(10, 3)).astype("float32")
    y = np.eye(2, dtype="float32")[np.arange(10) % 2]
    optimizer = lib.optimizers.SGD(use_ema=True, ema_momentum=0.9)
    model = lib.Sequential(
        [
            lib.Input((3,)),
            lib.layers.Dense(2, kernel_initializer="ones", use_bias=False),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse", metrics=[lib.metrics.MeanSquaredError()])
    swap = (SwapEMAWeights if lib is shoal else keras.callbacks.SwapEMAWeights)(swap_on_epoch)
    spy = _spy(Callback if lib is shoal else keras.callbacks.Callback)
    history = model.fit(
        x,
        y,
        batch_size=5,
        epochs=3,
        shuffle=False,
        verbose=0,
        validation_data=(x, y),
        callbacks=[swap, spy],
    )
    final = model.evaluate(x, y, verbose=0, return_dict=True)
    return history.history, spy.seen, final, model


@pytest.mark.parametrize("swap_on_epoch", [False, True], ids=["on_test", "on_epoch"])
def test_swap_ema_weights_matches_keras(swap_on_epoch):
    ours, our_seen, our_final, _ = _swap_run(shoal, swap_on_epoch)
    theirs, their_seen, their_final, _ = _swap_run(keras, swap_on_epoch)
    for key in ("loss", "val_loss", "val_mean_squared_error"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5)
    # The weights each hook sees (EMA weights while validating, or from epoch end to the
    # next epoch's start with swap_on_epoch), in the same order.
    assert [hook for hook, _ in our_seen] == [hook for hook, _ in their_seen]
    for (_, a), (_, b) in zip(our_seen, their_seen, strict=True):
        _assert_same(a, b)
    # Validation used the EMA weights that fit leaves in the model at its end.
    assert ours["val_mean_squared_error"][-1] == pytest.approx(our_final["mean_squared_error"])
    np.testing.assert_allclose(our_final["loss"], their_final["loss"], rtol=1e-5)


def test_swap_ema_weights_restores_after_evaluate_and_predict():
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.ones((8, 2), "float32")
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(2)])
    optimizer = so.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    for _ in range(3):
        model.train_on_batch(x, y)
    trained = [np.asarray(w) for w in model.get_weights()]
    averages = _numpy(optimizer._averages)
    assert not np.allclose(trained[0], averages[0])
    callback = SwapEMAWeights()
    with_ema = model.predict(x, verbose=0, callbacks=[callback])
    _assert_same(model.get_weights(), trained, rtol=0, atol=0)  # restored (Keras 3.15: not)
    _assert_same(_numpy(optimizer._averages), averages, rtol=0, atol=0)
    kernel, bias = averages
    np.testing.assert_allclose(with_ema, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    loss = model.evaluate(x, y, verbose=0, callbacks=[callback])
    np.testing.assert_allclose(loss, np.mean((x @ kernel + bias - y) ** 2), rtol=1e-5)
    _assert_same(model.get_weights(), trained, rtol=0, atol=0)
    model.train_on_batch(x, y)  # no buffer shared (and donated) between model and averages


def test_swap_ema_weights_with_multi_and_loss_scale_optimizers():
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = np.ones((8, 2), "float32")
    for make in (
        lambda: so.LossScaleOptimizer(so.SGD(use_ema=True)),
        lambda: MultiOptimizer(
            OptimizerMap(so.SGD(), {"ema/.*": so.Adam(use_ema=True, ema_momentum=0.5)})
        ),
    ):
        model = shoal.Sequential(
            [shoal.Input((3,)), shoal.layers.Dense(4, name="ema"), shoal.layers.Dense(2)]
        )
        model.compile(optimizer=make(), loss="mse")
        history = model.fit(
            x, y, epochs=2, verbose=0, validation_data=(x, y), callbacks=[SwapEMAWeights()]
        )
        final = model.evaluate(x, y, verbose=0)
        assert history.history["val_loss"][-1] == pytest.approx(final, rel=1e-6)


def test_swap_ema_weights_errors():
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(2)])
    optimizer = so.SGD()
    model.compile(optimizer=optimizer, loss="mse")
    x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
    with pytest.raises(ValueError, match=r"`use_ema=True`.*use_ema=False"):
        model.fit(x, y, verbose=0, callbacks=[SwapEMAWeights()])
    assert int(optimizer.iterations.numpy()) == 0  # raised before the first step
    model.compile(optimizer=MultiOptimizer(OptimizerMap(so.SGD())), loss="mse")
    with pytest.raises(ValueError, match="at least one inner optimizer"):
        model.evaluate(x, y, verbose=0, callbacks=[SwapEMAWeights()])
    with pytest.raises(TypeError, match=r"'swap_on_epoch' must be a bool.*'yes'"):
        SwapEMAWeights(swap_on_epoch="yes")


# -- argument errors ------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,error,pattern",
    [
        (lambda: Lamb(beta_1=1.5), ValueError, r"Lamb '.*': argument 'beta_1' .*\[0, 1\].*1\.5"),
        (lambda: Lamb(epsilon=-1.0), ValueError, r"argument 'epsilon' .*non-negative.*-1\.0"),
        (lambda: Lamb(foo=1), ValueError, r"Lamb '.*': unknown argument\(s\) \['foo'\]"),
        (
            lambda: Muon(exclude_layers="dense"),
            ValueError,
            r"Muon '.*': argument 'exclude_layers' must be None or a list.*'dense'",
        ),
        (lambda: Muon(exclude_layers=["("]), ValueError, r"'exclude_layers'.*'\('"),
        (
            lambda: Muon(ns_steps=2.5),
            ValueError,
            r"'ns_steps' must be a non-negative integer.*2\.5",
        ),
        (lambda: Muon(rms_rate=0.0), ValueError, r"'rms_rate' must be a positive float.*0\.0"),
        (lambda: Muon(nesterov="yes"), ValueError, r"'nesterov' must be a bool.*'yes'"),
        (lambda: Muon(adam_weight_decay=-1.0), ValueError, r"'adam_weight_decay'.*-1\.0"),
        (lambda: Muon(momentum=1.5), ValueError, r"'momentum' must be a float in \[0, 1\].*1\.5"),
        (lambda: Muon(muon_a="x"), ValueError, r"'muon_a' must be a float.*'x'"),
        (
            lambda: ScheduleFreeAdamW(beta_1=0.0),
            ValueError,
            r"ScheduleFreeAdamW '.*': argument 'beta_1' .*\(0, 1\].*0\.0",
        ),
        (lambda: ScheduleFreeAdamW(warmup_steps=1.5), ValueError, r"'warmup_steps'.*1\.5"),
        (lambda: ScheduleFreeAdamW(warmup_steps=-1), ValueError, r"'warmup_steps'.*-1"),
        (lambda: MultiOptimizer(3), TypeError, r"argument 'optimizer_map' must be.*got 3"),
        (lambda: OptimizerMap("adam"), TypeError, r"'default_optimizer' must be.*'adam'"),
        (lambda: OptimizerMap(so.SGD(), [1]), TypeError, r"'optimizer_map' must be a dict.*list"),
        (
            lambda: OptimizerMap(so.SGD(), {"x": "adam"}),
            ValueError,
            r"optimizer of key 'x' must be an Optimizer.*'adam'",
        ),
        (
            lambda: MultiOptimizer(OptimizerMap(so.LossScaleOptimizer(so.SGD()))),
            ValueError,
            r"must be a plain Optimizer, got a LossScaleOptimizer",
        ),
        (
            lambda: MultiOptimizer(lambda v: "sgd").build([Variable(np.ones(2), name="w")]),
            ValueError,
            r"'optimizer_map' result for variable 'w' must be an Optimizer.*'sgd'",
        ),
        (
            lambda: MultiOptimizer(OptimizerMap(so.SGD())).exclude_from_weight_decay(["b"]),
            ValueError,
            "inner optimizers",
        ),
    ],
)
def test_bad_arguments(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()
