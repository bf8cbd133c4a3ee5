"""shoal.optimizers against Keras 3 (JAX backend): same initial values, same gradients."""

import jax
import jax.numpy as jnp
import keras
import numpy as np
import pytest

import shoal
import shoal.optimizers as so
from shoal.backend.variables import Variable

SHAPES = [(3, 4), (4,), (2, 2, 3)]  # rank 1, 2 and 3 (Adafactor factors rank >= 2)
_RNG = np.random.default_rng(0)
INIT = [_RNG.normal(size=s).astype("float32") for s in SHAPES]
# Gradients of varying size, so that the clipping options bite on some steps only.
GRADS = [
    [(_RNG.normal(size=s) * (1 + 2 * (k % 3))).astype("float32") for s in SHAPES] for k in range(10)
]
SCHEDULE = {
    "module": "keras.optimizers.schedules",
    "class_name": "ExponentialDecay",
    "config": {"initial_learning_rate": 0.05, "decay_steps": 3, "decay_rate": 0.5},
    "registered_name": None,
}

CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True, "learning_rate": SCHEDULE}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
    ("RMSprop", {"momentum": 0.9, "learning_rate": SCHEDULE}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "learning_rate": 0.01}),
    ("Adam", {"clipnorm": 1.0}),
    ("Adam", {"clipvalue": 0.5}),
    ("Adam", {"global_clipnorm": 2.0}),
    ("Adam", {"weight_decay": 0.1, "learning_rate": 0.01}),
    ("Adam", {"use_ema": True, "ema_overwrite_frequency": 3}),
    ("Adam", {"gradient_accumulation_steps": 3, "learning_rate": 0.01}),
    ("Adam", {"learning_rate": SCHEDULE, "loss_scale_factor": 4.0}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.1, "learning_rate": 0.01, "amsgrad": True}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 0.01, "clipnorm": 2.0}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 0.01, "use_ema": True}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.5, "learning_rate": 0.1}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9}),
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": SCHEDULE}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 0.01, "weight_decay": 0.5}),
    ("Ftrl", {}),
    (
        "Ftrl",
        {
            "learning_rate": 0.1,
            "l1_regularization_strength": 0.01,
            "l2_regularization_strength": 0.1,
            "l2_shrinkage_regularization_strength": 0.05,
            "beta": 0.1,
        },
    ),
    ("SGD", {"momentum": 0.9, "use_ema": True, "gradient_accumulation_steps": 2}),
]


def _make(lib, name, kwargs):
    kwargs = dict(kwargs)
    if isinstance(kwargs.get("learning_rate"), dict):
        kwargs["learning_rate"] = lib.optimizers.schedules.deserialize(kwargs["learning_rate"])
    return getattr(lib.optimizers, name)(**kwargs)


class _Shoal:  # `lib` stand-in with the same attribute path as `keras`
    optimizers = so


def _run(lib, name, kwargs, steps=GRADS):
    opt = _make(lib, name, kwargs)
    make = keras.Variable if lib is keras else Variable
    variables = [make(x, name=f"v{i}") for i, x in enumerate(INIT)]
    for grads in steps:
        opt.apply_gradients(zip([jnp.asarray(g) for g in grads], variables, strict=True))
    return opt, variables


def _assert_same(actual, expected, rtol=1e-5, atol=1e-7):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape and a.dtype == e.dtype, (a.shape, a.dtype, e.shape, e.dtype)
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_matches_keras(name, kwargs):
    # Keras' eager accumulation compiles a lax.cond per step: fewer steps keep the test fast.
    steps = GRADS[:6] if kwargs.get("gradient_accumulation_steps") else GRADS
    ours, our_vars = _run(_Shoal, name, kwargs, steps)
    ref, ref_vars = _run(keras, name, kwargs, steps)
    _assert_same([v.numpy() for v in our_vars], [v.numpy() for v in ref_vars])
    # Same optimizer state, in the same order (so saved optimizer weights interchange).
    _assert_same([v.numpy() for v in ours.variables], [v.numpy() for v in ref.variables])
    names = [(a.name, b.name) for a, b in zip(ours.variables, ref.variables, strict=True)]
    assert all(a == b for a, b in names if not b.startswith("variable")), names


JIT_CASES = [(cls.__name__, {}) for cls in so.ALL_OBJECTS] + [
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"centered": True, "momentum": 0.5}),
    (
        "Adam",
        {
            "learning_rate": SCHEDULE,
            "clipnorm": 1.0,
            "weight_decay": 0.1,
            "use_ema": True,
            "ema_overwrite_frequency": 2,
            "gradient_accumulation_steps": 2,
        },
    ),
]


@pytest.mark.parametrize("name,kwargs", JIT_CASES, ids=[n for n, _ in JIT_CASES])
def test_stateless_apply_under_jit_equals_eager(name, kwargs):
    eager, eager_vars = _run(_Shoal, name, kwargs, GRADS[:4])
    opt = _make(_Shoal, name, kwargs)
    variables = [Variable(x) for x in INIT]
    opt.build(variables)
    step = jax.jit(opt.stateless_apply)
    trainable = [v.value for v in variables]
    state = [v.value for v in opt.variables]
    for grads in GRADS[:4]:
        trainable, state = step(state, [jnp.asarray(g) for g in grads], trainable)
    _assert_same(trainable, [v.numpy() for v in eager_vars])
    _assert_same(state, [v.numpy() for v in eager.variables])
    # Pure: the optimizer's and the model's Variables were not touched.
    _assert_same([v.numpy() for v in variables], INIT, rtol=0, atol=0)
    assert int(opt.variables[0].numpy()) == 0


def test_setting_learning_rate_between_steps_does_not_retrace():
    rates = [0.01, 0.1, 0.0, 0.05]
    eager = so.Adam(learning_rate=rates[0])
    eager_vars = [Variable(x) for x in INIT]
    opt = so.Adam(learning_rate=rates[0])
    variables = [Variable(x) for x in INIT]
    opt.build(variables)
    traces = []

    @jax.jit
    def step(state, grads, trainable):
        traces.append(1)
        return opt.stateless_apply(state, grads, trainable)

    for rate, grads in zip(rates, GRADS, strict=False):
        eager.learning_rate = rate
        before = [v.numpy() for v in eager_vars]
        eager.apply_gradients(zip(grads, eager_vars, strict=True))
        if rate == 0.0:  # Adam with a zero rate moves nothing
            _assert_same([v.numpy() for v in eager_vars], before, rtol=0, atol=0)
        opt.learning_rate = rate
        assert float(opt.learning_rate) == pytest.approx(rate)
        trainable, state = step(
            [v.value for v in opt.variables], grads, [v.value for v in variables]
        )
        for var, value in zip([*variables, *opt.variables], [*trainable, *state], strict=True):
            var.assign(value)
    assert len(traces) == 1
    _assert_same([v.numpy() for v in variables], [v.numpy() for v in eager_vars])


def test_schedule_is_evaluated_at_iterations():
    opt = so.SGD(learning_rate=so.schedules.ExponentialDecay(1.0, 1, 0.5))
    var = Variable(np.zeros(2, "float32"))
    values = []
    for _ in range(3):
        values.append(float(opt.learning_rate))
        opt.apply_gradients([(jnp.ones(2), var)])
    assert values == [1.0, 0.5, 0.25]
    np.testing.assert_allclose(var.numpy(), [-1.75, -1.75])
    assert int(opt.iterations.numpy()) == 3
    with pytest.raises(TypeError, match="ExponentialDecay"):
        opt.learning_rate = 0.1
    assert len(opt.variables) == 1  # a schedule has no learning-rate Variable, as in Keras


def test_exclude_from_weight_decay_matches_keras():
    def run(lib, make):
        opt = lib.optimizers.AdamW(weight_decay=0.5, learning_rate=0.1)
        variables = [
            make(x, name=n) for x, n in zip(INIT, ["kernel", "bias", "gamma"], strict=True)
        ]
        opt.exclude_from_weight_decay(var_list=variables[2:], var_names=["bias"])
        for grads in GRADS[:3]:
            opt.apply_gradients(zip(grads, variables, strict=True))
        return [v.numpy() for v in variables]

    _assert_same(run(_Shoal, Variable), run(keras, keras.Variable))
    opt = so.AdamW()
    opt.build([Variable(INIT[0])])
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.exclude_from_weight_decay(var_names=["bias"])


def test_finalize_variable_values_swaps_in_the_averages():
    results = []
    for lib, make in ((_Shoal, Variable), (keras, keras.Variable)):
        opt = lib.optimizers.SGD(learning_rate=0.1, use_ema=True, ema_momentum=0.5)
        variables = [make(x) for x in INIT]
        for grads in GRADS[:3]:
            opt.apply_gradients(zip(grads, variables, strict=True))
        opt.finalize_variable_values(variables)
        results.append([v.numpy() for v in variables])
    _assert_same(*results)


def test_missing_gradient_leaves_variable_and_slots_alone():
    opt = so.SGD(learning_rate=0.1, momentum=0.9)
    a, b = Variable(np.ones(2, "float32"), name="a"), Variable(np.ones(3, "float32"), name="b")
    opt.apply_gradients([(jnp.ones(2), a), (jnp.ones(3), b)])
    before = b.numpy(), [v.numpy() for v in opt.variables]
    with pytest.warns(UserWarning, match=r"\['b'\]"):
        opt.apply_gradients([(jnp.ones(2), a), (None, b)])
    np.testing.assert_array_equal(b.numpy(), before[0])
    np.testing.assert_array_equal(opt.variables[-1].numpy(), before[1][-1])  # b's momentum
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply_gradients([(None, a), (None, b)])


@pytest.mark.parametrize("cls", so.ALL_OBJECTS, ids=lambda c: c.__name__)
def test_config_round_trip_and_keras_config(cls):
    kwargs = {"name": "opt", "learning_rate": 0.5}
    ours = cls(**kwargs)
    config = ours.get_config()
    assert cls.from_config(config).get_config() == config
    assert config == getattr(keras.optimizers, cls.__name__)(**kwargs).get_config()
    restored = so.deserialize(so.serialize(ours))
    assert type(restored) is cls and restored.get_config() == config


def test_serialize_with_schedule_interchanges_with_keras():
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 100, warmup_target=0.2, warmup_steps=5)
    theirs = keras.optimizers.serialize(keras.optimizers.Adam(learning_rate=schedule, name="a"))
    ours = so.deserialize(theirs)
    assert isinstance(ours.learning_rate, jax.Array)
    assert isinstance(ours._learning_rate, so.schedules.CosineDecay)
    assert so.serialize(ours) == theirs


def test_get():
    assert isinstance(so.get("adam"), so.Adam)
    assert isinstance(so.get("RMSprop"), so.RMSprop)
    assert so.get(None) is None
    opt = so.SGD()
    assert so.get(opt) is opt
    assert isinstance(so.get({"class_name": "Lion", "config": {}}), so.Lion)
    assert sorted(so.ALL_OBJECTS_DICT) == sorted(
        "sgd rmsprop adam adamw adamax nadam adagrad adadelta adafactor lion ftrl lamb muon "
        "schedulefreeadamw".split()
    )
    with pytest.raises(ValueError, match=r"'adamm'.*'adadelta'.*'sgd'"):
        so.get("adamm")
    with pytest.raises(ValueError, match="identifier"):
        so.get(3)


@pytest.mark.parametrize(
    "make,pattern",
    [
        (
            lambda: so.Adam(learning_rate=-0.1),
            r"Adam '.*': argument 'learning_rate' .*non-negative.*-0\.1",
        ),
        (lambda: so.SGD(momentum=1.5), r"SGD '.*': argument 'momentum' .*\[0, 1\].*1\.5"),
        (lambda: so.RMSprop(momentum=-0.1), r"RMSprop '.*': argument 'momentum'.*-0\.1"),
        (
            lambda: so.Adam(clipnorm=1.0, global_clipnorm=1.0),
            r"Adam '.*': argument 'global_clipnorm'.*clipnorm.*1\.0",
        ),
        (lambda: so.Adam(clipvalue=-1.0), r"argument 'clipvalue' must be a positive float.*-1\.0"),
        (
            lambda: so.Adam(foo=1),
            r"Adam '.*': unknown argument\(s\) \['foo'\].*'beta_1'.*'clipnorm'",
        ),
        (lambda: so.AdamW(weight_decay=None), r"AdamW '.*': argument 'weight_decay'.*None"),
        (lambda: so.Lion(beta_1=0.0), r"Lion '.*': argument 'beta_1' .*\(0, 1\].*0\.0"),
        (lambda: so.Ftrl(learning_rate_power=0.5), r"Ftrl '.*': argument 'learning_rate_power'"),
        (lambda: so.Ftrl(l1_regularization_strength=-1.0), r"'l1_regularization_strength'.*-1\.0"),
        (lambda: so.SGD(gradient_accumulation_steps=1), r"'gradient_accumulation_steps'.*>= 2.*1"),
        (lambda: so.SGD(use_ema=True, ema_momentum=2.0), r"'ema_momentum'.*2\.0"),
        (lambda: so.SGD(learning_rate="fast"), r"'learning_rate'.*'fast'"),
    ],
)
def test_bad_arguments(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_apply_errors():
    opt = so.SGD()
    with pytest.raises(ValueError, match="build"):
        opt.apply([jnp.ones(2)])
    with pytest.raises(ValueError, match="build"):
        opt.stateless_apply([], [jnp.ones(2)], [jnp.ones(2)])
    a = Variable(np.ones(2, "float32"), name="a")
    opt.build([a])
    opt.build([Variable(np.ones(3, "float32"))])  # idempotent
    with pytest.raises(ValueError, match="unknown variable 'c'"):
        opt.apply_gradients([(jnp.ones(2), Variable(np.ones(2, "float32"), name="c"))])
    with pytest.raises(ValueError, match="'optimizer_variables'.*2 arrays.*1 arrays"):
        opt.stateless_apply([jnp.zeros((), "int32")], [jnp.ones(2)], [a.value])


def test_optimizer_weights_interchange_with_keras():
    ref, _ = _run(keras, "Nadam", {}, GRADS[:2])
    store = {}
    ref.save_own_variables(store)
    ours = so.Nadam()
    ours.build([Variable(x) for x in INIT])
    ours.load_own_variables(store)
    _assert_same([v.numpy() for v in ours.variables], [store[str(i)] for i in range(len(store))])
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        so.Nadam().load_own_variables(store)


def test_ema_weights_survive_a_second_fit():
    """After fit, the model takes the moving averages; a later fit must not find those
    buffers donated away (they were shared with the averages)."""
    model = shoal.Sequential([shoal.Input((3,)), shoal.layers.Dense(2)])
    model.compile(so.SGD(0.1, use_ema=True), "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(model.get_weights()[0], model.optimizer._averages[0].numpy())
    model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=1, verbose=0)
    assert np.isfinite(model.evaluate(x, y, verbose=0))
