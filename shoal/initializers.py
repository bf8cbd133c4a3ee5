"""Weight initializers (`keras.initializers`): callables `(shape, dtype=None) -> array`.

Random initializers take `seed`. With an int seed an instance is deterministic
and draws exactly what Keras 3 (JAX backend) draws for the same seed. With
`seed=None`, each call takes a fresh key from `shoal.backend.random.draw_key()`,
so it follows `shoal.utils.set_random_seed` and, inside a pure step, the step's
RNG scope; two calls of one unseeded instance give different values.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from shoal._catalog import Catalog
from shoal.backend import dtypes
from shoal.backend import random as shoal_random
from shoal.backend.naming import to_snake_case
from shoal.backend.tensors import convert_to_tensor
from shoal.initializer_base import Initializer
from shoal.initializers_stft import STFT

# -- constants -------------------------------------------------------------------


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return jnp.zeros(shape, dtypes.standardize_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return jnp.ones(shape, dtypes.standardize_dtype(dtype))


class Constant(Initializer):
    """Every entry `value` (a scalar, or an array that broadcasts to the shape)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        dtype = dtypes.standardize_dtype(dtype)
        return jnp.broadcast_to(jnp.asarray(self.value, dtype), tuple(shape))

    def get_config(self):
        value = np.asarray(self.value)
        return {"value": value.item() if value.ndim == 0 else value.tolist()}


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(
                f"Identity initializer: 'shape' must be 2-D, got {tuple(shape)} of rank {len(shape)}"
            )
        return self.gain * jnp.eye(*shape, dtype=dtypes.standardize_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


# -- random ----------------------------------------------------------------------


def _is_seed_generator(seed) -> bool:
    """A `shoal.random.SeedGenerator` (anything with a `next()` giving keys)."""
    return callable(getattr(seed, "next", None)) and not isinstance(seed, (int, np.integer))


def _seed_config(seed):
    # A generator is written as its int seed: JSON-safe, reproducible, but a
    # restored initializer then repeats its values like any int-seeded one.
    return seed.seed if _is_seed_generator(seed) else seed


class RandomInitializer(Initializer):
    """Base of the random initializers: holds `seed` and turns it into PRNG keys."""

    def __init__(self, seed=None):
        self._init_seed = seed
        self._drawn = False
        if _is_seed_generator(seed):
            self.seed = seed
            return
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(
                f"{type(self).__name__}: argument 'seed' must be an int, a SeedGenerator or "
                f"None, got {seed!r}"
            )
        # Unseeded: a seed drawn now from Python's `random` (which `set_random_seed` seeds),
        # as Keras does, so a program's initial weights equal Keras' for the same seed.
        self.seed = shoal_random.default_seed() if seed is None else int(seed)

    def _key(self):
        if _is_seed_generator(self.seed):  # a new key per call, as Keras does
            return shoal_random.as_key(self.seed.next())
        if self._init_seed is None and self._drawn:
            # One unseeded instance called again (shared by several weights): new values.
            # (Keras repeats the first values, with a warning.)
            return shoal_random.draw_key()
        self._drawn = True
        # Keras (JAX backend) uses the raw key data [seed, 0]: same seed, same values.
        return shoal_random.raw_key(self.seed)

    def _sample(self, distribution, shape, dtype, scale=1.0, loc=0.0):
        """`loc + scale * noise`; noise is N(0, 1), N(0, 1) cut at +-2, or U(-1, 1)."""
        dtype, shape, key = dtypes.standardize_dtype(dtype), tuple(shape), self._key()
        if distribution == "uniform":  # as U(loc - scale, loc + scale)
            return jax.random.uniform(key, shape, dtype, loc - scale, loc + scale)
        if distribution == "truncated_normal":
            noise = jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        else:
            noise = jax.random.normal(key, shape, dtype)
        return noise * scale + loc

    def get_config(self):
        return {"seed": _seed_config(self._init_seed)}


class _Gaussian(RandomInitializer):
    _distribution = "normal"

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        return self._sample(self._distribution, shape, dtype, self.stddev, self.mean)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomNormal(_Gaussian):
    """Normal distribution with `mean` and `stddev`."""


class TruncatedNormal(_Gaussian):
    """Normal distribution cut at two standard deviations from the mean."""

    _distribution = "truncated_normal"


class RandomUniform(RandomInitializer):
    """Uniform distribution on `[minval, maxval)`."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        dtype, key = dtypes.standardize_dtype(dtype), self._key()
        return jax.random.uniform(key, tuple(shape), dtype, self.minval, self.maxval)

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape.

    Dense kernels `(in, out)` give `(in, out)`; conv kernels `(*spatial, in, out)`
    multiply both by the receptive field size `prod(spatial)`. Explicit
    `input_axes`/`output_axes` override this.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if not shape:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


class VarianceScaling(RandomInitializer):
    """Samples with variance `scale / n`, `n` the fan selected by `mode`.

    `distribution` "truncated_normal" (alias "normal"), "untruncated_normal" or
    "uniform" (on `[-limit, limit]`, `limit = sqrt(3 * scale / n)`).
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        name = type(self).__name__
        if not isinstance(scale, (int, float)) or scale <= 0:
            raise ValueError(f"{name}: argument 'scale' must be a positive float, got {scale!r}")
        if mode not in self._MODES:
            raise ValueError(f"{name}: argument 'mode' must be one of {self._MODES}, got {mode!r}")
        distribution = str(distribution).lower()
        distribution = "truncated_normal" if distribution == "normal" else distribution
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"{name}: argument 'distribution' must be one of {self._DISTRIBUTIONS} "
                f"or 'normal', got {distribution!r}"
            )
        self.scale, self.mode, self.distribution = scale, mode, distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, fan)
        if self.distribution == "uniform":
            return self._sample("uniform", shape, dtype, math.sqrt(3.0 * variance))
        # 0.8796... is the stddev of a unit normal truncated to [-2, 2].
        truncated = self.distribution == "truncated_normal"
        stddev = math.sqrt(variance) / (0.87962566103423978 if truncated else 1.0)
        return self._sample(self.distribution, shape, dtype, stddev)

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


def _preset(name: str, scale: float, mode: str, distribution: str, doc: str):
    """A VarianceScaling subclass with fixed parameters (GlorotUniform, HeNormal, ...)."""

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self):
        return {
            "seed": _seed_config(self._init_seed),
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }

    namespace = {"__init__": __init__, "get_config": get_config, "__doc__": doc}
    return type(
        name, (VarianceScaling,), {"__module__": __name__, "__qualname__": name, **namespace}
    )


GlorotUniform = _preset(
    "GlorotUniform", 1.0, "fan_avg", "uniform", "Uniform on +-sqrt(6 / (fan_in + fan_out))."
)
GlorotNormal = _preset(
    "GlorotNormal",
    1.0,
    "fan_avg",
    "truncated_normal",
    "Truncated normal, stddev sqrt(2 / (fan_in + fan_out)).",
)
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform", "Uniform on +-sqrt(6 / fan_in).")
HeNormal = _preset(
    "HeNormal", 2.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(2 / fan_in)."
)
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform", "Uniform on +-sqrt(3 / fan_in).")
LecunNormal = _preset(
    "LecunNormal", 1.0, "fan_in", "truncated_normal", "Truncated normal, stddev sqrt(1 / fan_in)."
)


class Orthogonal(RandomInitializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal sample.

    Shapes with more than two axes are treated as `(prod(shape[:-1]), shape[-1])`.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed)

    def __call__(self, shape, dtype=None):
        if len(shape) < 2:
            raise ValueError(
                f"Orthogonal initializer: 'shape' must have rank >= 2, got {tuple(shape)}"
            )
        dtype = dtypes.standardize_dtype(dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        compute = "float32" if dtype in ("float16", "bfloat16") else dtype  # QR needs >= 32 bits
        sample = self._sample("normal", (max(rows, cols), min(rows, cols)), compute)
        q, r = jnp.linalg.qr(sample)
        q = q * jnp.sign(jnp.diag(r))  # makes the decomposition (and so the result) unique
        if rows < cols:
            q = q.T
        return (self.gain * jnp.reshape(q, tuple(shape))).astype(dtype)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


# -- lookup ------------------------------------------------------------------------

_CLASSES = (
    Initializer, Zeros, Ones, Constant, Identity, RandomNormal, TruncatedNormal, RandomUniform,
    VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
    LecunNormal, Orthogonal, STFT,
)  # fmt: skip
_ALIASES = {to_snake_case(cls.__name__): cls for cls in _CLASSES}
_ALIASES.update(
    normal=RandomNormal,
    uniform=RandomUniform,
    one=Ones,
    zero=Zeros,
    IdentityInitializer=Identity,
    OrthogonalInitializer=Orthogonal,
    STFTInitializer=STFT,
)
_CATALOG = Catalog("initializer", {**{c.__name__: c for c in _CLASSES}, **_ALIASES})
globals().update(_ALIASES)  # keras.initializers.glorot_uniform is the class, as here


def serialize(initializer) -> dict:
    """`initializer` as a Keras 3 config dict."""
    return _CATALOG.serialize(initializer)


def deserialize(config, custom_objects=None):
    """The initializer a config dict or name describes."""
    return _CATALOG.deserialize(config, custom_objects)


def get(identifier):
    """An initializer from a name ("glorot_uniform"), config dict, instance, class, callable
    or array (which then is the value; its shape must match). None gives None."""
    if isinstance(identifier, (np.ndarray, np.generic, jax.Array)):
        value = identifier

        def initialize_fn(shape, dtype=None):
            if tuple(shape) != tuple(value.shape):
                raise ValueError(
                    f"initializer from an array: expected shape {tuple(value.shape)}, got "
                    f"{tuple(shape)}"
                )
            return convert_to_tensor(value, dtypes.standardize_dtype(dtype))

        return initialize_fn
    return _CATALOG.get(identifier)


__all__ = [c.__name__ for c in _CLASSES] + ["compute_fans", "deserialize", "get", "serialize"]
