"""`audio_dataset_from_directory`: a directory of `.wav` files as a PyDataset of batches."""

from __future__ import annotations

import numbers

import numpy as np

from shoal.utils import dataset_files
from shoal.utils.audio_files import read_wav, wav_info

ALLOWED_FORMATS = (".wav",)
_OWNER = "audio_dataset_from_directory"


def _check_positive_int(name, value):
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0
    ):
        raise ValueError(
            f"{_OWNER}: argument '{name}' must be a positive integer or None; got {value!r}"
        )


def _stack(clips, ragged):
    """Clips of `(frames, channels)` as one batch: an object array of the clips when
    `ragged`, else float32 `(batch, longest, channels)` zero-padded at the end."""
    if ragged:
        batch = np.empty(len(clips), dtype=object)
        for i, clip in enumerate(clips):
            batch[i] = clip
        return batch
    channels = {c.shape[1] for c in clips}
    if len(channels) > 1:
        raise ValueError(
            f"{_OWNER}: the files of a batch must have the same number of channels; got "
            f"{sorted(channels)}"
        )
    out = np.zeros((len(clips), max(len(c) for c in clips), channels.pop()), "float32")
    for i, clip in enumerate(clips):
        out[i, : len(clip)] = clip
    return out


def audio_dataset_from_directory(
    directory,
    labels="inferred",
    label_mode="int",
    class_names=None,
    batch_size=32,
    sampling_rate=None,
    output_sequence_length=None,
    ragged=False,
    shuffle=True,
    seed=None,
    validation_split=None,
    subset=None,
    follow_links=False,
    verbose=True,
):
    """The `.wav` files under `directory` as a `PyDataset` of batches `(audio, labels)`
    (just `audio` when `labels` or `label_mode` is None), as Keras'
    `keras.utils.audio_dataset_from_directory`.

    With `labels="inferred"` each subdirectory is a class (sorted names, or `class_names`'
    order). Files are decoded with Python's `wave` module into float32 samples in [-1, 1)
    as `tf.audio.decode_wav` gives them. Audio batches are float32
    `(batch, sequence_length, channels)`: each file cut or zero-padded to
    `output_sequence_length` frames, or without it zero-padded to the longest file of the
    batch. With `ragged=True` a batch is a NumPy object array of `(frames, channels)`
    arrays, one per file (shoal has no ragged tensors). Labels are int32 `(batch,)` for
    `label_mode="int"`, float32 one-hot `(batch, num_classes)` for "categorical", float32
    `(batch, 1)` for "binary".

    Files are listed and shuffled once (from `seed`) as Keras lists them, so the same
    files land in the same subset: with `validation_split`, `subset="training"` /
    `"validation"` returns that part and `subset="both"` returns both. `sampling_rate`
    (resampling, which Keras does with tensorflow-io) is accepted only when every file
    already has that rate. The result has `class_names` and `file_paths` attributes;
    `batch_size=None` yields single clips.

    Example:
        >>> train, val = audio_dataset_from_directory(
        ...     "speech/", output_sequence_length=16000, validation_split=0.2,
        ...     subset="both", seed=0)  # doctest: +SKIP
        >>> model.fit(train, validation_data=val)  # doctest: +SKIP
    """
    labels, label_mode = dataset_files.check_arguments(
        _OWNER, labels, label_mode, class_names, validation_split, subset, shuffle, seed
    )
    batch_size = dataset_files.positive_int_or_none(_OWNER, "batch_size", batch_size)
    _check_positive_int("sampling_rate", sampling_rate)
    _check_positive_int("output_sequence_length", output_sequence_length)
    if ragged and output_sequence_length is not None:
        raise ValueError(
            f"{_OWNER}: arguments 'ragged' and 'output_sequence_length' cannot be given "
            f"together; got ragged=True and output_sequence_length={output_sequence_length!r}"
        )
    paths, labels, class_names = dataset_files.index_directory(
        _OWNER,
        directory,
        labels,
        ALLOWED_FORMATS,
        class_names=class_names,
        shuffle=shuffle,
        seed=seed,
        follow_links=follow_links,
        verbose=verbose,
    )
    if sampling_rate is not None:
        for path in paths:
            rate = wav_info(_OWNER, path)[0]
            if rate != sampling_rate:
                raise ValueError(
                    f"{_OWNER}: argument 'sampling_rate' asks for {sampling_rate} Hz but "
                    f"{path!r} is sampled at {rate} Hz; shoal does not resample audio "
                    "(Keras needs tensorflow-io for it): resample the files or pass "
                    "sampling_rate=None"
                )

    def load(batch_paths):
        clips = [read_wav(_OWNER, p, output_sequence_length) for p in batch_paths]
        return _stack(clips, ragged)

    return dataset_files.make_datasets(
        _OWNER,
        directory,
        paths,
        labels,
        class_names,
        label_mode,
        validation_split,
        subset,
        batch_size,
        load,
        "audio files",
        ALLOWED_FORMATS,
        verbose,
    )
