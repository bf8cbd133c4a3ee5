"""FeatureSpace: parity with Keras 3 (the outputs of Keras' own FeatureSpace, stored in
tests/data/feature_space_references.json by tests/data/make_feature_space_references.py,
which needs TensorFlow; and Keras' JAX-backend layers composed by hand for the numeric
features), calling conventions, models built on it, config and save/load, errors."""

from __future__ import annotations

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import shoal
from shoal.layers.feature_scaling import Normalization
from shoal.layers.hashed_crossing import HashedCrossing
from shoal.utils.feature_space import FeatureSpace
from shoal.utils.py_dataset import PyDataset

FS = FeatureSpace
REFS = json.loads(
    (pathlib.Path(__file__).parent / "data" / "feature_space_references.json").read_text("utf-8")
)
TABLE, PROBE, SAMPLE = REFS["table"], REFS["probe"], REFS["sample"]
N = len(TABLE["age"])
CASES = {case["name"]: case for case in REFS["cases"]}


def pick(data, names):
    return {k: data[k] for k in names}


def adapt_as_keras_did(space, case):
    if case["adapt"] == "dict":
        space.adapt(TABLE)
    elif case["adapt"] == "batches":
        size = case["batch_size"]
        space.adapt({k: v[i : i + size] for k, v in TABLE.items()} for i in range(0, N, size))
    else:  # columns of shape (n, 1)
        space.adapt({k: np.array(TABLE[k])[:, None] for k in case["features"]})


def assert_array(got, want):
    got = np.asarray(got)
    expected = np.array(want["value"])
    assert got.shape == expected.shape
    if want["dtype"].startswith("float"):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5)
    else:
        assert got.dtype.kind == "i"
        assert got.tolist() == expected.tolist()


def assert_output(got, want):
    if "value" in want:
        assert isinstance(got, jax.Array)
        assert_array(got, want)
        return
    assert list(got) == list(want)  # sorted features, then sorted crosses
    for key in want:
        assert_array(got[key], want[key])


def concat_space():
    """The 'concat' reference case, built with shoal's constructors."""
    return FS(
        features={
            "age": "float_normalized",
            "fare": FS.float_discretized(num_bins=4),
            "score": "float",
            "ratio": FS.float_rescaled(scale=2.0, offset=1.0),
            "rooms": "integer_categorical",
            "city": "string_categorical",
            "zip": "integer_hashed",
            "tag": FS.string_hashed(num_bins=5),
        },
        crosses=[("city", "rooms"), FS.cross(("tag", "zip"), crossing_dim=8)],
        crossing_dim=16,
        hashing_dim=8,
        output_mode="concat",
    )


def dict_space():
    return FS(
        features={
            "age": FS.float_normalized(),
            "fare": FS.float_discretized(num_bins=3, output_mode="int"),
            "rooms": FS.integer_categorical(max_tokens=4, output_mode="int"),
            "city": FS.string_categorical(max_tokens=4),
            "tag": FS.string_categorical(output_mode="int", num_oov_indices=1),
        },
        crosses=[FS.cross(("city", "rooms"), crossing_dim=10, output_mode="int")],
        output_mode="dict",
    )


# -- parity with Keras' FeatureSpace ------------------------------------------------------
def test_the_references_cover_every_feature_type_and_mode():
    assert REFS["keras_version"].startswith("3.")
    kinds = {
        entry["config"]["preprocessor"]["class_name"]
        for case in CASES.values()
        for entry in case["config"]["config"]["features"].values()
    }
    assert kinds == {
        "Normalization",
        "Discretization",
        "TFDIdentity",
        "Rescaling",
        "IntegerLookup",
        "StringLookup",
        "Hashing",
    }
    assert {c["config"]["config"]["output_mode"] for c in CASES.values()} == {"concat", "dict"}


@pytest.mark.parametrize("name", list(CASES))
def test_a_keras_config_adapted_like_keras_gives_keras_outputs(name):
    case = CASES[name]
    space = FS.from_config(case["config"]["config"])
    adapt_as_keras_did(space, case)
    assert list(space.features) == case["features"]
    assert_output(space(pick(PROBE, case["features"])), case["probe_output"])
    assert_output(space(pick(SAMPLE, case["features"])), case["sample_output"])
    for key, vocabulary in case["vocabularies"].items():
        assert space.preprocessors[key].get_vocabulary() == vocabulary
    for key, boundaries in case["bin_boundaries"].items():
        np.testing.assert_allclose(space.preprocessors[key].bin_boundaries, boundaries, rtol=1e-6)
    if not isinstance(case["encoded_shape"], dict):
        assert space(pick(PROBE, case["features"])).shape[-1] == case["encoded_shape"][-1]


def test_constructors_and_type_names_match_keras():
    space = concat_space()
    space.adapt(TABLE)
    assert_output(space(PROBE), CASES["concat"]["probe_output"])
    assert_output(space(SAMPLE), CASES["concat"]["sample_output"])
    assert sorted(space.crossers) == ["city_X_rooms", "tag_X_zip"]
    assert isinstance(space.crossers["city_X_rooms"], HashedCrossing)


def test_adapting_on_a_generator_of_single_rows_batches_them_like_keras():
    space = concat_space()
    space.adapt({k: TABLE[k][i] for k in TABLE} for i in range(N))  # 60 unbatched samples
    assert_output(space(PROBE), CASES["concat"]["probe_output"])


def test_dict_mode_adapted_on_a_pydataset_of_labelled_batches():
    class Batches(PyDataset):
        def __len__(self):
            return (N + 15) // 16

        def __getitem__(self, i):
            x = {k: np.array(v[i * 16 : (i + 1) * 16]) for k, v in TABLE.items()}
            return x, np.zeros(len(x["age"]))

    space = dict_space()
    space.adapt(Batches())
    case = CASES["dict"]
    assert_output(space(pick(PROBE, case["features"])), case["probe_output"])
    assert_output(space(pick(SAMPLE, case["features"])), case["sample_output"])


def test_numeric_features_equal_keras_layers_composed_by_hand():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    data = {
        "n": rng.normal(3.0, 2.0, 100).astype("float32"),
        "d": rng.exponential(5.0, 100).astype("float32"),
        "r": rng.uniform(0, 4, 100).astype("float32"),
        "f": rng.uniform(-1, 1, 100).astype("float32"),
    }
    space = FS(
        {
            "n": "float_normalized",
            "d": FS.float_discretized(num_bins=5),
            "r": FS.float_rescaled(scale=0.5, offset=-1.0),
            "f": "float",
        }
    )
    space.adapt(data)
    probe = {k: v[:7] for k, v in data.items()}

    norm = keras.layers.Normalization(axis=-1)
    norm.adapt(data["n"][:, None])
    disc = keras.layers.Discretization(num_bins=5)
    disc.reset_state()  # Keras' adapt without tf.data: batches of 32, summarized and merged
    for i in range(0, 100, 32):
        disc.update_state(data["d"][i : i + 32, None])
    disc.finalize_state()
    one_hot = keras.layers.CategoryEncoding(num_tokens=5, output_mode="multi_hot")
    rescale = keras.layers.Rescaling(0.5, -1.0)
    expected = np.concatenate(  # sorted by name: d, f, n, r
        [
            np.asarray(one_hot(disc(probe["d"][:, None]))),
            probe["f"][:, None],
            np.asarray(norm(probe["n"][:, None])),
            np.asarray(rescale(probe["r"][:, None])),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(np.asarray(space(probe)), expected, rtol=1e-6, atol=1e-6)


def test_crosses_hash_the_preprocessed_indices():
    space = dict_space()
    space.adapt(TABLE)
    out = space(pick(PROBE, space.features))
    rooms = space.preprocessors["rooms"](np.array(PROBE["rooms"])[:, None])
    city = space.preprocessors["city"](np.array(PROBE["city"])[:, None])
    expected = HashedCrossing(num_bins=10)((np.asarray(city), np.asarray(rooms)))
    assert np.asarray(out["city_X_rooms"]).tolist() == expected.tolist()


def test_plain_float_and_hashed_features_need_no_adapt():
    space = FS({"t": "string_hashed", "x": "float"}, hashing_dim=4)
    out = space({"t": ["a", "b"], "x": [1, 2]})  # integer values of a float feature: cast
    assert out.shape == (2, 5) and out.dtype == jnp.float32
    assert np.asarray(out)[:, :4].sum(axis=1).tolist() == [1.0, 1.0]
    assert np.asarray(out)[:, 4].tolist() == [1.0, 2.0]


def test_given_bin_boundaries_fix_the_bins_without_adapt():
    # Keras passes num_bins and bin_boundaries both to Discretization, which refuses that;
    # here the boundaries fix the bins (num_bins may be None or agree).
    space = FS({"x": FS.float_discretized(None, bin_boundaries=[0.0, 1.0])})
    assert np.asarray(space({"x": [-1.0, 0.5, 3.0]})).tolist() == [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [0.0, 0.0, 1.0],
    ]
    space = FS(
        {"x": FS.float_discretized(3, bin_boundaries=[0.0, 1.0], output_mode="int")},
        output_mode="dict",
    )
    assert np.asarray(space({"x": [-1.0, 0.5, 3.0]})["x"]).ravel().tolist() == [0, 1, 2]
    encoded = space.get_encoded_features()
    assert list(encoded) == ["x"] and encoded["x"].shape == (None, 1)


def test_dict_like_columns_are_accepted():
    class Columns:  # what a pandas DataFrame offers: keys() and columns by name
        def __init__(self, data):
            self._data = data

        def keys(self):
            return self._data.keys()

        def __getitem__(self, key):
            return np.asarray(self._data[key])

    space = concat_space()
    space.adapt(Columns(TABLE))
    assert_output(space(Columns(PROBE)), CASES["concat"]["probe_output"])


# -- models --------------------------------------------------------------------------------
def numeric_table(rng, n=200):
    data = {
        "age": rng.normal(40, 10, n).astype("float32"),
        "rooms": rng.integers(0, 6, n),
        "fare": rng.exponential(20, n).astype("float32"),
    }
    y = ((data["age"] > 40) ^ (data["rooms"] > 2)).astype("float32")
    return data, y


def test_keras_io_flow_model_on_encoded_features_fits_and_predicts_raw_dicts(tmp_path, rng):
    data, y = numeric_table(rng)
    space = FS(
        {
            "age": "float_normalized",
            "rooms": "integer_categorical",
            "fare": FS.float_discretized(num_bins=4),
        }
    )
    space.adapt(data)
    inputs = space.get_inputs()
    encoded = space.get_encoded_features()
    assert sorted(inputs) == ["age", "fare", "rooms"] and inputs["rooms"].dtype == "int32"
    assert encoded.shape == (None, 1 + 4 + 7)
    assert space.get_encoded_features() is encoded
    x = shoal.layers.Dense(8, activation="relu")(encoded)
    outputs = shoal.layers.Dense(1, activation="sigmoid")(x)
    model = shoal.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    history = model.fit(data, y, epochs=2, batch_size=32, verbose=0)
    assert len(history.history["loss"]) == 2
    raw = {k: v[:5] for k, v in data.items()}
    predicted = model.predict(raw, verbose=0)
    assert predicted.shape == (5, 1)
    np.testing.assert_allclose(predicted, np.asarray(model(raw)), rtol=1e-5, atol=1e-6)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = shoal.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(loaded(raw)), predicted, rtol=1e-5, atol=1e-6)


def test_mixed_table_flow_encodes_in_the_data_pipeline(rng):
    n = 200
    data = {
        "city": rng.choice(["paris", "lyon", "nice"], n),
        "rooms": rng.integers(0, 5, n),
        "age": rng.normal(40, 10, n).astype("float32"),
        "tag": rng.choice(["a", "b"], n),
    }
    y = (data["city"] == "paris").astype("float32")
    space = FS(
        {
            "city": "string_categorical",
            "rooms": "integer_categorical",
            "age": "float_normalized",
            "tag": "string_hashed",
        },
        crosses=[("city", "rooms")],
        hashing_dim=4,
        crossing_dim=8,
    )
    space.adapt(
        ({k: v[i : i + 50] for k, v in data.items()}, y[i : i + 50]) for i in range(0, n, 50)
    )
    with pytest.raises(ValueError, match=r"string features \['city', 'tag'\]"):
        space.get_inputs()

    class Encoded(PyDataset):  # feature_space(x) inside the data pipeline
        def __len__(self):
            return n // 40

        def __getitem__(self, i):
            part = slice(i * 40, (i + 1) * 40)
            return space({k: v[part] for k, v in data.items()}), y[part]

    width = space({k: v[0] for k, v in data.items()}).shape[-1]
    assert width == 4 + 6 + 1 + 4 + 8  # age, city, rooms, tag, city_X_rooms
    model = shoal.Sequential(
        [shoal.Input(shape=(width,)), shoal.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy")
    assert len(model.fit(Encoded(), epochs=2, verbose=0).history["loss"]) == 2
    raw = {"city": ["nice", "paris"], "rooms": [1, 9], "age": [30.0, 55.0], "tag": ["a", "z"]}
    assert model.predict(space(raw), verbose=0).shape == (2, 1)


def test_host_only_features_refuse_traced_values_with_a_clear_error():
    space = FS({"zip": "integer_hashed", "age": "float"})
    with pytest.raises(ValueError, match=r"feature 'zip' \(Hashing\).*host.*before fit"):
        jax.jit(space)({"zip": jnp.arange(3), "age": jnp.ones(3)})


def test_traced_numeric_space_equals_the_host_result(rng):
    data, _ = numeric_table(rng, 64)
    space = FS({"age": "float_normalized", "rooms": "integer_categorical"})
    space.adapt(data)
    traced = jax.jit(space)({k: jnp.asarray(v) for k, v in data.items()})
    np.testing.assert_allclose(np.asarray(traced), np.asarray(space(data)), rtol=1e-6)


# -- config and saving ----------------------------------------------------------------------
def test_config_round_trip_in_keras_layout():
    space = concat_space()
    space.adapt(TABLE)
    config = json.loads(json.dumps(space.get_config()))
    keras_config = CASES["concat"]["config"]["config"]
    assert set(config) - {"name"} == set(keras_config)
    for key, entry in config["features"].items():
        want = keras_config["features"][key]
        assert {k: entry[k] for k in ("module", "class_name", "registered_name")} == {
            k: want[k] for k in ("module", "class_name", "registered_name")
        }
        assert entry["config"]["output_mode"] == want["config"]["output_mode"]
        assert entry["config"]["dtype"] == want["config"]["dtype"]
    assert config["crosses"] == keras_config["crosses"]
    rebuilt = FS.from_config(config)
    assert json.loads(json.dumps(rebuilt.get_config())) == config
    with pytest.raises(ValueError, match="call adapt"):
        rebuilt(PROBE)  # a config holds the architecture; the state comes from adapt or weights
    rebuilt.adapt(TABLE)
    assert_output(rebuilt(PROBE), CASES["concat"]["probe_output"])


def test_save_and_load_without_adapting_again(tmp_path):
    space = FS(
        {
            "age": "float_normalized",
            "rooms": FS.integer_categorical(max_tokens=5),
            "zip": "integer_hashed",
            "fare": "float_discretized",
            "ratio": FS.float_rescaled(2.0, 1.0),
        },
        crosses=[("rooms", "zip")],
        hashing_dim=8,
        crossing_dim=8,
        num_discretization_bins=6,
    )
    space.adapt(TABLE)
    probe = pick(PROBE, space.features)
    path = tmp_path / "space.keras"
    space.save(path)
    loaded = shoal.saving.load_model(path)
    assert isinstance(loaded, FS)
    np.testing.assert_array_equal(np.asarray(loaded(probe)), np.asarray(space(probe)))


def test_save_and_load_a_string_vocabulary(tmp_path):
    space = concat_space()
    space.adapt(TABLE)
    path = tmp_path / "space.keras"
    space.save(path)
    loaded = shoal.saving.load_model(path)
    assert_output(loaded(PROBE), CASES["concat"]["probe_output"])


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: FS({"a": "flaot"}), r"feature 'a' has an unknown type; expected one of .*'flaot'"),
        (lambda: FS({}), r"argument 'features' must be a non-empty dict.*got \{\}"),
        (lambda: FS(["a"]), r"argument 'features' must be a non-empty dict.*\['a'\]"),
        (lambda: FS({"a": "float"}, output_mode="stack"), r"'output_mode'.*'concat'.*'stack'"),
        (
            lambda: FS({"a": "float"}, crossing_dim=0),
            r"'crossing_dim' must be an integer >= 1; got 0",
        ),
        (
            lambda: FS({"a": "integer_categorical"}, crosses=[("a", "zz")]),
            r"'crosses' must name features.*unknown feature\(s\) \['zz'\]",
        ),
        (
            lambda: FS({"a": "integer_categorical"}, crosses=["a"]),
            r"'crosses' must be a list of feature-name tuples.*'a'",
        ),
        (
            lambda: FS({"a": FS.integer_categorical(output_mode="int")}),
            r"output_mode='concat' needs every feature encoded.*'int' for 'a'",
        ),
        (
            lambda: FS({"a": FS.feature("float32", Normalization(), "one_hot")}),
            r"feature 'a' has output_mode='one_hot'.*Normalization.*cannot be one-hot",
        ),
        (
            lambda: FS.float_discretized(4, output_mode="multi_hot"),
            r"'output_mode' must be one of \['int', 'one_hot', 'float'\]; got 'multi_hot'",
        ),
        (
            lambda: FS.cross(("a", "b"), 8, output_mode="count"),
            r"'output_mode' must be one of \['int', 'one_hot'\]; got 'count'",
        ),
        (lambda: FS.cross("ab", 8), r"'feature_names' must be a tuple of two or more.*'ab'"),
        (
            lambda: FS.float_discretized(num_bins=3, bin_boundaries=[0.0, 1.0, 2.0]),
            r"'num_bins' must be None or len\(bin_boundaries\) \+ 1 \(4\).*num_bins=3",
        ),
    ],
)
def test_bad_arguments_name_the_argument_and_the_value(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def adapted_space():
    space = FS({"city": "string_categorical", "rooms": "integer_categorical"})
    space.adapt(TABLE)
    return space


def test_using_before_adapt_names_the_features_to_adapt():
    space = FS({"city": "string_categorical", "tag": "string_hashed"})
    with pytest.raises(ValueError, match=r"call adapt\(data\).*\['city'\]"):
        space({"city": ["a"], "tag": ["b"]})
    with pytest.raises(ValueError, match="call adapt"):
        space.get_encoded_features()


@pytest.mark.parametrize(
    "call, match",
    [
        (
            lambda s: s({"city": ["paris"]}),
            r"the data has no value for feature 'rooms'; expected .*\['city', 'rooms'\]; "
            r"got keys \['city'\]",
        ),
        (lambda s: s(np.zeros((2, 2))), r"called on a dict .*got data of type ndarray"),
        (
            lambda s: s({"city": ["paris"], "rooms": ["three"]}),
            r"feature 'rooms' holds int32 values; got an array of dtype <U5",
        ),
        (
            lambda s: s({"city": ["paris"], "rooms": [1.5]}),
            r"feature 'rooms' holds integers; got non-integral values",
        ),
        (
            lambda s: s({"city": ["a", "b"], "rooms": [1]}),
            r"same number of samples; got \{'city': 2, 'rooms': 1\}",
        ),
        (lambda s: s.adapt(np.zeros(3)), r"adapt\(\) takes a dict of columns.*got ndarray"),
        (lambda s: s.adapt({"city": ["a"]}), r"adapt\(\) data has no value for feature 'rooms'"),
        (lambda s: s.adapt(iter([])), r"adapt\(\) got no data"),
        (lambda s: s.adapt([np.zeros(2)]), r"dict of feature batches.*got ndarray at position 0"),
    ],
)
def test_bad_data_names_the_feature_and_what_was_given(call, match):
    with pytest.raises(ValueError, match=match):
        call(adapted_space())
