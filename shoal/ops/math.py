"""The Keras `ops` math functions: special functions, segments, top-k, FFTs.

FFTs follow Keras' convention of complex values as `(real, imag)` tuples of
float tensors.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp

from shoal.backend import dtypes
from shoal.backend.symbolic import KerasTensor, eval_op_output_spec
from shoal.ops.dispatch import keras_op, public_names, symbolic_spec
from shoal.ops.numpy import _axis, _op, _t
from shoal.ops.spectral import istft as istft
from shoal.ops.spectral import stft as stft


def _special(name, fn, doc):
    def op(x):
        return fn(_t(x))

    return _op(name, op, doc)


erf = _special("erf", jsp.erf, "The error function of `x`.")
erfc = _special("erfc", jsp.erfc, "`1 - erf(x)`, accurate for large `x`.")
erfinv = _special("erfinv", jsp.erfinv, "The inverse error function of `x`.")
rsqrt = _special("rsqrt", jax.lax.rsqrt, "`1 / sqrt(x)`.")


@keras_op
def logsumexp(x, axis=None, keepdims=False):
    """`log(sum(exp(x)))` over `axis`, computed stably."""
    return jsp.logsumexp(_t(x), axis=_axis(axis), keepdims=keepdims)


@keras_op
def top_k(x, k, sorted=True):
    """(values, indices) of the `k` largest entries along the last axis, largest first."""
    return jax.lax.top_k(_t(x), k)


@keras_op
def in_top_k(targets, predictions, k):
    """Whether each `targets[i]` is among the `k` largest of `predictions[i]`."""
    targets, predictions = _t(targets), _t(predictions)
    at_label = jnp.take_along_axis(predictions, targets[..., None], axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)  # NaN is never "large"
    rank = 1 + jnp.sum(predictions > at_label, axis=-1)
    return rank <= k


def _segment(name, jfn):
    def op(data, segment_ids, num_segments=None, sorted=False):
        data, segment_ids = _t(data), _t(segment_ids)
        if segment_ids.ndim != 1 or segment_ids.shape[0] != data.shape[0]:
            raise ValueError(
                f"{name}: 'segment_ids' must be 1-D with data's leading length "
                f"({data.shape[0]}); got segment_ids.shape={segment_ids.shape}"
            )
        if num_segments is None:
            try:  # only possible when the ids are concrete (eager mode)
                num_segments = int(jnp.max(segment_ids)) + 1
            except jax.errors.ConcretizationTypeError as err:
                raise ValueError(
                    f"{name}: argument 'num_segments' is required inside compiled code, got None"
                ) from err
        return jfn(data, segment_ids, num_segments, indices_are_sorted=sorted)

    def spec(data, segment_ids, num_segments=None, sorted=False):
        if num_segments is None and hasattr(data, "shape"):
            # The segment count depends on the ids' values, known only when run (as Keras).
            return KerasTensor((None, *data.shape[1:]), dtype=dtypes.standardize_dtype(data.dtype))
        return eval_op_output_spec(op, data, segment_ids, num_segments, sorted)

    doc = f"Per-segment {name[8:]} of `data` rows grouped by `segment_ids`."
    return symbolic_spec(spec)(_op(name, op, doc))


segment_sum = _segment("segment_sum", jax.ops.segment_sum)
segment_max = _segment("segment_max", jax.ops.segment_max)
segment_min = _segment("segment_min", jax.ops.segment_min)
segment_prod = _segment("segment_prod", jax.ops.segment_prod)


@keras_op
def logdet(x):
    """`log(det(x))` of (batches of) positive-definite matrices."""
    return jnp.linalg.slogdet(_t(x))[1]


@keras_op
def cdist(x, y):
    """Euclidean distances between the rows of `x` and of `y` (batched)."""
    x, y = _t(x), _t(y)
    if x.shape[-1:] != y.shape[-1:]:
        raise ValueError(
            f"cdist: argument 'y' must have the last axis length of 'x'; got shapes "
            f"x={x.shape} and y={y.shape}"
        )
    diff = x[..., :, None, :] - y[..., None, :, :]
    return jnp.sqrt(jnp.sum(diff * diff, axis=-1))


@keras_op
def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of `sequence_length` taken every `sequence_stride` along the last axis."""
    x = _t(x)
    count = (x.shape[-1] - sequence_length) // sequence_stride + 1
    starts = jnp.arange(count) * sequence_stride
    index = starts[:, None] + jnp.arange(sequence_length)[None, :]
    return x[..., index]


def _complex(x, op):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{op}: argument 'x' must be a (real, imag) pair of tensors, got {x!r}")
    real, imag = _t(x[0]), _t(x[1])
    if real.shape != imag.shape or not (
        jnp.issubdtype(real.dtype, jnp.floating) and jnp.issubdtype(imag.dtype, jnp.floating)
    ):
        raise ValueError(
            f"{op}: the real and imaginary parts must be float tensors of one shape; "
            f"got {real.dtype}{real.shape} and {imag.dtype}{imag.shape}"
        )
    return jax.lax.complex(real, imag)


def _parts(z):
    return jnp.real(z), jnp.imag(z)


@keras_op
def fft(x):
    """FFT over the last axis of the complex `(real, imag)` pair `x`."""
    return _parts(jnp.fft.fft(_complex(x, "fft")))


@keras_op
def fft2(x):
    """2-D FFT over the last two axes of the complex `(real, imag)` pair `x`."""
    return _parts(jnp.fft.fft2(_complex(x, "fft2")))


@keras_op
def ifft2(x):
    """Inverse 2-D FFT over the last two axes of the complex `(real, imag)` pair `x`."""
    return _parts(jnp.fft.ifft2(_complex(x, "ifft2")))


@keras_op
def rfft(x, fft_length=None):
    """FFT of the real `x` over its last axis, as a `(real, imag)` pair."""
    return _parts(jnp.fft.rfft(_t(x), n=fft_length, axis=-1))


@keras_op
def irfft(x, fft_length=None):
    """Inverse of `rfft`: a real signal from the `(real, imag)` pair `x`."""
    return jnp.fft.irfft(_complex(x, "irfft"), n=fft_length, axis=-1)


@keras_op
def view_as_complex(x):
    """A complex tensor from `x` whose last axis (of length 2) holds (real, imag)."""
    x = _t(x)
    if x.shape[-1:] != (2,):
        raise ValueError(f"view_as_complex: last axis of 'x' must have length 2, got {x.shape}")
    return jax.lax.complex(x[..., 0], x[..., 1])


@keras_op
def view_as_real(x):
    """The complex `x` as a float tensor with a trailing (real, imag) axis."""
    x = _t(x)
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


__all__ = sorted(public_names(globals()) + ["istft", "stft"])
