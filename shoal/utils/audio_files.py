"""WAV files as float32 arrays, read with Python's `wave` module (no TensorFlow).

Samples come out as `tf.audio.decode_wav` gives them: shape `(frames, channels)`, integer
PCM scaled to [-1, 1) (16-bit samples divided by 32768; 8-bit unsigned, 24-bit and 32-bit
samples scaled the same way by their own range).
"""

from __future__ import annotations

import wave

import numpy as np


def wav_info(owner, path):
    """`(sample_rate, frames, channels)` from a WAV file's header."""
    try:
        with wave.open(str(path), "rb") as f:
            return f.getframerate(), f.getnframes(), f.getnchannels()
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{owner}: cannot read {str(path)!r} as a PCM WAV file: {err}") from err


def read_wav(owner, path, desired_samples=None):
    """The file's samples as float32 `(frames, channels)`; with `desired_samples`, cut or
    zero-padded to that many frames (as `tf.audio.decode_wav(desired_samples=...)`)."""
    try:
        with wave.open(str(path), "rb") as f:
            channels, width = f.getnchannels(), f.getsampwidth()
            raw = f.readframes(f.getnframes())
    except (wave.Error, EOFError) as err:
        raise ValueError(f"{owner}: cannot read {str(path)!r} as a PCM WAV file: {err}") from err
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype("float32") - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype("float32") / 32768.0
    elif width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 1 << 23, value - (1 << 24), value)
        samples = value.astype("float32") / float(1 << 23)
    elif width == 4:
        samples = (np.frombuffer(raw, "<i4").astype("float64") / float(1 << 31)).astype("float32")
    else:
        raise ValueError(
            f"{owner}: {str(path)!r} has {8 * width}-bit samples; expected 8, 16, 24 or 32-bit PCM"
        )
    samples = samples.reshape(-1, channels)
    if desired_samples is not None:
        samples = samples[:desired_samples]
        if len(samples) < desired_samples:
            pad = np.zeros((desired_samples - len(samples), channels), "float32")
            samples = np.concatenate([samples, pad])
    return samples
