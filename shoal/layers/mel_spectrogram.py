"""MelSpectrogram: mel-scaled (and optionally decibel) spectrograms of raw audio.

`|stft(x)| ** mag_exp` (centred frames, `keras.ops.stft`) is projected on triangular
mel filters (HTK mel scale, `mel(f) = 1127 ln(1 + f / 700)`, peaks of 1, the DC bin
excluded), then with `power_to_db` converted to `10 log10(S / ref_power)` clipped at
`top_db` below the maximum. The layer has no weights (Keras 3 semantics).

As in Keras, the `top_db` floor is taken from the maximum over the whole input, so the
items of a batch are not independent when the floor is reached.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.layers import conv_utils as cu
from shoal.layers.base import Layer
from shoal.ops.spectral import stft

_MEL_BREAK_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(hertz):
    return _MEL_HIGH_FREQUENCY_Q * jnp.log(1.0 + hertz / _MEL_BREAK_HERTZ)


def linear_to_mel_weight_matrix(
    num_mel_bins, num_spectrogram_bins, sampling_rate, lower_edge_hertz, upper_edge_hertz
):
    """`(num_spectrogram_bins, num_mel_bins)` float32 triangular mel filters (row 0 zero).

    Computed in float32 in Keras' order of operations, so it equals Keras' matrix.
    """
    dtype = jnp.float32
    with jax.ensure_compile_time_eval():
        nyquist = jnp.asarray(sampling_rate, dtype) / 2.0
        linear = jnp.linspace(jnp.asarray(0.0, dtype), nyquist, num_spectrogram_bins)[1:]
        bins_mel = _hertz_to_mel(linear)[:, None]
        edges = jnp.linspace(
            _hertz_to_mel(jnp.asarray(lower_edge_hertz, dtype)),
            _hertz_to_mel(jnp.asarray(upper_edge_hertz, dtype)),
            num_mel_bins + 2,
        )
        lower, center, upper = (edges[i : i + num_mel_bins][None, :] for i in range(3))
        rising = (bins_mel - lower) / (center - lower)
        falling = (upper - bins_mel) / (upper - center)
        weights = jnp.maximum(jnp.asarray(0.0, dtype), jnp.minimum(rising, falling))
        return np.asarray(jnp.pad(weights, [(1, 0), (0, 0)]))


def _number(layer, name, value, low=None, strict=False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low}"
        raise ValueError(
            f"{cu._where(layer)}: argument '{name}' must be a number{bound}, got {value!r}"
        )
    return value


class MelSpectrogram(Layer):
    """Mel spectrograms of `(samples,)` or `(batch, samples)` audio.

    Args:
        fft_length: FFT size (2048).
        sequence_stride: hop between frames (512).
        sequence_length: window length, `<= fft_length`; `fft_length` when None.
        window: "hann" (default), "hamming", an array of `sequence_length` values, or
            None.
        sampling_rate: samples per second (16000).
        num_mel_bins: number of mel bands (128).
        min_freq, max_freq: the band edges in Hz (20 and `sampling_rate / 2`).
        power_to_db: convert to decibels (default True).
        top_db: dynamic range kept below the maximum, in dB (80).
        mag_exp: exponent of the magnitude (2: power).
        min_power: floor of the power and `ref_power` before the logarithm.
        ref_power: the power mapped to 0 dB.

    Output: `(num_mel_bins, frames)` or `(batch, num_mel_bins, frames)`, with
    `frames = 1 + (samples + 2 * (fft_length // 2) - fft_length) // sequence_stride`.

    Example:
        >>> layer = MelSpectrogram(fft_length=256, sequence_stride=64, num_mel_bins=16)
        >>> layer(np.zeros((2, 512), "float32")).shape
        (2, 16, 9)
    """

    def __init__(
        self,
        fft_length=2048,
        sequence_stride=512,
        sequence_length=None,
        window="hann",
        sampling_rate=16000,
        num_mel_bins=128,
        min_freq=20.0,
        max_freq=None,
        power_to_db=True,
        top_db=80.0,
        mag_exp=2.0,
        min_power=1e-10,
        ref_power=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = cu._where(self)
        self.fft_length = cu.positive_int(self, "fft_length", fft_length)
        self.sequence_stride = cu.positive_int(self, "sequence_stride", sequence_stride)
        sequence_length = self.fft_length if sequence_length is None else sequence_length
        self.sequence_length = cu.positive_int(self, "sequence_length", sequence_length)
        if self.sequence_length > self.fft_length:
            raise ValueError(
                f"{where}: argument 'sequence_length' must be <= fft_length={self.fft_length}, "
                f"got {self.sequence_length}"
            )
        if isinstance(window, str) or window is None:
            if window not in ("hann", "hamming", None):
                raise ValueError(
                    f"{where}: argument 'window' must be 'hann', 'hamming', an array of "
                    f"sequence_length values or None, got {window!r}"
                )
        elif np.shape(window) != (self.sequence_length,):
            raise ValueError(
                f"{where}: argument 'window' must have shape ({self.sequence_length},) "
                f"(sequence_length), got shape {np.shape(window)}"
            )
        self.window = window
        self.sampling_rate = _number(self, "sampling_rate", sampling_rate, 0, strict=True)
        self.num_mel_bins = cu.positive_int(self, "num_mel_bins", num_mel_bins)
        self.min_freq = _number(self, "min_freq", min_freq, 0)
        # Keras' default (and falsy values) is int(sampling_rate / 2).
        self.max_freq = _number(self, "max_freq", max_freq or int(sampling_rate / 2))
        if self.max_freq <= self.min_freq:
            raise ValueError(
                f"{where}: argument 'max_freq' must be greater than min_freq={self.min_freq}, "
                f"got {self.max_freq}"
            )
        if not isinstance(power_to_db, (bool, np.bool_)):
            raise ValueError(f"{where}: argument 'power_to_db' must be a bool, got {power_to_db!r}")
        self.power_to_db = bool(power_to_db)
        self.top_db = _number(self, "top_db", top_db)
        self.mag_exp = _number(self, "mag_exp", mag_exp)
        self.min_power = _number(self, "min_power", min_power, 0)
        self.ref_power = _number(self, "ref_power", ref_power)
        self._mel_matrix = None

    def _matrix(self):
        if self._mel_matrix is None:
            self._mel_matrix = linear_to_mel_weight_matrix(
                self.num_mel_bins,
                self.fft_length // 2 + 1,
                self.sampling_rate,
                self.min_freq,
                self.max_freq,
            )
        return self._mel_matrix

    def call(self, inputs):
        compute = self.compute_dtype
        dtype = compute if compute in ("float32", "float64") else "float32"
        x = jnp.asarray(inputs).astype(dtype)
        if x.ndim not in (1, 2):
            raise ValueError(
                f"{cu._where(self)}: expected audio of shape (samples,) or (batch, samples), "
                f"got input shape {tuple(x.shape)}"
            )
        window = (
            self.window
            if self.window is None or isinstance(self.window, str)
            else (jnp.asarray(self.window, dtype))
        )
        real, imag = stft(
            x,
            self.sequence_length,
            self.sequence_stride,
            self.fft_length,
            window=window,
            center=True,
        )
        spec = jnp.power(jnp.sqrt(jnp.square(real) + jnp.square(imag)), self.mag_exp)
        out = jnp.tensordot(spec, jnp.asarray(self._matrix(), dtype), axes=1)
        if self.power_to_db:
            out = self._decibels(out)
        return jnp.swapaxes(out, -1, -2).astype(dtypes.standardize_dtype(compute))

    def _decibels(self, power):
        db = 10.0 * jnp.log10(jnp.maximum(power, self.min_power))
        ref = jnp.abs(jnp.asarray(self.ref_power, power.dtype))
        db = db - 10.0 * jnp.log10(jnp.maximum(ref, self.min_power))
        return jnp.maximum(db, jnp.max(db) - self.top_db)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) not in (1, 2):
            raise ValueError(
                f"{cu._where(self)}: expected audio of shape (samples,) or (batch, samples), "
                f"got input shape {shape}"
            )
        samples = shape[-1]
        frames = None
        if samples is not None:
            padded = samples + 2 * (self.fft_length // 2)
            frames = (padded - self.fft_length) // self.sequence_stride + 1
        return (*shape[:-1], self.num_mel_bins, frames)

    def get_config(self):
        return {
            **super().get_config(),
            "fft_length": self.fft_length,
            "sequence_stride": self.sequence_stride,
            "sequence_length": self.sequence_length,
            "window": self.window
            if self.window is None or isinstance(self.window, str)
            else np.asarray(self.window).tolist(),
            "sampling_rate": self.sampling_rate,
            "num_mel_bins": self.num_mel_bins,
            "min_freq": self.min_freq,
            "max_freq": self.max_freq,
            "power_to_db": self.power_to_db,
            "top_db": self.top_db,
            "mag_exp": self.mag_exp,
            "min_power": self.min_power,
            "ref_power": self.ref_power,
        }
