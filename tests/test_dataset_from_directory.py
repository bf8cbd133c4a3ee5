"""image_dataset_from_directory / text_dataset_from_directory: listing, labels, split, loading."""

import os
import pathlib

import numpy as np
import pytest

# Keras 3 (a test dependency, JAX backend) is the reference for listing, shuffle and split;
# its `dataset_utils` helpers are pure Python and run without TensorFlow.
from keras.src.utils import dataset_utils as keras_dataset_utils  # noqa: E402
from PIL import Image

import shoal
from shoal import layers
from shoal.layers.text_vectorization import TextVectorization
from shoal.ops import image as image_ops
from shoal.utils.image_dataset import ALLOWED_FORMATS, image_dataset_from_directory
from shoal.utils.text_dataset import text_dataset_from_directory

CLASSES = ("cat", "dog", "eel")


def _pixels(seed, mode="RGB"):
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    values = np.random.default_rng(seed).integers(0, 256, (6, 8, channels), dtype=np.uint8)
    return values[:, :, 0] if channels == 1 else values


@pytest.fixture
def image_dir(tmp_path):
    """3 classes, PNG (RGB, RGBA, L) and JPEG images of 8x6, a nested folder, a non-image."""
    root = tmp_path / "images"
    count = 0
    for c, name in enumerate(CLASSES):
        (root / name / "nested").mkdir(parents=True)
        for i in range(3 + c):
            mode = ("RGB", "RGBA", "L")[i % 3]
            folder = root / name / ("nested" if i == 2 else "")
            ext = ".JPG" if i == 1 and c == 1 else ".png"
            img = Image.fromarray(_pixels(count, mode), mode)
            if ext == ".JPG":
                img = img.convert("RGB")
            img.save(folder / f"img{i}{ext}", format="JPEG" if ext == ".JPG" else "PNG")
            count += 1
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    Image.fromarray(_pixels(99)).save(root / ".hidden" / "x.png")
    return root


@pytest.fixture
def text_dir(tmp_path):
    root = tmp_path / "texts"
    good = ["great movie", "loved it", "wonderful acting", "great fun", "loved the story"]
    bad = ["awful movie", "hated it", "terrible acting", "awful bore", "hated the story"]
    for name, phrases in (("neg", bad), ("pos", good)):
        (root / name).mkdir(parents=True)
        for i in range(12):
            (root / name / f"{i:02d}.txt").write_text(phrases[i % 5] + " é", encoding="utf-8")
    (root / "pos" / "skip.md").write_text("ignored")
    return root


def _keras_listing(directory, formats, **kwargs):
    return keras_dataset_utils.index_directory(str(directory), formats=formats, **kwargs)


# ----------------------------------------------------------------------------- listing


@pytest.mark.parametrize("shuffle,seed", [(False, None), (True, 7), (True, 1234)])
def test_file_order_and_labels_equal_keras(image_dir, shuffle, seed, capsys):
    ds = image_dataset_from_directory(
        image_dir, image_size=(4, 4), shuffle=shuffle, seed=seed, batch_size=4
    )
    assert "Found 12 files belonging to 3 classes." in capsys.readouterr().out
    paths, labels, names = _keras_listing(
        image_dir,
        ALLOWED_FORMATS,
        labels="inferred",
        shuffle=shuffle,
        seed=seed,
        verbose=False,
    )
    assert ds.file_paths == paths and ds.class_names == names == list(CLASSES)
    got = np.concatenate([y for _, y in ds])
    np.testing.assert_array_equal(got, labels)
    assert got.dtype == np.int32


def test_unlabeled_and_explicit_labels_equal_keras(image_dir, capsys):
    ds = image_dataset_from_directory(image_dir, labels=None, image_size=4, seed=3)
    # Without labels the whole tree is listed, hidden folders included (as Keras' os.walk).
    assert "Found 13 files." in capsys.readouterr().out
    paths, _, _ = _keras_listing(image_dir, ALLOWED_FORMATS, labels=None, seed=3, verbose=False)
    assert ds.file_paths == paths and ds.class_names is None
    batch = ds[0]
    assert isinstance(batch, np.ndarray) and batch.shape == (13, 4, 4, 3)

    explicit = [i % 2 for i in range(13)]
    ds = image_dataset_from_directory(
        image_dir, labels=explicit, image_size=4, seed=5, label_mode="binary", verbose=False
    )
    paths, labels, names = _keras_listing(
        image_dir, ALLOWED_FORMATS, labels=explicit, seed=5, verbose=False
    )
    assert ds.file_paths == paths and ds.class_names == names == ["0", "1"]
    np.testing.assert_array_equal(ds[0][1][:, 0], labels)


@pytest.mark.parametrize("split", [0.25, 0.5, 0.34])
def test_split_equals_keras_disjoint_and_covering(image_dir, split, capsys):
    train, val = image_dataset_from_directory(
        image_dir, image_size=4, seed=11, validation_split=split, subset="both", batch_size=5
    )
    out = capsys.readouterr().out
    n_val = int(split * 12)
    assert f"Using {12 - n_val} files for training." in out
    assert f"Using {n_val} files for validation." in out
    paths, labels, _ = _keras_listing(
        image_dir, ALLOWED_FORMATS, labels="inferred", seed=11, verbose=False
    )
    for subset, ds in (("training", train), ("validation", val)):
        want_paths, want_labels = keras_dataset_utils.get_training_or_validation_split(
            paths, labels, split, subset
        )
        assert ds.file_paths == want_paths
        np.testing.assert_array_equal(np.concatenate([y for _, y in ds]), want_labels)
    assert not set(train.file_paths) & set(val.file_paths)
    assert sorted(train.file_paths + val.file_paths) == sorted(paths)
    only_val = image_dataset_from_directory(
        image_dir,
        image_size=4,
        seed=11,
        validation_split=split,
        subset="validation",
        verbose=False,
    )
    assert only_val.file_paths == val.file_paths


def test_seed_determinism_and_class_names_order(image_dir):
    a = image_dataset_from_directory(image_dir, image_size=4, seed=2, verbose=False)
    b = image_dataset_from_directory(image_dir, image_size=4, seed=2, verbose=False)
    c = image_dataset_from_directory(image_dir, image_size=4, seed=3, verbose=False)
    assert a.file_paths == b.file_paths != c.file_paths
    np.testing.assert_array_equal(a[0][0], b[0][0])
    ds = image_dataset_from_directory(
        image_dir, image_size=4, class_names=["eel", "cat"], shuffle=False, verbose=False
    )
    assert ds.class_names == ["eel", "cat"] and len(ds.file_paths) == 8
    y = ds[0][1]
    assert y.tolist() == [0] * 5 + [1] * 3
    assert all(os.sep + "eel" + os.sep in p for p in ds.file_paths[:5])


# ----------------------------------------------------------------------------- images


def test_label_modes_shapes_dtypes(image_dir):
    kw = dict(image_size=(5, 7), seed=1, verbose=False, batch_size=8)
    x, y = image_dataset_from_directory(image_dir, label_mode="int", **kw)[0]
    assert x.shape == (8, 5, 7, 3) and x.dtype == np.float32
    assert y.shape == (8,) and y.dtype == np.int32
    _, cat = image_dataset_from_directory(image_dir, label_mode="categorical", **kw)[0]
    assert cat.shape == (8, 3) and cat.dtype == np.float32
    np.testing.assert_array_equal(cat, np.eye(3)[y])
    ds = image_dataset_from_directory(image_dir, label_mode=None, **kw)
    assert len(ds) == 2 and ds[1].shape == (5, 5, 7, 3)  # 13 files: .hidden too
    with pytest.raises(ValueError, match="label_mode='binary'.*exactly 2.*3 classes"):
        image_dataset_from_directory(image_dir, label_mode="binary", **kw)
    binary = image_dataset_from_directory(
        image_dir, label_mode="binary", class_names=["cat", "eel"], **kw
    )
    _, yb = binary[0]
    assert yb.shape == (8, 1) and yb.dtype == np.float32 and set(yb.ravel()) == {0.0, 1.0}
    single = image_dataset_from_directory(
        image_dir, batch_size=None, image_size=3, seed=1, verbose=False
    )
    assert len(single) == 12
    xi, yi = single[0]
    assert xi.shape == (3, 3, 3) and yi.shape == ()


@pytest.mark.parametrize(
    "interpolation,crop,pad",
    [("bilinear", False, False), ("nearest", True, False), ("bicubic", False, True)],
)
def test_resize_values_match_ops_resize(image_dir, interpolation, crop, pad):
    ds = image_dataset_from_directory(
        image_dir,
        image_size=(5, 5),
        seed=4,
        interpolation=interpolation,
        crop_to_aspect_ratio=crop,
        pad_to_aspect_ratio=pad,
        verbose=False,
        batch_size=12,
    )
    images, _ = ds[0]
    for path, got in zip(ds.file_paths, images, strict=True):
        decoded = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)
        want = image_ops.resize(
            decoded,
            (5, 5),
            interpolation=interpolation,
            crop_to_aspect_ratio=crop,
            pad_to_aspect_ratio=pad,
        )
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-6, atol=1e-4)
    # Same size as the file (6x8): bilinear resize keeps the pixels.
    same = image_dataset_from_directory(image_dir, image_size=(6, 8), shuffle=False, verbose=False)
    png = same.file_paths[0]
    np.testing.assert_allclose(same[0][0][0], np.asarray(Image.open(png).convert("RGB")), atol=1e-4)


def test_grayscale_rgba_and_channels_first(image_dir):
    kw = dict(image_size=(6, 8), shuffle=False, verbose=False, batch_size=12)
    gray, _ = image_dataset_from_directory(image_dir, color_mode="grayscale", **kw)[0]
    rgba, _ = image_dataset_from_directory(image_dir, color_mode="rgba", **kw)[0]
    assert gray.shape == (12, 6, 8, 1) and rgba.shape == (12, 6, 8, 4)
    files = image_dataset_from_directory(image_dir, **kw).file_paths
    for i, path in enumerate(files):
        img = Image.open(path)
        np.testing.assert_allclose(gray[i, :, :, 0], np.asarray(img.convert("L")), atol=1e-3)
        np.testing.assert_allclose(rgba[i], np.asarray(img.convert("RGBA")), atol=1e-3)
    first, _ = image_dataset_from_directory(image_dir, data_format="channels_first", **kw)[0]
    last, _ = image_dataset_from_directory(image_dir, **kw)[0]
    assert first.shape == (12, 3, 6, 8)
    np.testing.assert_allclose(first, last.transpose(0, 3, 1, 2), atol=1e-4)


def test_fit_accepts_image_dataset(image_dir):
    train, val = image_dataset_from_directory(
        image_dir,
        image_size=(4, 4),
        batch_size=4,
        seed=0,
        validation_split=0.25,
        subset="both",
        label_mode="categorical",
        verbose=False,
    )
    model = shoal.Sequential(
        [
            shoal.Input((4, 4, 3)),
            layers.Rescaling(1 / 255),
            layers.Flatten(),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    history = model.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and "val_loss" in history.history
    assert np.isfinite(history.history["val_loss"]).all()


# ----------------------------------------------------------------------------- texts


def test_text_dataset_order_labels_and_truncation(text_dir, capsys):
    train, val = text_dataset_from_directory(
        text_dir, batch_size=8, seed=9, validation_split=0.25, subset="both", max_length=7
    )
    assert "Found 24 files belonging to 2 classes." in capsys.readouterr().out
    paths, labels, names = _keras_listing(
        text_dir, (".txt",), labels="inferred", seed=9, verbose=False
    )
    want_train, want_y = keras_dataset_utils.get_training_or_validation_split(
        paths, labels, 0.25, "training"
    )
    assert train.class_names == names == ["neg", "pos"]
    assert train.file_paths == want_train and len(val.file_paths) == 6
    texts, y = train[0]
    assert texts.dtype == object and texts.shape == (8,) and y.dtype == np.int32
    np.testing.assert_array_equal(y, want_y[:8])
    for path, text in zip(train.file_paths[:8], texts, strict=True):
        assert text == pathlib.Path(path).read_text(encoding="utf-8")[:7]
    full = text_dataset_from_directory(text_dir, shuffle=False, verbose=False, batch_size=None)
    text, label = full[0]
    assert text == "awful movie é" and label == 0


def test_text_classifier_trains_one_epoch(text_dir):
    ds = text_dataset_from_directory(
        text_dir, batch_size=8, seed=0, label_mode="binary", verbose=False
    )
    texts = np.concatenate([x for x, _ in ds])
    vectorize = TextVectorization(max_tokens=40, output_sequence_length=4)
    vectorize.adapt(texts)

    class Vectorized(shoal.utils.PyDataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            x, y = ds[i]
            return np.asarray(vectorize(x)), y

    model = shoal.Sequential(
        [
            shoal.Input((4,), dtype="int32"),
            layers.Embedding(vectorize.vocabulary_size(), 8),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=shoal.optimizers.Adam(0.05), loss="binary_crossentropy")
    history = model.fit(Vectorized(), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(Vectorized()[0][0], verbose=0).shape == (8, 1)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(label_mode="sparse"), r"'label_mode'.*one of.*'int'.*got 'sparse'"),
        (dict(subset="training"), r"'subset' and 'validation_split'.*subset='training'"),
        (dict(validation_split=0.2), r"'subset' and 'validation_split'.*validation_split=0.2"),
        (
            dict(validation_split=1.5, subset="both", seed=1),
            r"'validation_split'.*between 0 and 1.*1.5",
        ),
        (dict(validation_split=0.2, subset="both"), r"'seed'.*got seed=None"),
        (dict(subset="train", validation_split=0.2, seed=1), r"'subset'.*'training'.*got 'train'"),
        (dict(labels=[0, 1]), r"'labels'.*one label per file.*expected 13.*got 2"),
        (dict(labels="folders"), r"'labels'.*'inferred'.*got 'folders'"),
        (dict(labels=[0] * 12, class_names=["a"]), r"'class_names'.*labels='inferred'"),
        (
            dict(class_names=["cat", "cow"]),
            r"'class_names'.*subset of \['cat', 'dog', 'eel'\].*cow",
        ),
        (dict(color_mode="bgr"), r"'color_mode'.*'rgb'.*got 'bgr'"),
        (dict(image_size=(4, 0)), r"'image_size'.*2 positive integers.*\(4, 0\)"),
        (dict(batch_size=0), r"'batch_size'.*positive integer.*got 0"),
        (dict(interpolation="area"), r"'interpolation'.*'bilinear'.*got 'area'"),
        (dict(crop_to_aspect_ratio=True, pad_to_aspect_ratio=True), r"'crop_to_aspect_ratio'"),
        (dict(labels=[0] * 12 + [3], label_mode="categorical"), r"labels in \[0, 2\).*got label 3"),
    ],
)
def test_image_argument_errors(image_dir, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        image_dataset_from_directory(image_dir, verbose=False, **kwargs)


def test_text_argument_errors_and_empty_dirs(text_dir, tmp_path):
    with pytest.raises(ValueError, match=r"'max_length'.*non-negative.*got -1"):
        text_dataset_from_directory(text_dir, max_length=-1)
    with pytest.raises(ValueError, match=r"'directory'.*existing directory.*nope"):
        text_dataset_from_directory(tmp_path / "nope")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no text files found.*\('.txt',\)"):
        text_dataset_from_directory(tmp_path / "empty", verbose=False)
    with pytest.raises(ValueError, match=r"no validation text files"):
        text_dataset_from_directory(
            text_dir, validation_split=0.01, subset="both", seed=1, verbose=False
        )


def test_missing_pillow_says_how_to_install(image_dir, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        image_dataset_from_directory(image_dir, verbose=False)
