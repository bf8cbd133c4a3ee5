"""Write `feature_space_references.json`: Keras 3 `FeatureSpace` outputs for the tests.

Keras' FeatureSpace needs TensorFlow (tf.data, and the lookup / hashing layers), so run
this with an interpreter that has Keras 3 and TensorFlow:

    KERAS_BACKEND=tensorflow .bench/keras-tf/bin/python tests/data/make_feature_space_references.py

Each case records the raw table the space is adapted on, how it is fed to `adapt` (a dict
of columns, or a dataset of dict batches), the probe inputs (a batch and one sample), the
outputs, and Keras' config of the space.
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

FS = keras.utils.FeatureSpace
RNG = np.random.default_rng(0)
N = 60
CITIES = ["paris", "lyon", "nice", "lille", "brest"]
TAGS = ["red", "green", "blue"]


def _round(values, digits=3):
    return [round(float(v), digits) for v in values]


TABLE = {
    "age": _round(RNG.normal(40.0, 10.0, size=N)),
    "fare": _round(RNG.exponential(20.0, size=N)),
    "score": _round(RNG.uniform(0.0, 1.0, size=N)),
    "ratio": _round(RNG.uniform(0.0, 3.0, size=N)),
    "rooms": [int(v) for v in RNG.integers(0, 6, size=N)],
    "city": [CITIES[int(i)] for i in RNG.choice(5, size=N, p=[0.4, 0.25, 0.15, 0.12, 0.08])],
    "zip": [int(v) for v in RNG.integers(1000, 1010, size=N)],
    "tag": [TAGS[int(i)] for i in RNG.integers(0, 3, size=N)],
}
PROBE = {
    "age": [25.0, 40.0, 61.5, 33.3],
    "fare": [0.5, 12.0, 45.0, 300.0],
    "score": [0.1, 0.5, 0.9, 0.0],
    "ratio": [0.0, 1.5, 3.0, 2.2],
    "rooms": [0, 3, 5, 9],
    "city": ["paris", "nice", "atlantis", "brest"],
    "zip": [1000, 1005, 1009, 2000],
    "tag": ["red", "blue", "purple", "green"],
}
SAMPLE = {name: values[1] for name, values in PROBE.items()}


def case_concat():
    space = FS(
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
    space.adapt(tf.data.Dataset.from_tensor_slices(TABLE))
    return space, {"adapt": "dict"}


def case_dict():
    space = FS(
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
    space.adapt(tf.data.Dataset.from_tensor_slices(TABLE).batch(16))
    return space, {"adapt": "batches", "batch_size": 16}


def case_column_rows():
    # Columns of shape (n, 1): Keras adapts on one-row batches (its rank rule).
    space = FS(
        features={"fare": FS.float_discretized(num_bins=5), "city": "string_categorical"},
        output_mode="concat",
    )
    data = {"fare": np.array(TABLE["fare"])[:, None], "city": np.array(TABLE["city"])[:, None]}
    space.adapt(tf.data.Dataset.from_tensor_slices(data))
    return space, {"adapt": "dict_columns"}


def _jsonable(value):
    value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
    if value.dtype.kind == "f":
        return {"dtype": str(value.dtype), "value": np.round(value, 6).tolist()}
    return {"dtype": str(value.dtype), "value": value.tolist()}


def _outputs(result):
    if isinstance(result, dict):
        return {name: _jsonable(v) for name, v in result.items()}
    return _jsonable(result)


def main():
    cases = []
    for name, make in (
        ("concat", case_concat),
        ("dict", case_dict),
        ("column_rows", case_column_rows),
    ):
        space, how = make()
        features = list(space.features)
        probe = {k: PROBE[k] for k in features}
        sample = {k: SAMPLE[k] for k in features}
        encoded = space.get_encoded_features()
        shapes = (
            {k: list(v.shape) for k, v in encoded.items()}
            if isinstance(encoded, dict)
            else list(encoded.shape)
        )
        vocabularies = {
            k: [str(t) if isinstance(t, str) else t for t in p.get_vocabulary()]
            for k, p in space.preprocessors.items()
            if hasattr(p, "get_vocabulary")
        }
        boundaries = {
            k: [float(b) for b in p.bin_boundaries]
            for k, p in space.preprocessors.items()
            if isinstance(p, keras.layers.Discretization)
        }
        cases.append(
            {
                "name": name,
                **how,
                "features": features,
                "config": keras.saving.serialize_keras_object(space),
                "probe_output": _outputs(space(probe)),
                "sample_output": _outputs(space(sample)),
                "encoded_shape": shapes,
                "vocabularies": vocabularies,
                "bin_boundaries": boundaries,
            }
        )
    record = {
        "keras_version": keras.__version__,
        "table": TABLE,
        "probe": PROBE,
        "sample": SAMPLE,
        "cases": cases,
    }
    out = pathlib.Path(__file__).with_name("feature_space_references.json")
    out.write_text(json.dumps(record, default=_default) + "\n")
    print(f"wrote {out}")


def _default(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {value!r}")


if __name__ == "__main__":
    main()
