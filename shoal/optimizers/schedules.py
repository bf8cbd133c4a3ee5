"""Learning-rate schedules with Keras 3 names, arguments and numerics.

A schedule maps the optimizer's step counter to a learning rate. Every
schedule is a pure function of `step` written with `jax.numpy`, so it runs
eagerly, on a `Variable`, or on a traced step inside `jax.jit`.

The formulas follow Keras term by term (the same casts, the same order of
operations) rather than delegating to `optax.*_schedule`: optax's boundaries
(`piecewise_constant_schedule` scales and switches at `step >= boundary`, Keras
at `step > boundary`), warm-up parametrisation and SGDR restarts differ from
Keras', and archives must reproduce Keras' values exactly.

Example:
    >>> s = ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(float(s(10)), 6)
    0.05
"""

from __future__ import annotations

import math

import jax.numpy as jnp

from shoal.backend.tensors import convert_to_tensor

_MODULE = "keras.optimizers.schedules"


class LearningRateSchedule:
    """Base class: subclasses implement `__call__(step)` and `get_config()`."""

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _fail(self, arg: str, expected: str, got) -> None:
        raise ValueError(f"{type(self).__name__}: argument '{arg}' must be {expected}, got {got!r}")

    def _check_decay_steps(self, arg: str, value) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self._fail(arg, "a positive number", value)

    def _start(self, step):
        """(initial learning rate as an array, its dtype, `step` cast to that dtype)."""
        initial = convert_to_tensor(self.initial_learning_rate)
        return initial, initial.dtype, convert_to_tensor(step).astype(initial.dtype)


def _cast(value, dtype):
    return jnp.asarray(value).astype(dtype)


class _StepDecay(LearningRateSchedule):
    """Shared by the schedules of `p = step / decay_steps` (floored if `staircase`)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        self._check_decay_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _progress(self, step):
        initial, dtype, step = self._start(step)
        p = step / _cast(self.decay_steps, dtype)
        return initial, _cast(self.decay_rate, dtype), jnp.floor(p) if self.staircase else p

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_StepDecay):
    """`initial_learning_rate * decay_rate ** p`."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        initial, rate, p = self._progress(step)
        return initial * jnp.power(rate, p)


class InverseTimeDecay(_StepDecay):
    """`initial_learning_rate / (1 + decay_rate * p)`."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        initial, rate, p = self._progress(step)
        return initial / (jnp.ones((), rate.dtype) + rate * p)


class PiecewiseConstantDecay(LearningRateSchedule):
    """`values[0]` while `step <= boundaries[0]`, `values[i]` on `(boundaries[i-1], boundaries[i]]`,
    `values[-1]` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(boundaries) != len(values) - 1:
            self._fail(
                "boundaries",
                f"one element shorter than `values` (length {len(values)})",
                list(boundaries),
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = convert_to_tensor(step)
        bounds = [convert_to_tensor(b).astype(step.dtype) for b in self.boundaries]
        values = [convert_to_tensor(v) for v in self.values]
        dtype = values[0].dtype
        # A sum of indicator * value, as Keras computes it (no control flow).
        result = jnp.zeros((), dtype)
        result += (step <= bounds[0]).astype(dtype) * values[0]
        result += (step > bounds[-1]).astype(dtype) * values[-1]
        for low, high, value in zip(bounds[:-1], bounds[1:], values[1:-1], strict=True):
            result += ((step > low) & (step <= high)).astype(dtype) * value
        return result

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """`(initial - end) * (1 - step / decay_steps) ** power + end`; with `cycle`, `decay_steps`
    grows to the next multiple of itself instead of the step being clipped."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        self._check_decay_steps("decay_steps", decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        initial, dtype, step = self._start(step)
        end = _cast(self.end_learning_rate, dtype)
        decay_steps = _cast(self.decay_steps, dtype)
        if self.cycle:
            multiplier = jnp.where(step == 0, 1.0, jnp.ceil(step / self.decay_steps))
            decay_steps = decay_steps * multiplier
        else:
            step = jnp.minimum(step, decay_steps)
        p = step / decay_steps
        return (initial - end) * jnp.power(1 - p, _cast(self.power, dtype)) + end

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay from `initial_learning_rate` to `alpha * initial_learning_rate` over
    `decay_steps`; with `warmup_target`, first a linear warm-up from `initial_learning_rate`
    to `warmup_target` over `warmup_steps`, then the decay starts from `warmup_target`."""

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        self._check_decay_steps("decay_steps", decay_steps)
        if (
            isinstance(warmup_steps, bool)
            or not isinstance(warmup_steps, (int, float))
            or (warmup_steps < 0)
        ):
            self._fail("warmup_steps", "a non-negative number", warmup_steps)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def _decay(self, step, decay_steps, from_lr, dtype):
        fraction = step / decay_steps
        cosine = 0.5 * (1.0 + jnp.cos(jnp.asarray(math.pi, dtype) * fraction))
        return from_lr * ((1 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        initial, dtype, step = self._start(step)
        decay_steps = _cast(self.decay_steps, dtype)
        if self.warmup_target is None:
            return self._decay(jnp.minimum(step, decay_steps), decay_steps, initial, dtype)
        target = _cast(self.warmup_target, dtype)
        warmup_steps = _cast(self.warmup_steps, dtype)
        step = jnp.minimum(step, decay_steps + warmup_steps)
        warm = (target - initial) * (step / warmup_steps) + initial
        decayed = self._decay(step - warmup_steps, decay_steps, target, dtype)
        return jnp.where(step < warmup_steps, warm, decayed)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """SGDR: cosine decay restarted after `first_decay_steps`, each period `t_mul` times
    longer and each restart's peak `m_mul` times lower."""

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        self._check_decay_steps("first_decay_steps", first_decay_steps)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        initial, dtype, step = self._start(step)
        alpha = _cast(self.alpha, dtype)
        t_mul = _cast(self.t_mul, dtype)
        m_mul = _cast(self.m_mul, dtype)
        fraction = step / _cast(self.first_decay_steps, dtype)
        # Periods of equal length (t_mul == 1) ...
        i_linear = jnp.floor(fraction)
        # ... or geometrically growing ones: invert the partial sum of t_mul**i.
        i_geom = jnp.floor(jnp.log(1.0 - fraction * (1.0 - t_mul)) / jnp.log(t_mul))
        sum_r = (1.0 - jnp.power(t_mul, i_geom)) / (1.0 - t_mul)
        fraction_geom = (fraction - sum_r) / jnp.power(t_mul, i_geom)
        linear = t_mul == 1.0
        i_restart = jnp.where(linear, i_linear, i_geom)
        fraction = jnp.where(linear, fraction - i_linear, fraction_geom)
        cosine = (
            0.5
            * jnp.power(m_mul, i_restart)
            * (1.0 + jnp.cos(jnp.asarray(math.pi, dtype) * fraction))
        )
        return initial * ((1 - alpha) * cosine + alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


ALL_SCHEDULES = {
    cls.__name__: cls
    for cls in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        PolynomialDecay,
        InverseTimeDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}


def serialize(learning_rate_schedule: LearningRateSchedule) -> dict:
    """The Keras 3 dict form: `{"module", "class_name", "config", "registered_name"}`."""
    if not isinstance(learning_rate_schedule, LearningRateSchedule):
        raise TypeError(
            "schedules.serialize: argument 'learning_rate_schedule' must be a LearningRateSchedule, "
            f"got {type(learning_rate_schedule).__name__}"
        )
    return {
        "module": _MODULE,
        "class_name": type(learning_rate_schedule).__name__,
        "config": learning_rate_schedule.get_config(),
        "registered_name": None,
    }


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """Inverse of `serialize` (also accepts the legacy `{"class_name", "config"}` form)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "schedules.deserialize: argument 'config' must be a dict with a 'class_name' key, "
            f"got {config!r}"
        )
    known = {**ALL_SCHEDULES, **(custom_objects or {})}
    name = config["class_name"]
    if name not in known:
        raise ValueError(
            f"schedules.deserialize: unknown schedule class_name {name!r}; "
            f"expected one of {sorted(known)}"
        )
    return known[name].from_config(dict(config.get("config", {})))
