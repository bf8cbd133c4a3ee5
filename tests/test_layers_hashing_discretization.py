"""Hashing and Discretization: exact parity with Keras 3 outputs stored in
tests/data/lookup_references.json (made by tests/data/make_lookup_references.py), the hash
functions against published vectors, jit and models, config and save/load round trips,
errors."""

from __future__ import annotations

import json
import pathlib

import jax
import numpy as np
import pytest

import shoal
from shoal.layers.discretization import Discretization
from shoal.layers.hashing import Hashing, fingerprint64, siphash24

LAYERS = {"Hashing": Hashing, "Discretization": Discretization}
REFERENCES = json.loads(
    (pathlib.Path(__file__).parent / "data" / "lookup_references.json").read_text("utf-8")
)
CASES = [c for c in REFERENCES["cases"] if c["layer"] in LAYERS]


def case_id(case):
    batches = "-batches" if case.get("adapt_batches") else ""
    return f"{case['layer']}-{json.dumps(case['kwargs'], ensure_ascii=True)[:60]}{batches}"


def adapt_data(case):
    if case.get("adapt_batches"):
        return [np.array(batch) for batch in case["adapt"]]
    return np.array(case["adapt"])


def make(case):
    layer = LAYERS[case["layer"]](**case["kwargs"])
    if case["adapt"] is not None:
        layer.adapt(adapt_data(case))
    return layer


def assert_matches(out, case):
    out = np.asarray(out)
    assert str(out.dtype) == case["output_dtype"]
    assert out.tolist() == case["output"]  # exact, floats included (0/1 and counts)


def test_the_references_cover_the_layers():
    assert REFERENCES["keras_version"].startswith("3.")
    kinds = {(c["layer"], c["kwargs"].get("output_mode", "int")) for c in CASES}
    for layer in LAYERS:
        for mode in ("int", "one_hot", "multi_hot", "count"):
            assert (layer, mode) in kinds
    assert any("salt" in c["kwargs"] for c in CASES)
    assert any(c.get("adapt_batches") for c in CASES)
    assert len(CASES) >= 40


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_matches_keras(case):
    layer = make(case)
    out = layer(np.array(case["inputs"]))
    assert_matches(out, case)
    assert sorted(layer.get_config()) == case["config_keys"]
    if case["layer"] == "Discretization":
        assert layer.bin_boundaries == case["bin_boundaries"]
    assert tuple(layer.compute_output_shape(np.shape(case["inputs"]))) == np.shape(out)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_config_round_trip(case):
    layer = make(case)
    config = json.loads(json.dumps(layer.get_config()))
    restored = type(layer).from_config(config)
    assert restored.get_config() == layer.get_config()
    # adapted boundaries travel in the config, as in Keras
    assert_matches(restored(np.array(case["inputs"])), case)


# -- the hash functions ----------------------------------------------------------------------
def test_siphash_matches_the_published_vector():
    # SipHash paper, appendix A: key 00..0f, message 00..0e.
    key0 = int.from_bytes(bytes(range(8)), "little")
    key1 = int.from_bytes(bytes(range(8, 16)), "little")
    assert siphash24(key0, key1, bytes(range(15))) == 0xA129CA6149BE45E5


def test_fingerprint64_matches_independent_values():
    # Values of FarmHash Fingerprint64 from the pyfarmhash bindings of the C++ library.
    assert fingerprint64(b"") == 0x9AE16A3B2F90404F
    assert fingerprint64(b"abcdefghijklmnopq") == 11394395984755135400
    assert fingerprint64(b"abcdefghijklmnopqrstuvwxyz0123456789") == 8687174851251846139
    assert fingerprint64(b"x" * 70) == 5457250325824655745


def test_hash_words_cover_every_length_class():
    case = next(c for c in CASES if c["kwargs"] == {"num_bins": 2**31 - 1})
    lengths = {len(w.encode()) for row in case["inputs"] for w in row}
    assert {0, 16, 17, 32, 33, 64, 65, 128, 192} <= lengths
    assert len(set(np.ravel(case["output"]).tolist())) > 200  # distinct full-width hashes


# -- Hashing behaviour ---------------------------------------------------------------------
def test_hashing_treats_bytes_str_and_arrays_alike():
    layer = Hashing(num_bins=97, salt=[3, 4])
    words = np.array([["A", "été"], ["", "zz"]])
    expected = layer(words)
    assert layer(np.array([[w.encode() for w in row] for row in words.tolist()])).tolist() == (
        expected.tolist()
    )
    assert layer(words.tolist()).tolist() == expected.tolist()
    ints = Hashing(num_bins=97)
    assert ints(jax.numpy.array([1, 2, 3])).tolist() == ints(np.array(["1", "2", "3"])).tolist()
    assert ints(np.array(7)).shape == ()


def test_hashing_refuses_compiled_and_symbolic_inputs():
    layer = Hashing(num_bins=4)
    with pytest.raises(ValueError, match="before fit"):
        layer(shoal.Input((3,), dtype="int32"))
    with pytest.raises(ValueError, match="before fit"):
        jax.jit(layer)(np.array([1, 2]))


# -- Discretization behaviour --------------------------------------------------------------
DISCRETIZE_CASES = [c for c in CASES if c["layer"] == "Discretization"]


@pytest.mark.parametrize("case", DISCRETIZE_CASES, ids=case_id)
def test_discretization_runs_under_jit(case):
    layer = make(case)
    out = jax.jit(layer)(np.array(case["inputs"], dtype="float32"))
    assert isinstance(out, jax.Array)
    assert_matches(out, case)


def test_discretization_bucket_convention_is_left_closed():
    layer = Discretization(bin_boundaries=[0.0, 1.0, 2.0])
    x = np.array([-np.inf, -0.0, 0.0, 0.999, 1.0, 1.5, 2.0, np.inf], "float32")
    assert layer(x).tolist() == [0, 1, 1, 1, 2, 2, 3, 3]
    np.testing.assert_array_equal(layer(x), np.digitize(x, [0.0, 1.0, 2.0], right=False))


def test_discretization_adapt_sources_agree():
    rows = [np.linspace(-3.0, 4.0, 50) ** 3, np.arange(30.0), np.ones(7)]
    from_list = Discretization(num_bins=6, epsilon=0.05)
    from_list.adapt(rows)
    from_generator = Discretization(num_bins=6, epsilon=0.05)
    from_generator.adapt(r for r in rows)
    assert from_generator.bin_boundaries == from_list.bin_boundaries
    first_two = Discretization(num_bins=6, epsilon=0.05)
    first_two.adapt(rows[:2])
    limited = Discretization(num_bins=6, epsilon=0.05)
    limited.adapt(iter(rows), steps=2)
    assert limited.bin_boundaries == first_two.bin_boundaries != from_list.bin_boundaries
    whole = Discretization(num_bins=6, epsilon=0.05)
    whole.adapt(jax.numpy.asarray(np.concatenate(rows)))  # one array: one batch
    assert len(whole.bin_boundaries) == 5
    whole.adapt(np.arange(10.0))  # adapt starts afresh; values from Keras 3.15.1
    assert whole.bin_boundaries == [
        0.6666666269302368,
        2.3333332538604736,
        4.0,
        5.666666507720947,
        7.333333492279053,
    ]


def test_discretization_in_a_saved_model(tmp_path):
    bucket = Discretization(num_bins=4)
    bucket.adapt(np.arange(100.0))
    model = shoal.Sequential(
        [
            shoal.Input((3,)),
            Discretization(bin_boundaries=[0.0, 1.0], output_mode="multi_hot"),
            shoal.layers.Dense(2),
        ]
    )
    x = np.array([[-1.0, 0.5, 0.7], [2.0, 3.0, 1.0]], "float32")
    before = model.predict(x, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = shoal.saving.load_model(path, custom_objects=LAYERS)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6)
    restored = Discretization.from_config(bucket.get_config())
    keras_boundaries = [23.999982833862305, 48.99998092651367, 73.99998474121094]  # Keras 3.15.1
    assert restored.bin_boundaries == bucket.bin_boundaries == keras_boundaries
    assert restored.num_bins == 4


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cls, kwargs, argument",
    [
        (Hashing, {"num_bins": 0}, "num_bins"),
        (Hashing, {"num_bins": None}, "num_bins"),
        (Hashing, {"num_bins": 3, "output_mode": "tf_idf"}, "output_mode"),
        (Hashing, {"num_bins": 3, "dtype": "float32"}, "dtype"),
        (Hashing, {"num_bins": 3, "salt": "x"}, "salt"),
        (Hashing, {"num_bins": 3, "salt": [1, 2, 3]}, "salt"),
        (Hashing, {"num_bins": 3, "salt": 2**64}, "salt"),
        (Hashing, {"num_bins": 3, "mask_value": 1.5}, "mask_value"),
        (Hashing, {"num_bins": 3, "output_mode": "count", "sparse": True}, "sparse"),
        (Discretization, {}, "bin_boundaries"),
        (Discretization, {"num_bins": 3, "bin_boundaries": [1.0]}, "num_bins"),
        (Discretization, {"num_bins": 0}, "num_bins"),
        (Discretization, {"num_bins": 2.0}, "num_bins"),
        (Discretization, {"num_bins": 3, "epsilon": 0}, "epsilon"),
        (Discretization, {"num_bins": 3, "output_mode": "binary"}, "output_mode"),
        (Discretization, {"bin_boundaries": [2.0, 1.0]}, "bin_boundaries"),
        (Discretization, {"bin_boundaries": "0,1"}, "bin_boundaries"),
        (Discretization, {"bin_boundaries": [1.0], "sparse": True}, "sparse"),
    ],
)
def test_bad_arguments_are_named(cls, kwargs, argument):
    with pytest.raises(ValueError) as info:
        cls(**kwargs)
    message = str(info.value)
    assert f"'{argument}'" in message and "got" in message


def test_discretization_state_errors():
    with pytest.raises(ValueError, match="'num_bins'"):
        Discretization(bin_boundaries=[0.0]).adapt(np.arange(3.0))
    with pytest.raises(ValueError, match="adapt"):
        Discretization(num_bins=3)(np.arange(3.0))


def test_scalar_inputs_agree_with_the_predicted_shape():
    for layer in (
        Hashing(num_bins=4, output_mode="one_hot"),
        Hashing(num_bins=4, output_mode="count"),
        Discretization(bin_boundaries=[0.5], output_mode="one_hot"),
        Discretization(bin_boundaries=[0.5]),
    ):
        value = "A" if isinstance(layer, Hashing) else 3.0
        assert np.shape(layer(value)) == tuple(layer.compute_output_shape(()))
