"""STFTSpectrogram: spectrograms of 1-D signals by convolution with Fourier kernels.

The STFT is computed as a strided 1-D convolution whose kernels (`real_kernel`,
`imag_kernel`, shape `(frame_length, 1, fft_length // 2 + 1)`, built by the `STFT`
initializer) hold the windowed Fourier basis, so they can be trained (Keras 3
semantics). Each input channel is transformed independently with the same kernels; the
two kernels run as one convolution with their bins side by side.
"""

from __future__ import annotations

import math
import warnings

import jax.numpy as jnp
import numpy as np

from shoal.backend import config, dtypes
from shoal.initializers_stft import STFT, check_scaling, check_window, window_config
from shoal.layers import conv_utils as cu
from shoal.layers.base import Layer
from shoal.layers.input_spec import InputSpec
from shoal.ops import cpu_conv

MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


def _bool_arg(layer, name, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{cu._where(layer)}: argument '{name}' must be a bool, got {value!r}")
    return bool(value)


class STFTSpectrogram(Layer):
    """Short-Time Fourier Transform spectrogram of `(batch, time, channels)` signals.

    Args:
        mode: "log" (log magnitude, default), "magnitude", "psd" (power, the
            non-DC/Nyquist bins doubled), "real", "imag", "angle" or "stft" (real and
            imaginary bins side by side).
        frame_length: samples per frame (window); 256 by default.
        frame_step: hop between frames, in `[1, frame_length]`; `frame_length // 2` when
            None.
        fft_length: FFT size, `>= frame_length` (a power of two is recommended); the
            smallest power of two `>= frame_length` when None.
        window: a `scipy.signal.get_window` name ("hann", "hamming", ...), an array of
            `frame_length` values, or None.
        periodic: use the periodic form of a named window (default: symmetric).
        scaling: "density" (default), "spectrum" or None: the window normalisation.
        padding: "valid" (default) or "same".
        expand_dims: keep frequency and channels as two axes (an image-like output).
        data_format: "channels_last" (default) or "channels_first".

    Output: with `F = fft_length // 2 + 1` (doubled for "stft") and `C` channels,
    `(batch, frames, C * F)` / `(batch, C * F, frames)` (channels_last / first), or with
    `expand_dims` `(batch, frames, F, C)` / `(batch, C, frames, F)`.

    Example:
        >>> layer = STFTSpectrogram(frame_length=64, frame_step=32, fft_length=64)
        >>> layer(np.zeros((2, 256, 1), "float32")).shape
        (2, 7, 33)
    """

    def __init__(
        self,
        mode="log",
        frame_length=256,
        frame_step=None,
        fft_length=None,
        window="hann",
        periodic=False,
        scaling="density",
        padding="valid",
        expand_dims=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        where = cu._where(self)
        if mode not in MODES:
            raise ValueError(
                f"{where}: argument 'mode' must be one of {', '.join(map(repr, MODES))}, "
                f"got {mode!r}"
            )
        self.mode = mode
        self.frame_length = cu.positive_int(self, "frame_length", frame_length)
        if frame_step is not None:
            frame_step = cu.positive_int(self, "frame_step", frame_step)
            if frame_step > self.frame_length:
                raise ValueError(
                    f"{where}: argument 'frame_step' must be a positive integer not greater "
                    f"than frame_length={self.frame_length}, got {frame_step}"
                )
        self.frame_step = frame_step
        self._frame_step = frame_step or max(1, self.frame_length // 2)
        if fft_length is not None:
            fft_length = cu.positive_int(self, "fft_length", fft_length)
            if fft_length < self.frame_length:
                raise ValueError(
                    f"{where}: argument 'fft_length' must be >= frame_length="
                    f"{self.frame_length}, got {fft_length}"
                )
            if fft_length & (fft_length - 1):
                warnings.warn(
                    f"{where}: 'fft_length' is recommended to be a power of two, got {fft_length}",
                    stacklevel=2,
                )
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** math.ceil(math.log2(self.frame_length))
        check_window(where, window)
        if window is not None and not isinstance(window, str):
            length = np.asarray(window).shape[0]
            if length != self.frame_length:
                raise ValueError(
                    f"{where}: argument 'window' must hold frame_length={self.frame_length} "
                    f"values, got {length}"
                )
        self.window = window
        self.periodic = _bool_arg(self, "periodic", periodic)
        check_scaling(where, scaling)
        self.scaling = scaling
        self.padding = cu.padding_arg(self, padding)
        self.expand_dims = _bool_arg(self, "expand_dims", expand_dims)
        self.data_format = cu.data_format_arg(self, data_format)
        self.input_spec = InputSpec(ndim=3)

    @property
    def _bins(self) -> int:
        return self._fft_length // 2 + 1

    def _sides(self) -> tuple:
        """The kernels this mode needs, in weight order."""
        return (self.mode,) if self.mode in ("real", "imag") else ("real", "imag")

    def build(self, input_shape):
        self._check_frames(input_shape)
        shape = (self.frame_length, 1, self._bins)
        for side in self._sides():
            kernel = self.add_weight(
                name=f"{side}_kernel",
                shape=shape,
                initializer=STFT(side, self.window, self.scaling, self.periodic),
            )
            setattr(self, f"{side}_kernel", kernel)
        self.built = True

    def _time_and_channels(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"{cu._where(self)}: expected an input of rank 3 (batch, time, channels) "
                f"or (batch, channels, time), got input shape {shape}"
            )
        if self.data_format == "channels_last":
            return shape[1], shape[2]
        return shape[2], shape[1]

    def _frames(self, time):
        return cu.conv_output_length(time, self.frame_length, self._frame_step, self.padding, 1)

    def _check_frames(self, input_shape):
        time, _ = self._time_and_channels(input_shape)
        frames = self._frames(time)
        if frames is not None and frames <= 0:
            raise ValueError(
                f"{cu._where(self)}: the signal is shorter than frame_length="
                f"{self.frame_length} (padding='valid'): input shape {tuple(input_shape)} "
                "would give no frames"
            )

    def call(self, inputs):
        dtype = dtypes.standardize_dtype(inputs.dtype)
        if dtype not in ("float16", "float32", "float64"):
            raise TypeError(
                f"{cu._where(self)}: inputs must be float16, float32 or float64, got dtype {dtype}"
            )
        self._check_frames(inputs.shape)
        x = inputs if self.data_format == "channels_first" else jnp.swapaxes(inputs, 1, 2)
        batch, channels, time = x.shape
        kernel = jnp.concatenate(
            [getattr(self, f"{s}_kernel").value.astype(dtype) for s in self._sides()], axis=-1
        )
        out = cpu_conv.conv_general_dilated(
            x.reshape(batch * channels, time, 1),
            kernel,
            window_strides=(self._frame_step,),
            padding=self.padding.upper(),
            dimension_numbers=cu.dimension_numbers(1, "channels_last"),
        )
        out = out.reshape(batch, channels, out.shape[1], out.shape[2])  # (B, C, frames, bins)
        return self._arrange(self._mode_output(out))

    def _mode_output(self, out):
        if self.mode in ("real", "imag"):
            return out
        real, imag = out[..., : self._bins], out[..., self._bins :]
        if self.mode == "stft":
            return out
        if self.mode == "angle":
            return jnp.arctan2(imag, real)
        power = jnp.square(real) + jnp.square(imag)
        if self.mode == "psd":
            # One-sided power: every bin but DC and the last counts twice (Keras' rule).
            double = np.ones(self._bins)
            double[1:-1] = 2.0
            return power * jnp.asarray(double, power.dtype)
        eps = config.epsilon()
        magnitude = jnp.sqrt(jnp.maximum(power, eps))
        return magnitude if self.mode == "magnitude" else jnp.log(jnp.maximum(magnitude, eps))

    def _arrange(self, out):
        """(B, C, frames, F) -> the layer's output layout."""
        batch, channels, frames, bins = out.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return jnp.transpose(out, (0, 2, 3, 1))
            return jnp.transpose(out, (0, 2, 1, 3)).reshape(batch, frames, channels * bins)
        if self.expand_dims:
            return out
        return jnp.transpose(out, (0, 1, 3, 2)).reshape(batch, channels * bins, frames)

    def compute_output_shape(self, input_shape):
        time, channels = self._time_and_channels(input_shape)
        batch, frames = tuple(input_shape)[0], self._frames(time)
        bins = self._bins * (2 if self.mode == "stft" else 1)
        if self.expand_dims:
            if self.data_format == "channels_last":
                return (batch, frames, bins, channels)
            return (batch, channels, frames, bins)
        flat = None if channels is None else channels * bins
        if self.data_format == "channels_last":
            return (batch, frames, flat)
        return (batch, flat, frames)

    def get_config(self):
        return {
            **super().get_config(),
            "mode": self.mode,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "window": window_config(self.window),
            "periodic": self.periodic,
            "scaling": self.scaling,
            "padding": self.padding,
            "data_format": self.data_format,
            "expand_dims": self.expand_dims,
        }
