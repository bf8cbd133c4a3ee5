"""Short-time Fourier transforms: `keras.ops.stft` and `keras.ops.istft`.

`stft` cuts the last axis into frames of `fft_length` samples, `sequence_stride`
apart, multiplies each by the window (`sequence_length` long, zero-padded to
`fft_length` on both sides), and takes its real FFT, unscaled. With `center=True` the
signal is first reflect-padded by `fft_length // 2` on both sides, so frame `t` is
centred on sample `t * sequence_stride`. Complex results are `(real, imag)` tuples,
Keras' convention.

`istft` inverts it by windowed overlap-add, divided by the overlap-added squared
window (where that is not ~0), as `scipy.signal.istft` and Keras do.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.image_args import is_int
from shoal.ops.numpy import _t

_WINDOWS = ("hann", "hamming")


def _periodic_window(name: str, length: int) -> np.ndarray:
    """scipy.signal.get_window(name, length): the periodic (FFT) form, in float64."""
    if length == 1:
        return np.ones(1)
    a = 0.5 if name == "hann" else 0.54
    return a - (1 - a) * np.cos(2 * np.pi * np.arange(length) / length)


def _check_sizes(op, sequence_length, sequence_stride, fft_length):
    for name, value in (
        ("sequence_length", sequence_length),
        ("sequence_stride", sequence_stride),
        ("fft_length", fft_length),
    ):
        if not is_int(value) or value < 1:
            raise ValueError(f"{op}: argument '{name}' must be a positive int, got {value!r}")
    if fft_length < sequence_length:
        raise ValueError(
            f"{op}: argument 'fft_length' must be >= sequence_length={sequence_length}, "
            f"got {fft_length}"
        )


def _window(op, window, sequence_length, fft_length, dtype):
    """The window zero-padded to `fft_length` (centred), or None for no window."""
    if window is None:
        return None
    if isinstance(window, str):
        if window not in _WINDOWS:
            raise ValueError(
                f"{op}: argument 'window' must be one of {_WINDOWS}, a tensor or None, "
                f"got {window!r}"
            )
        window = jnp.asarray(_periodic_window(window, sequence_length), dtype)
    else:
        window = _t(window).astype(dtype)
        if window.shape != (sequence_length,):
            raise ValueError(
                f"{op}: argument 'window' must have shape ({sequence_length},) "
                f"(sequence_length), got shape {tuple(window.shape)}"
            )
    left = (fft_length - sequence_length) // 2
    return jnp.pad(window, (left, fft_length - sequence_length - left))


def _frame_starts(count: int, stride: int, length: int):
    """(count, length) indices of `count` frames of `length` samples, `stride` apart."""
    return np.arange(count)[:, None] * stride + np.arange(length)[None, :]


@keras_op
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform along the last axis of a float32/float64 `x`.

    Args:
        x: `(..., samples)` signal.
        sequence_length: window length.
        sequence_stride: hop between frames.
        fft_length: FFT size (>= `sequence_length`).
        window: "hann", "hamming" (periodic forms), a `(sequence_length,)` tensor, or
            None (rectangular).
        center: reflect-pad by `fft_length // 2` so frame `t` is centred on sample
            `t * sequence_stride`.

    Returns:
        `(real, imag)`, each `(..., frames, fft_length // 2 + 1)`.

    Example:
        >>> stft(np.array([0.0, 1.0, 2.0, 3.0, 4.0], "float32"), 3, 2, 3)[0]
        Array([[ 0.75 , -0.375], [ 3.75 , -1.875], [ 5.25 , -2.625]], dtype=float32)
    """
    _check_sizes("stft", sequence_length, sequence_stride, fft_length)
    x = _t(x)
    if x.dtype not in (jnp.float32, jnp.float64):
        raise TypeError(f"stft: argument 'x' must be float32 or float64, got dtype {x.dtype}")
    if x.ndim < 1:
        raise ValueError(f"stft: argument 'x' must have rank >= 1, got shape {tuple(x.shape)}")
    win = _window("stft", window, sequence_length, fft_length, x.dtype)
    if center:
        half = fft_length // 2
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(half, half)], mode="reflect")
    if x.shape[-1] < fft_length:
        raise ValueError(
            f"stft: argument 'x' must have at least fft_length={fft_length} samples "
            f"(after any centre padding), got shape {tuple(x.shape)}"
        )
    count = (x.shape[-1] - fft_length) // sequence_stride + 1
    frames = x[..., _frame_starts(count, sequence_stride, fft_length)]
    if win is not None:
        frames = frames * win
    spectrum = jnp.fft.rfft(frames, n=fft_length, axis=-1)
    return jnp.real(spectrum), jnp.imag(spectrum)


def _complex(x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(
            "istft: argument 'x' must be a tuple (real, imag) of two float tensors, "
            f"got {type(x).__name__}"
        )
    real, imag = _t(x[0]), _t(x[1])
    if real.shape != imag.shape:
        raise ValueError(
            "istft: the real and imaginary parts of 'x' must have the same shape, got "
            f"{tuple(real.shape)} and {tuple(imag.shape)}"
        )
    if not (jnp.issubdtype(real.dtype, jnp.floating) and jnp.issubdtype(imag.dtype, jnp.floating)):
        raise ValueError(
            "istft: the real and imaginary parts of 'x' must be float tensors, got dtypes "
            f"{real.dtype} and {imag.dtype}"
        )
    if real.ndim < 2:
        raise ValueError(
            f"istft: argument 'x' must have rank >= 2 (..., frames, bins), got shape "
            f"{tuple(real.shape)}"
        )
    return real + 1j * imag.astype(real.dtype), real.dtype


@keras_op
def istft(
    x,
    sequence_length,
    sequence_stride,
    fft_length,
    length=None,
    window="hann",
    center=True,
):
    """Inverse of `stft` (with the same arguments), by windowed overlap-add.

    Args:
        x: `(real, imag)`, each `(..., frames, fft_length // 2 + 1)`.
        sequence_length, sequence_stride, fft_length, window, center: as given to
            `stft`.
        length: if given, the output is cut to this many samples (it is not padded).

    Returns:
        `(..., samples)`: `(frames - 1) * sequence_stride + fft_length` samples, less
        `fft_length // 2` at each end when `center`, or `length`.

    Example:
        >>> x = np.random.rand(64).astype("float32")
        >>> y = istft(stft(x, 16, 4, 16), 16, 4, 16)  # y ~= x
    """
    _check_sizes("istft", sequence_length, sequence_stride, fft_length)
    if length is not None and (not is_int(length) or length < 0):
        raise ValueError(f"istft: argument 'length' must be an int >= 0 or None, got {length!r}")
    spectrum, dtype = _complex(x)
    win = _window("istft", window, sequence_length, fft_length, dtype)
    frames = jnp.fft.irfft(spectrum, n=fft_length, axis=-1).astype(dtype)
    count = frames.shape[-2]
    total = fft_length + sequence_stride * (count - 1)
    index = _frame_starts(count, sequence_stride, fft_length)
    if win is None:
        # Keras' scaling for a rectangular window (the overlap count is then divided
        # out by the norm below, and a full-overlap hop gives back the signal).
        frames = frames * (fft_length / sequence_stride)
        win = jnp.ones((fft_length,), dtype)
    signal = jnp.zeros((*frames.shape[:-2], total), dtype).at[..., index].add(frames * win)
    norm = jnp.zeros((total,), dtype).at[index].add(jnp.broadcast_to(win * win, index.shape))
    signal = signal / jnp.where(norm > 1e-10, norm, 1.0)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
    else:
        end = total - start
    return signal[..., start:end]


__all__ = public_names(globals())
