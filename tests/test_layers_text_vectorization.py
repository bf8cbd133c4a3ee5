"""TextVectorization: exact parity with Keras 3 outputs stored in
tests/data/lookup_references.json, config round trips, callables, a text classifier, errors."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

import shoal
from shoal import layers
from shoal.layers.text_vectorization import TextVectorization

REFERENCES = json.loads(
    (pathlib.Path(__file__).parent / "data" / "lookup_references.json").read_text("utf-8")
)
CASES = [c for c in REFERENCES["cases"] if c["layer"] == "TextVectorization"]


def case_id(case):
    return json.dumps(case["kwargs"], ensure_ascii=True)[:70]


def make(case):
    kwargs = dict(case["kwargs"])
    if isinstance(kwargs.get("ngrams"), list):
        kwargs["ngrams"] = tuple(kwargs["ngrams"])
    layer = TextVectorization(**kwargs)
    if case["adapt"] is not None:
        layer.adapt(np.array(case["adapt"]))
    return layer


def assert_matches(out, case):
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.dtype(case["output_dtype"])
    if case["output_dtype"] == "float32":
        np.testing.assert_allclose(out, np.array(case["output"], np.float32), rtol=0, atol=1e-6)
    else:
        assert out.tolist() == case["output"]


def test_the_references_cover_the_options():
    options = {k for c in CASES for k in c["kwargs"]}
    assert {"standardize", "split", "ngrams", "output_mode", "max_tokens"} <= options
    assert {"output_sequence_length", "pad_to_max_tokens", "vocabulary", "idf_weights"} <= options
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case):
    layer = make(case)
    assert_matches(layer(np.array(case["inputs"])), case)
    assert layer.get_vocabulary() == case["vocabulary"]
    assert layer.vocabulary_size() == case["vocabulary_size"]
    assert set(layer.get_config()) == set(case["config_keys"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_config_round_trip(case):
    layer = make(case)
    config = json.loads(json.dumps(layer.get_config()))
    restored = TextVectorization.from_config(config)
    if case["adapt"] is not None:  # an adapted vocabulary travels with the weights
        config.pop("vocabulary_size")
        assert restored._lookup_layer._depth() == layer._lookup_layer._depth()
    restored_config = json.loads(json.dumps(restored.get_config()))
    assert {key: restored_config[key] for key in config} == config
    if case["adapt"] is None:
        assert_matches(restored(np.array(case["inputs"])), case)
    else:
        restored.set_vocabulary(
            layer.get_vocabulary(),
            *([layer._lookup_layer._idf] if case["kwargs"].get("output_mode") == "tf_idf" else []),
        )
        assert_matches(restored(np.array(case["inputs"])), case)


def test_adapt_from_batches_lists_and_bytes():
    texts = ["b a b", "c c c", "a d e", "x y z x"]
    whole = TextVectorization()
    whole.adapt(texts)
    batched = TextVectorization()
    batched.adapt((np.array(texts[i : i + 2]), np.zeros(2)) for i in (0, 2))
    assert batched.get_vocabulary() == whole.get_vocabulary()
    assert whole.get_vocabulary()[:5] == ["", "[UNK]", "c", "x", "b"]
    encoded = whole(np.array([b"a c", b"zzz"]))
    assert encoded.tolist() == [[5, 2], [1, 0]]


def test_callable_standardize_and_split():
    def shout(strings):
        return np.char.upper(strings)

    def split_on_dash(strings):
        return [s.split("-") for s in strings]

    layer = TextVectorization(standardize=shout, split=split_on_dash, output_sequence_length=3)
    layer.adapt(["a-b", "b-c-b"])
    assert layer.get_vocabulary() == ["", "[UNK]", "B", "C", "A"]
    assert layer(np.array(["c-a", "b-b-b-b"])).tolist() == [[3, 4, 0], [2, 2, 2]]


def test_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("fox\nthe\n", encoding="utf-8")
    layer = TextVectorization(vocabulary=str(path))
    assert layer.get_vocabulary() == ["", "[UNK]", "fox", "the"]
    assert layer(np.array(["The fox ran"])).tolist() == [[3, 2, 1]]


def test_text_classifier_trains_on_vectorized_strings():
    rng = np.random.default_rng(0)
    good = ["great movie", "loved it", "wonderful acting", "great fun", "loved the story"]
    bad = ["awful movie", "hated it", "terrible acting", "awful bore", "hated the story"]
    texts = np.array([rng.choice(good) if i % 2 else rng.choice(bad) for i in range(64)])
    labels = np.array([i % 2 for i in range(64)], "float32")
    length = 4
    vectorize = TextVectorization(max_tokens=50, output_sequence_length=length)
    vectorize.adapt(texts)
    x = vectorize(texts)
    assert x.shape == (64, length) and x.dtype == np.int64
    model = shoal.Sequential(
        [
            shoal.Input((length,), dtype="int32"),
            layers.Embedding(vectorize.vocabulary_size(), 8),
            layers.GlobalAveragePooling1D(),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=shoal.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, labels, epochs=15, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] * 0.5
    probe = vectorize(np.array(["loved the acting", "hated the movie"]))
    scores = model.predict(probe, verbose=0).ravel()
    assert scores[0] > 0.5 > scores[1]


def test_strings_in_a_model_raise_a_clear_error():
    layer = TextVectorization(vocabulary=["a"])
    with pytest.raises(ValueError, match="before fit"):
        layer(shoal.Input((1,), dtype="int32"))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"standardize": "upper"}, "standardize"),
        ({"split": "comma"}, "split"),
        ({"ngrams": [1, 2]}, "ngrams"),
        ({"output_mode": "bag"}, "output_mode"),
        ({"output_mode": "count", "output_sequence_length": 4}, "output_sequence_length"),
        ({"output_sequence_length": 0}, "output_sequence_length"),
        ({"ragged": True}, "ragged"),
        ({"sparse": True}, "sparse"),
        ({"encoding": "latin-1"}, "encoding"),
        ({"max_tokens": 1}, "max_tokens"),
        ({"output_mode": "tf_idf", "vocabulary": ["a"]}, "idf_weights"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    with pytest.raises(ValueError) as info:
        TextVectorization(**kwargs)
    message = str(info.value)
    assert f"'{argument}'" in message and "got" in message


def test_usage_errors():
    with pytest.raises(ValueError, match="last axis"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))
    with pytest.raises(RuntimeError, match="set the vocabulary"):
        TextVectorization(output_mode="multi_hot")(np.array(["a"]))
    with pytest.raises(ValueError, match="cannot adapt"):
        TextVectorization(vocabulary=["a"]).adapt(["a b"])
    with pytest.raises(TypeError, match="adapt"):
        TextVectorization().adapt(3)
