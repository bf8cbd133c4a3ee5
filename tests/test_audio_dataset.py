"""audio_dataset_from_directory: listing, decoding, padding, labels and split. Keras 3.15's
`dataset_utils` (pure Python) is the reference for listing, shuffle and split; its
decoding needs TensorFlow, so values follow `tf.audio.decode_wav`'s documented scaling."""

import wave

import numpy as np
import pytest
from keras.src.utils import dataset_utils as keras_dataset_utils

import shoal
from shoal.utils.audio_dataset import audio_dataset_from_directory
from shoal.utils.audio_files import read_wav

RATE = 8000
LENGTHS = {"no": (5, 9, 7), "yes": (6, 4, 8, 3)}


def _samples(seed, frames, channels=1, width=2):
    high = {1: 256, 2: 1 << 16, 3: 1 << 24}[width]
    values = np.random.default_rng(seed).integers(0, high, (frames, channels))
    return values if width == 1 else values - high // 2


def write_wav(path, samples, width=2, rate=RATE):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        if width == 3:
            raw = (samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]).tobytes()
        else:
            raw = samples.astype({1: np.uint8, 2: "<i2"}[width]).tobytes()
        f.writeframes(raw)


@pytest.fixture
def audio_dir(tmp_path):
    root = tmp_path / "audio"
    seed = 0
    for name, lengths in LENGTHS.items():
        (root / name).mkdir(parents=True)
        for i, frames in enumerate(lengths):
            write_wav(root / name / f"clip{i}.wav", _samples(seed, frames))
            seed += 1
    (root / "no" / "readme.txt").write_text("not audio")
    return root


def _expected(path):
    with wave.open(str(path)) as f:
        raw = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    return (raw / 32768.0).astype("float32")[:, None]


def test_listing_and_split_equal_keras(audio_dir):
    for subset in ("training", "validation"):
        ds = audio_dataset_from_directory(
            audio_dir, seed=3, validation_split=0.3, subset=subset, verbose=False
        )
        paths, labels, names = keras_dataset_utils.index_directory(
            str(audio_dir), "inferred", formats=(".wav",), shuffle=True, seed=3
        )
        paths, labels = keras_dataset_utils.get_training_or_validation_split(
            paths, labels, 0.3, subset
        )
        assert ds.file_paths == list(paths) and ds.class_names == names == ["no", "yes"]
        _, got_labels = ds[0]
        np.testing.assert_array_equal(got_labels, labels)
        assert got_labels.dtype == np.int32


def test_padded_batches_hold_decoded_samples(audio_dir):
    ds = audio_dataset_from_directory(audio_dir, batch_size=3, shuffle=False, verbose=False)
    assert len(ds) == 3
    audio, labels = ds[0]
    assert audio.dtype == np.float32 and audio.shape == (3, 9, 1)  # the longest: 9 frames
    for row, path in zip(audio, ds.file_paths[:3], strict=True):
        want = _expected(path)
        np.testing.assert_array_equal(row[: len(want)], want)
        assert not row[len(want) :].any()
    np.testing.assert_array_equal(labels, [0, 0, 0])
    assert ds[2][0].shape == (1, 3, 1)


def test_output_sequence_length_cuts_and_pads(audio_dir):
    ds = audio_dataset_from_directory(
        audio_dir,
        batch_size=4,
        output_sequence_length=6,
        label_mode="categorical",
        shuffle=False,
        verbose=False,
    )
    audio, labels = ds[1]
    assert audio.shape == (3, 6, 1) and labels.shape == (3, 2) and labels.dtype == np.float32
    for row, path in zip(audio, ds.file_paths[4:], strict=True):
        want = _expected(path)[:6]
        np.testing.assert_array_equal(row[: len(want)], want)


def test_ragged_unbatched_binary_and_no_labels(audio_dir):
    ragged = audio_dataset_from_directory(
        audio_dir, batch_size=2, ragged=True, label_mode="binary", shuffle=False, verbose=False
    )
    clips, labels = ragged[0]
    assert clips.dtype == object and [c.shape for c in clips] == [(5, 1), (9, 1)]
    assert labels.shape == (2, 1) and labels.dtype == np.float32
    single = audio_dataset_from_directory(audio_dir, batch_size=None, shuffle=False, verbose=False)
    clip, label = single[3]
    assert clip.shape == (6, 1) and int(label) == 1
    plain = audio_dataset_from_directory(audio_dir, labels=None, shuffle=False, verbose=False)
    assert plain[0].shape == (7, 9, 1) and plain.class_names is None


def test_sample_widths_and_channels(tmp_path):
    for width in (1, 2, 3):
        samples = _samples(width, 5, channels=2, width=width)
        write_wav(tmp_path / f"w{width}.wav", samples, width=width)
        got = read_wav("test", tmp_path / f"w{width}.wav")
        scale = {1: 128.0, 2: 32768.0, 3: float(1 << 23)}[width]
        want = ((samples - 128) if width == 1 else samples) / scale
        assert got.shape == (5, 2) and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
        assert got.min() >= -1.0 and got.max() < 1.0


def test_fit_on_audio_batches(audio_dir):
    ds = audio_dataset_from_directory(
        audio_dir, batch_size=4, output_sequence_length=8, seed=1, verbose=False
    )
    model = shoal.Sequential([shoal.Input((8, 1)), shoal.layers.Flatten(), shoal.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.fit(ds, epochs=1, verbose=0).history["loss"][0])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"ragged": True, "output_sequence_length": 5}, "'ragged' and 'output_sequence_length'"),
        ({"output_sequence_length": 0}, "'output_sequence_length'"),
        ({"sampling_rate": 16000.0}, "'sampling_rate'"),
        ({"sampling_rate": 16000}, "16000 Hz.*8000 Hz"),
        ({"label_mode": "sparse"}, "'label_mode'"),
        ({"labels": "folders"}, "'labels'"),
        ({"validation_split": 0.2}, "'subset' and 'validation_split'"),
        ({"batch_size": 0}, "'batch_size'"),
    ],
)
def test_bad_arguments(audio_dir, kwargs, match):
    with pytest.raises(ValueError, match=match):
        audio_dataset_from_directory(audio_dir, verbose=False, **kwargs)


def test_binary_needs_two_classes_and_empty_directory(audio_dir, tmp_path):
    (audio_dir / "maybe").mkdir()
    write_wav(audio_dir / "maybe" / "m.wav", _samples(9, 4))
    with pytest.raises(ValueError, match="exactly 2 classes"):
        audio_dataset_from_directory(audio_dir, label_mode="binary", verbose=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no audio files"):
        audio_dataset_from_directory(tmp_path / "empty", labels=None, verbose=False)
