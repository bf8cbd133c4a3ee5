"""StringLookup, IntegerLookup and CategoryEncoding: exact parity with Keras 3 outputs stored
in tests/data/lookup_references.json (made by tests/data/make_lookup_references.py), jit,
config and save/load round trips, errors."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import pytest

import shoal
from shoal.layers.category_encoding import CategoryEncoding
from shoal.layers.integer_lookup import IntegerLookup
from shoal.layers.string_lookup import StringLookup

LAYERS = {
    "StringLookup": StringLookup,
    "IntegerLookup": IntegerLookup,
    "CategoryEncoding": CategoryEncoding,
}
REFERENCES = json.loads(
    (pathlib.Path(__file__).parent / "data" / "lookup_references.json").read_text("utf-8")
)
CASES = [c for c in REFERENCES["cases"] if c["layer"] in LAYERS]


def case_id(case):
    return f"{case['layer']}-{json.dumps(case['kwargs'], ensure_ascii=True)[:60]}"


def make(case):
    layer = LAYERS[case["layer"]](**case["kwargs"])
    if case["adapt"] is not None:
        layer.adapt(np.array(case["adapt"]))
    return layer


def assert_matches(out, case):
    out = np.asarray(out)
    expected = case["output"]
    if case["output_dtype"] == "float32":
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, np.array(expected, np.float32), rtol=0, atol=1e-6)
    else:
        assert out.tolist() == expected
        if case["layer"] != "CategoryEncoding":
            assert out.dtype == np.dtype(case["output_dtype"])


def test_the_references_cover_the_layers():
    assert REFERENCES["keras_version"].startswith("3.")
    assert {c["layer"] for c in CASES} == set(LAYERS)
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case):
    layer = make(case)
    assert_matches(layer(np.array(case["inputs"])), case)
    if "vocabulary" in case:
        assert layer.get_vocabulary() == case["vocabulary"]
        assert layer.vocabulary_size() == case["vocabulary_size"]
    assert set(layer.get_config()) == set(case["config_keys"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_config_round_trip(case):
    layer = make(case)
    config = json.loads(json.dumps(layer.get_config()))
    restored = type(layer).from_config(config)
    assert restored.get_config() == layer.get_config()
    if case["adapt"] is None:  # an adapted vocabulary travels with the weights, not the config
        assert_matches(restored(np.array(case["inputs"])), case)


INT_CASES = [
    c
    for c in CASES
    if c["layer"] in ("IntegerLookup", "CategoryEncoding")
    and not c["kwargs"].get("num_oov_indices") == 0
]


@pytest.mark.parametrize("case", INT_CASES, ids=case_id)
def test_integer_layers_run_under_jit(case):
    layer = make(case)
    inputs = np.array(case["inputs"], dtype="int32")
    out = jax.jit(layer)(inputs)
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(np.asarray(out), np.array(case["output"]), atol=1e-6)


def test_adapt_from_batches_equals_adapt_from_an_array():
    rows = [["a", "b", "b"], ["c", "c", "c"], ["d", "a", "e"], ["e", "e", "b"]]
    whole = StringLookup()
    whole.adapt(np.array(rows))
    for source in (iter([np.array(rows[:2]), np.array(rows[2:])]), (np.array([r]) for r in rows)):
        batched = StringLookup()
        batched.adapt(source)
        assert batched.get_vocabulary() == whole.get_vocabulary()
    assert whole.get_vocabulary(include_special_tokens=False) == [
        "e",
        "c",
        "b",
        "a",
        "d",
    ]  # ties: descending


def test_bytes_inputs_and_vocabulary_file(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("a\nb\nc\n", encoding="utf-8")
    layer = StringLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == ["[UNK]", "a", "b", "c"]
    assert layer(np.array([b"c", b"q"])).tolist() == [3, 0]
    assert layer.get_config()["vocabulary"] is None
    ints = IntegerLookup()
    path.write_text("7\n3\n", encoding="utf-8")
    ints.set_vocabulary(str(path))
    assert ints(np.array([3, 7, 1])).tolist() == [2, 1, 0]


def test_forward_and_inverse_lookups_invert_each_other():
    forward = StringLookup(mask_token="", vocabulary=["x", "y", "z"])
    inverse = StringLookup(mask_token="", vocabulary=forward.get_vocabulary(), invert=True)
    words = np.array([["z", "", "x"], ["q", "y", "y"]])
    assert inverse(forward(words)).tolist() == [["z", "", "x"], ["[UNK]", "y", "y"]]


def test_integer_lookup_and_category_encoding_in_a_saved_model(tmp_path):
    lookup = IntegerLookup(output_mode="int")
    lookup.adapt(np.array([[5, 7, 7], [9, 9, 9], [3, 5, 1]]))
    model = shoal.Sequential(
        [
            shoal.Input((3,), dtype="int32"),
            lookup,
            CategoryEncoding(num_tokens=lookup.vocabulary_size(), output_mode="count"),
            shoal.layers.Dense(2),
        ]
    )
    x = np.array([[5, 7, 9], [3, 1, 4], [9, 9, 9]], "int32")
    before = model.predict(x, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = shoal.saving.load_model(path, custom_objects=LAYERS)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6)
    assert loaded.layers[0].get_vocabulary() == lookup.get_vocabulary()


def test_tf_idf_weights_survive_save_and_load(tmp_path):
    lookup = IntegerLookup(output_mode="tf_idf")
    lookup.adapt(np.array([[5, 7, 7], [9, 9, 9], [7, 1, 1]]))
    model = shoal.Sequential([shoal.Input((4,), dtype="int32"), lookup])
    x = np.array([[5, 7, 1, 2]], "int32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = shoal.saving.load_model(path, custom_objects=LAYERS)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_string_lookup_refuses_symbolic_inputs():
    layer = StringLookup(vocabulary=["a"])
    with pytest.raises(ValueError, match="before fit"):
        layer(shoal.Input((3,), dtype="int32"))


@pytest.mark.parametrize(
    "cls, kwargs, argument",
    [
        (StringLookup, {"output_mode": "one-hot"}, "output_mode"),
        (StringLookup, {"max_tokens": 1}, "max_tokens"),
        (StringLookup, {"num_oov_indices": -1}, "num_oov_indices"),
        (StringLookup, {"invert": True, "output_mode": "count"}, "output_mode"),
        (StringLookup, {"idf_weights": [1.0]}, "idf_weights"),
        (StringLookup, {"output_mode": "tf_idf", "vocabulary": ["a"]}, "idf_weights"),
        (StringLookup, {"sparse": True}, "sparse"),
        (IntegerLookup, {"vocabulary_dtype": "int32"}, "vocabulary_dtype"),
        (IntegerLookup, {"oov_token": "x"}, "oov_token"),
        (CategoryEncoding, {"num_tokens": 0}, "num_tokens"),
        (CategoryEncoding, {"num_tokens": 3, "output_mode": "tf_idf"}, "output_mode"),
    ],
)
def test_bad_arguments_are_named(cls, kwargs, argument):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert f"'{argument}'" in message and "got" in message


def test_vocabulary_errors():
    with pytest.raises(ValueError, match="repeats"):
        StringLookup(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="max_tokens=3"):
        StringLookup(max_tokens=3, vocabulary=["a", "b", "c"])
    with pytest.raises(ValueError, match="mask_token"):
        StringLookup(mask_token="", vocabulary=["a", ""])
    with pytest.raises(ValueError, match="cannot adapt"):
        StringLookup(vocabulary=["a"]).adapt(np.array(["a"]))
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        IntegerLookup(num_oov_indices=0, vocabulary=[1, 2])(np.array([3]))
    with pytest.raises(RuntimeError, match="set the vocabulary"):
        StringLookup(output_mode="multi_hot")(np.array(["a"]))
    with pytest.raises(NotImplementedError, match="FarmHash"):
        StringLookup(num_oov_indices=2)
