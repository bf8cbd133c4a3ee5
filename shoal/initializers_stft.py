"""The `keras.initializers.STFT` initializer: Fourier-basis convolution kernels.

A kernel of shape `(frame_length, channels, bins)` holds, for frequency bin `k` and
time `t`, `cos(-2 pi t k / n)` ("real" side) or `sin(-2 pi t k / n)` ("imag" side) with
`n = 2 * (bins - 1)`, times a window over `t` divided by the window's L2 norm
("density") or L1 norm ("spectrum"). Convolving a signal with it (stride = hop) gives
the real or imaginary part of the one-sided STFT; `STFTSpectrogram` builds its kernels
with it.

The phase `-2 * t * (k / n) * pi` is formed in the requested dtype, in Keras' order, so
float32 kernels equal Keras' bit for bit (a float64 phase would differ from Keras by up
to ~1e-4 for long frames, where float32 cannot hold the phase more precisely).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.initializer_base import Initializer

SIDES = ("real", "imag")
SCALINGS = ("density", "spectrum")


def check_window_name(where: str, window) -> None:
    """ValueError unless `window` names a `scipy.signal.get_window` window."""
    from scipy import signal  # jax depends on scipy; imported on use (it is slow to load)

    try:
        signal.get_window(window, 1)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{where}: argument 'window' must name a scipy.signal window ('hann', "
            f"'hamming', 'blackman', ...), an array of frame_length values or None, "
            f"got {window!r} ({err})"
        ) from None


def window_values(where: str, window, length: int, periodic: bool) -> np.ndarray:
    """The window as a float64 `(length,)` array: a scipy window by name, or the values."""
    if isinstance(window, str):
        from scipy import signal

        check_window_name(where, window)
        return np.asarray(signal.get_window(window, length, fftbins=bool(periodic)), "float64")
    values = np.asarray(window, "float64")
    if values.shape != (length,):
        raise ValueError(
            f"{where}: argument 'window' must have shape ({length},) (frame_length), "
            f"got shape {values.shape}"
        )
    return values


def check_window(where: str, window) -> None:
    """Construction-time check of a `window` argument: a name, a 1-D array, or None."""
    if window is None:
        return
    if isinstance(window, str):
        check_window_name(where, window)
        return
    try:
        values = np.asarray(window, "float64")
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1:
        raise ValueError(
            f"{where}: argument 'window' must be a window name, a 1-D array of floats or "
            f"None, got {window!r}"
        )


def check_scaling(where: str, scaling) -> None:
    if scaling is not None and scaling not in SCALINGS:
        raise ValueError(
            f"{where}: argument 'scaling' must be None, 'density' or 'spectrum', got {scaling!r}"
        )


def window_config(window):
    """`window` as a JSON-friendly config value (arrays become lists)."""
    if window is None or isinstance(window, str):
        return window
    return np.asarray(window).tolist()


class STFT(Initializer):
    """Kernels of a Short-Time Fourier Transform as a 1-D convolution (Keras 3 semantics).

    Args:
        side: "real" (cosine basis) or "imag" (sine basis).
        window: a `scipy.signal.get_window` name ("hann", "hamming", ...), an array of
            `frame_length` values, or None (rectangular, unscaled).
        scaling: "density" (divide by the window's L2 norm), "spectrum" (L1 norm) or None.
        periodic: use the periodic (FFT) form of a named window, not the symmetric one.

    Called with shape `(frame_length, channels, fft_length // 2 + 1)`.

    Example:
        >>> STFT("real", "hann")(shape=(16, 1, 9)).shape
        (16, 1, 9)
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in SIDES:
            raise ValueError(
                f"STFT initializer: argument 'side' must be 'real' or 'imag', got {side!r}"
            )
        check_window("STFT initializer", window)
        check_scaling("STFT initializer", scaling)
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = periodic

    def __call__(self, shape, dtype=None):
        dtype = dtypes.standardize_dtype(dtype)
        shape = tuple(int(d) for d in shape)
        if len(shape) != 3:
            raise ValueError(
                f"STFT initializer: 'shape' must be (frame_length, channels, bins), got {shape}"
            )
        frame_length, _, bins = shape
        with jax.ensure_compile_time_eval():
            n = (bins - 1) * 2
            freq = jnp.arange(bins, dtype=dtype).reshape(1, 1, bins) / jnp.asarray(n, dtype)
            time = jnp.arange(frame_length, dtype=dtype).reshape(frame_length, 1, 1)
            phase = (jnp.asarray(-2, dtype) * time) * freq * jnp.arccos(jnp.asarray(-1, dtype))
            kernel = jnp.cos(phase) if self.side == "real" else jnp.sin(phase)
            if self.window is not None:
                values = window_values("STFT initializer", self.window, frame_length, self.periodic)
                win = jnp.asarray(values, dtype).reshape(frame_length, 1, 1)
                kernel = kernel * win
                if self.scaling == "density":
                    kernel = kernel / jnp.sqrt(jnp.sum(jnp.square(win)))
                elif self.scaling == "spectrum":
                    kernel = kernel / jnp.sum(jnp.abs(win))
            # Keras returns (frame_length, 1, bins) whatever the channel count; every
            # channel gets the same basis here, so any requested shape is honoured.
            return jnp.broadcast_to(kernel, shape).astype(dtype)

    def get_config(self):
        return {
            "side": self.side,
            "window": window_config(self.window),
            "periodic": self.periodic,
            "scaling": self.scaling,
        }


STFTInitializer = STFT
stft = STFT


__all__ = ["STFT", "STFTInitializer", "stft"]
