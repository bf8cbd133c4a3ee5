"""Write `lookup_references.json`: Keras 3 outputs of the lookup and text layers.

Run with an interpreter that has Keras 3 and TensorFlow (Keras needs TensorFlow for these
layers on every backend):

    KERAS_BACKEND=tensorflow .bench/keras-tf/bin/python tests/data/make_lookup_references.py

Each case names a layer, its constructor arguments, optional `adapt` data and the inputs of
one call; the file records Keras' output, vocabulary and config keys for that case.
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import numpy as np  # noqa: E402

WORDS = [["a", "b", "b"], ["c", "c", "c"], ["d", "a", "e"]]
IDF = [0.25, 0.75, 0.6, 0.4]
TEXTS = [
    "The quick brown fox, jumped!",
    "the lazy dog... and THE fox",
    "Über café: naïve ÉCOLE été",
    "tab\tsep\nline\u00a0nbsp  double",
    "",
]
PROBE = ["the fox jumped over a dog", "ÉCOLE, été! unknown-word", "", "fox fox fox"]


class Batches(list):
    """`adapt` data given to Keras as a list of separate batches (not one array)."""


_RNG = np.random.default_rng(0)
NORMAL = [round(float(v), 4) for v in _RNG.normal(size=400)]
NORMAL_BATCHES = [NORMAL[:150], NORMAL[150:170], NORMAL[170:]]
# Lengths 0 to 200 bytes: every FarmHash length class (0-16, 17-32, 33-64, over 64) and
# SipHash tails; non-ASCII characters count by their UTF-8 bytes.
HASH_WORDS = [
    [("ab" * 100)[:n] for n in range(0, 70)],
    [f"é{n}" * (n // 3 + 1) for n in range(0, 70)],
    [str(10**n) for n in range(0, 70)],
    [("The quick brown fox " * 10)[: 64 + n] for n in range(0, 136, 2)] + ["x", "y"],
]

CASES = [
    # StringLookup
    (
        "StringLookup",
        {"vocabulary": ["a", "b", "c", "d"]},
        None,
        [["a", "c", "d"], ["d", "z", "b"]],
    ),
    ("StringLookup", {}, WORDS, [["a", "b", "c"], ["d", "e", "q"]]),
    ("StringLookup", {"max_tokens": 4}, WORDS, [["a", "b", "c"], ["d", "e", "q"]]),
    ("StringLookup", {"mask_token": ""}, [["a", "", "b"], ["b", "c", ""]], [["", "a", "x"]]),
    ("StringLookup", {"num_oov_indices": 0, "vocabulary": ["x", "y"]}, None, [["y", "x", "y"]]),
    ("StringLookup", {"oov_token": "<oov>", "vocabulary": ["x", "y"]}, None, [["y", "q"]]),
    ("StringLookup", {"vocabulary": ["[UNK]", "x", "y"]}, None, [["y", "q", "x"]]),
    ("StringLookup", {"vocabulary": ["a", "b", "c"], "invert": True}, None, [[1, 0, 3], [2, 9, 1]]),
    (
        "StringLookup",
        {"vocabulary": ["a", "b"], "invert": True, "mask_token": "[M]"},
        None,
        [[0, 1, 2, 3]],
    ),
    (
        "StringLookup",
        {"vocabulary": ["a", "b", "c"], "output_mode": "one_hot"},
        None,
        ["a", "z", "c"],
    ),
    (
        "StringLookup",
        {"vocabulary": ["a", "b", "c"], "output_mode": "one_hot"},
        None,
        [["a"], ["c"]],
    ),
    ("StringLookup", {"output_mode": "multi_hot"}, WORDS, [["a", "a", "z"], ["e", "d", "b"]]),
    ("StringLookup", {"output_mode": "multi_hot"}, WORDS, ["a", "d"]),
    ("StringLookup", {"output_mode": "count"}, WORDS, [["a", "a", "z"], ["e", "z", "z"]]),
    (
        "StringLookup",
        {"output_mode": "count", "mask_token": "", "max_tokens": 5},
        [["a", "", "b"], ["b", "c", ""]],
        [["", "a", "x", "b"]],
    ),
    (
        "StringLookup",
        {"output_mode": "multi_hot", "max_tokens": 8, "pad_to_max_tokens": True},
        WORDS,
        [["a", "e"]],
    ),
    ("StringLookup", {"output_mode": "tf_idf"}, WORDS, [["a", "a", "z"], ["c", "d", "c"]]),
    (
        "StringLookup",
        {"output_mode": "tf_idf", "vocabulary": ["a", "b", "c", "d"], "idf_weights": IDF},
        None,
        [["a", "a", "z"], ["c", "d", "c"]],
    ),
    (
        "StringLookup",
        {
            "output_mode": "tf_idf",
            "vocabulary": ["a", "b", "c", "d"],
            "idf_weights": IDF,
            "max_tokens": 7,
            "pad_to_max_tokens": True,
        },
        None,
        [["a", "b", "z"]],
    ),
    # IntegerLookup
    ("IntegerLookup", {"vocabulary": [12, 36, 1138, 42]}, None, [[12, 1138, 42], [42, 1000, 36]]),
    ("IntegerLookup", {}, [[5, 7, 7], [9, 9, 9], [3, 5, 1]], [[5, 7, 9], [3, 1, 4]]),
    (
        "IntegerLookup",
        {"max_tokens": 4, "mask_token": 0},
        [[5, 7, 7, 0], [9, 9, 0, 0]],
        [[0, 7, 5, 9]],
    ),
    (
        "IntegerLookup",
        {"vocabulary": [12, 36], "num_oov_indices": 3},
        None,
        [[12, 5, 6, 7, -2, 36]],
    ),
    (
        "IntegerLookup",
        {"vocabulary": [12, 36, 1138, 42], "invert": True},
        None,
        [[1, 3, 4], [4, 0, 2]],
    ),
    (
        "IntegerLookup",
        {"vocabulary": [12, 36], "invert": True, "mask_token": 0, "oov_token": -7},
        None,
        [[0, 1, 2, 3, 5]],
    ),
    ("IntegerLookup", {"vocabulary": [12, 36], "output_mode": "one_hot"}, None, [12, 36, 5]),
    ("IntegerLookup", {"output_mode": "multi_hot"}, [[5, 7, 7], [9, 9, 9]], [[5, 5, 2], [9, 7, 7]]),
    ("IntegerLookup", {"output_mode": "count"}, [[5, 7, 7], [9, 9, 9]], [[5, 5, 2], [9, 7, 7]]),
    ("IntegerLookup", {"output_mode": "tf_idf"}, [[5, 7, 7], [9, 9, 9], [7, 1, 1]], [[5, 7, 1, 2]]),
    ("IntegerLookup", {"num_oov_indices": 0, "vocabulary": [4, 8]}, None, [[8, 4]]),
    # CategoryEncoding
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, None, [3, 2, 0, 1]),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "one_hot"}, None, [[3], [1]]),
    (
        "CategoryEncoding",
        {"num_tokens": 4, "output_mode": "multi_hot"},
        None,
        [[0, 1], [0, 0], [1, 2], [3, 1]],
    ),
    ("CategoryEncoding", {"num_tokens": 4, "output_mode": "multi_hot"}, None, [0, 3, 3]),
    ("CategoryEncoding", {"num_tokens": 5, "output_mode": "count"}, None, [[0, 1, 1], [4, 4, 4]]),
    ("CategoryEncoding", {"num_tokens": 5}, None, [[2, 2, 1]]),
    # TextVectorization
    ("TextVectorization", {}, TEXTS, PROBE),
    ("TextVectorization", {"max_tokens": 6, "output_sequence_length": 4}, TEXTS, PROBE),
    ("TextVectorization", {"output_sequence_length": 9}, TEXTS, PROBE),
    ("TextVectorization", {"standardize": "lower"}, TEXTS, PROBE),
    ("TextVectorization", {"standardize": "strip_punctuation"}, TEXTS, PROBE),
    ("TextVectorization", {"standardize": None}, TEXTS, PROBE),
    ("TextVectorization", {"split": "character", "output_sequence_length": 12}, TEXTS, PROBE),
    ("TextVectorization", {"split": None}, ["a b", "c", "a b", ""], [["a b"], ["c"], ["zz"], [""]]),
    ("TextVectorization", {"ngrams": 2}, TEXTS, PROBE),
    ("TextVectorization", {"ngrams": (1, 3), "max_tokens": 20}, TEXTS, PROBE),
    ("TextVectorization", {"ngrams": (2,)}, TEXTS, PROBE),
    ("TextVectorization", {"output_mode": "multi_hot"}, TEXTS, PROBE),
    ("TextVectorization", {"output_mode": "count", "max_tokens": 8}, TEXTS, PROBE),
    (
        "TextVectorization",
        {"output_mode": "multi_hot", "max_tokens": 30, "pad_to_max_tokens": True},
        TEXTS,
        PROBE,
    ),
    ("TextVectorization", {"output_mode": "tf_idf"}, TEXTS, PROBE),
    (
        "TextVectorization",
        {
            "output_mode": "tf_idf",
            "vocabulary": ["fox", "the", "dog"],
            "idf_weights": [0.5, 0.1, 0.9],
        },
        None,
        PROBE,
    ),
    ("TextVectorization", {"vocabulary": ["fox", "the", "dog", "été"]}, None, PROBE),
    ("TextVectorization", {"output_mode": "int"}, [["one two"], ["two"]], [["two one"], ["three"]]),
    # Hashing
    ("Hashing", {"num_bins": 3}, None, [["A"], ["B"], ["C"], ["D"], ["E"]]),
    ("Hashing", {"num_bins": 7, "salt": 133}, None, [["A"], ["B"], ["C"], ["D"], ["E"]]),
    ("Hashing", {"num_bins": 3, "mask_value": ""}, None, [["A"], [""], ["C"]]),
    ("Hashing", {"num_bins": 5}, None, [[1, 2, 3], [400, -5, 0]]),
    ("Hashing", {"num_bins": 4, "mask_value": 0}, None, [[1, 0, 3]]),
    ("Hashing", {"num_bins": 4, "output_mode": "multi_hot"}, None, [["A", "B"], ["C", "zz"]]),
    ("Hashing", {"num_bins": 4, "output_mode": "count"}, None, [["A", "A"], ["C", "zz"]]),
    # Discretization
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0, 2.0]},
        None,
        [[-1.5, 1.0, 2.0], [0.5, 0.0, 3.0]],
    ),
    (
        "Discretization",
        {"num_bins": 4, "epsilon": 0.01},
        [[0.1, 0.4, 1.2], [2.5, 3.0, 0.9], [5.0, 0.2, 0.3]],
        [[0.0, 0.35, 1.0, 2.0, 9.0]],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"},
        None,
        [-1.0, 0.5, 2.0],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "multi_hot"},
        None,
        [[-1.0, 0.5], [2.0, 3.0]],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "count"},
        None,
        [[-1.0, 0.5], [2.0, 3.0]],
    ),
    # Hashing: more configurations, and strings of every FarmHash / SipHash length class
    ("Hashing", {"num_bins": 3, "salt": [133, 137]}, None, [["A"], ["B"], ["C"], ["D"], ["E"]]),
    ("Hashing", {"num_bins": 1000003, "salt": [-3, 2**40 + 5]}, None, HASH_WORDS),
    ("Hashing", {"num_bins": 2**31 - 1}, None, HASH_WORDS),
    ("Hashing", {"num_bins": 2**31 - 1, "salt": 7}, None, [[0, 1, -1, 2**40, -(2**62)]]),
    ("Hashing", {"num_bins": 11}, None, [[1.7, -2.5, 3.0], [0.2, -0.9, 1e6]]),
    ("Hashing", {"num_bins": 6, "mask_value": "", "salt": 9}, None, [["", "x", "y"]]),
    ("Hashing", {"num_bins": 1, "mask_value": "a"}, None, [["a", "b"]]),
    ("Hashing", {"num_bins": 5, "output_mode": "one_hot"}, None, [["A"], ["B"], ["C"]]),
    ("Hashing", {"num_bins": 5, "output_mode": "one_hot"}, None, ["A", "B", "zz"]),
    ("Hashing", {"num_bins": 5, "output_mode": "one_hot", "salt": 1}, None, [[1, 2], [3, 4]]),
    (
        "Hashing",
        {"num_bins": 4, "output_mode": "multi_hot", "mask_value": ""},
        None,
        [["", "a"], ["b", "c"]],
    ),
    ("Hashing", {"num_bins": 6, "output_mode": "count", "mask_value": 0}, None, [[0, 0, 5, 7]]),
    ("Hashing", {"num_bins": 6, "output_mode": "count"}, None, [[["A", "B"], ["A", "C"]]]),
    ("Hashing", {"num_bins": 6, "output_mode": "multi_hot"}, None, ["A", "B", "A"]),
    ("Hashing", {"num_bins": 9, "dtype": "int32"}, None, [["q", "r", "s"]]),
    ("Hashing", {"num_bins": 3}, None, [True, False]),
    # Discretization: adapt on larger data, from batches, and more modes and ranks
    ("Discretization", {"num_bins": 5}, NORMAL, [NORMAL[:12]]),
    ("Discretization", {"num_bins": 7, "epsilon": 0.1}, NORMAL, [NORMAL[12:30]]),
    ("Discretization", {"num_bins": 4, "epsilon": 0.05}, Batches(NORMAL_BATCHES), [NORMAL[:12]]),
    ("Discretization", {"num_bins": 3}, Batches([[1.0, 2.0], [2.0, 2.0, 9.0], [4.0]]), [[2.0]]),
    ("Discretization", {"num_bins": 4}, [[1.0, 1.0, 1.0, 2.0], [2.0, 3.0, 5.0, 5.0]], [[1, 2, 5]]),
    ("Discretization", {"num_bins": 1}, [[1.0, 2.0, 3.0]], [[0.0, 5.0]]),
    ("Discretization", {"bin_boundaries": [0.1, 0.2, 0.30000001]}, None, [[0.1, 0.2, 0.3, 0.25]]),
    ("Discretization", {"bin_boundaries": [-1, 0, 3]}, None, [[-2, -1, 0, 2, 3, 4]]),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"},
        None,
        [[0.5], [3.0]],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"},
        None,
        [[0.5, -1.0], [3.0, 1.0]],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0, 2.0], "output_mode": "multi_hot"},
        None,
        [0.5, 0.7, 2.5],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "count"},
        None,
        [[[-1.0, 0.5], [2.0, 3.0], [0.2, 0.3]]],
    ),
    (
        "Discretization",
        {"bin_boundaries": [0.0, 1.0], "output_mode": "multi_hot"},
        None,
        [[[-1.0, 0.5], [2.0, 3.0], [0.2, 0.3]]],
    ),
    ("Discretization", {"bin_boundaries": [0.0, 1.0]}, None, [[[-1.0, 0.5], [2.0, 3.0]]]),
]


def plain(x):
    if hasattr(x, "numpy"):
        x = x.numpy()
    x = np.asarray(x)
    if x.dtype.kind in "SO":
        return [plain(v) for v in x] if x.ndim else x.item().decode()
    return x.tolist()


def jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def main():
    cases = []
    for layer_name, kwargs, adapt_data, inputs in CASES:
        layer = getattr(keras.layers, layer_name)(**kwargs)
        if isinstance(adapt_data, Batches):
            layer.adapt([np.array(batch) for batch in adapt_data])
        elif adapt_data is not None:
            layer.adapt(np.array(adapt_data))
        array = np.array(inputs)
        if array.dtype.kind in "iu":
            array = array.astype("int64")
        output = layer(array)
        case = {
            "layer": layer_name,
            "kwargs": jsonable(kwargs),
            "adapt": adapt_data,
            "adapt_batches": isinstance(adapt_data, Batches),
            "inputs": inputs,
            "output": plain(output),
            "output_dtype": str(np.asarray(output).dtype),
            "config_keys": sorted(layer.get_config()),
        }
        if hasattr(layer, "get_vocabulary"):
            case["vocabulary"] = jsonable(list(layer.get_vocabulary()))
            case["vocabulary_size"] = int(layer.vocabulary_size())
        if layer_name == "Discretization":
            case["bin_boundaries"] = jsonable(list(layer.bin_boundaries))
        cases.append(case)
    path = pathlib.Path(__file__).with_name("lookup_references.json")
    text = json.dumps({"keras_version": keras.__version__, "cases": cases}, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
