"""The feature specifications of `FeatureSpace`: `Feature`, `Cross` and their constructors.

A `Feature` pairs a raw input dtype with the preprocessing layer that turns the raw column
into numbers and an `output_mode`: 'float' (used as is), 'int' (indices, left as they are)
or 'one_hot' (indices multi-hot encoded over the preprocessor's cardinality, as Keras does
with `CategoryEncoding(output_mode="multi_hot")`). A `Cross` hashes the preprocessed values
of two or more categorical features together (`HashedCrossing`).

Configs are written in Keras 3's layout (module `keras.src.layers.preprocessing.feature_space`,
registered names `Feature` / `Cross`), so Keras and shoal read each other's FeatureSpace
configs; Keras' private `TFDIdentity` preprocessor (of 'float' features) reads as `Identity`.
"""

from __future__ import annotations

import numbers

from shoal.backend import dtypes, naming
from shoal.layers.base import Layer
from shoal.layers.category_encoding import CategoryEncoding
from shoal.layers.core import Identity
from shoal.layers.discretization import Discretization
from shoal.layers.feature_scaling import Normalization, Rescaling
from shoal.layers.hashed_crossing import HashedCrossing
from shoal.layers.hashing import Hashing
from shoal.layers.index_lookup import IndexLookup
from shoal.layers.integer_lookup import IntegerLookup
from shoal.layers.string_lookup import StringLookup

KERAS_MODULE = "keras.src.layers.preprocessing.feature_space"
FEATURE_OUTPUT_MODES = ("int", "one_hot", "float")
CROSS_OUTPUT_MODES = ("int", "one_hot")
# Layers that map strings (or hash on the host): they cannot run inside compiled code.
HOST_ONLY = (StringLookup, Hashing, HashedCrossing)


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_positive_int(owner, name, value):
    if not is_int(value) or value < 1:
        raise ValueError(f"{owner}: argument '{name}' must be an integer >= 1; got {value!r}")
    return int(value)


def _entry(class_name, config) -> dict:
    return {
        "module": KERAS_MODULE,
        "class_name": class_name,
        "config": config,
        "registered_name": class_name,
    }


def _unwrap(config, class_name, owner):
    """The inner config of a serialized `class_name` ({'class_name': ..., 'config': ...})."""
    if config.get("class_name") != class_name or not isinstance(config.get("config"), dict):
        raise ValueError(
            f"{owner}: expected a serialized {class_name} (a dict with 'class_name': "
            f"'{class_name}' and 'config'); got {str(config)[:200]}"
        )
    return config["config"]


class Feature:
    """One feature of a `FeatureSpace`: raw `dtype` ('float32', 'int32', 'string', ...),
    the `preprocessor` layer applied to it, and the `output_mode` of the result ('float',
    'int' or 'one_hot')."""

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in FEATURE_OUTPUT_MODES:
            raise ValueError(
                f"Feature: argument 'output_mode' must be one of {list(FEATURE_OUTPUT_MODES)}; "
                f"got {output_mode!r}"
            )
        if dtype != "string":
            try:
                dtype = dtypes.standardize_dtype(dtype)
            except ValueError as err:
                raise ValueError(
                    f"Feature: argument 'dtype' must be 'string' or a numeric dtype name; "
                    f"got {dtype!r}"
                ) from err
        if isinstance(preprocessor, dict):
            preprocessor = _deserialize_preprocessor(preprocessor)
        if not isinstance(preprocessor, Layer):
            raise ValueError(
                "Feature: argument 'preprocessor' must be a layer (e.g. "
                f"keras.layers.StringLookup()); got {preprocessor!r}"
            )
        self.dtype = dtype
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self):
        from shoal.saving.serialization import serialize_keras_object

        return {
            "dtype": self.dtype,
            "preprocessor": serialize_keras_object(self.preprocessor),
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (
            f"<Feature dtype={self.dtype} preprocessor={type(self.preprocessor).__name__} "
            f"output_mode={self.output_mode}>"
        )


class Cross:
    """A cross of the features `feature_names`, hashed into `crossing_dim` bins; its
    `output_mode` is 'int' (the bin) or 'one_hot'. Its name is the feature names joined
    by '_X_'."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in CROSS_OUTPUT_MODES:
            raise ValueError(
                f"Cross: argument 'output_mode' must be one of {list(CROSS_OUTPUT_MODES)}; "
                f"got {output_mode!r}"
            )
        if (
            isinstance(feature_names, str)
            or not isinstance(feature_names, (list, tuple))
            or len(feature_names) < 2
            or not all(isinstance(n, str) for n in feature_names)
        ):
            raise ValueError(
                "Cross: argument 'feature_names' must be a tuple of two or more feature names; "
                f"got {feature_names!r}"
            )
        self.feature_names = tuple(feature_names)
        self.crossing_dim = check_positive_int("Cross", "crossing_dim", crossing_dim)
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {
            "feature_names": list(self.feature_names),
            "crossing_dim": self.crossing_dim,
            "output_mode": self.output_mode,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return (
            f"<Cross {self.name} crossing_dim={self.crossing_dim} output_mode={self.output_mode}>"
        )


def serialize_spec(spec) -> dict:
    return _entry(type(spec).__name__, spec.get_config())


def deserialize_feature(config, owner) -> Feature:
    return Feature.from_config(dict(_unwrap(config, "Feature", owner)))


def deserialize_cross(config, owner) -> Cross:
    return Cross.from_config(dict(_unwrap(config, "Cross", owner)))


def _deserialize_preprocessor(config):
    if config.get("class_name") == "TFDIdentity":  # Keras' private identity of 'float'
        inner = config.get("config") or {}
        return Identity(name=inner.get("name"), dtype="float32")
    from shoal.saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config)


# -- constructors (FeatureSpace's static methods) ------------------------------------------
def _name(name, kind):
    return f"{name or naming.auto_name(kind)}_preprocessor"


def float_feature(name=None):
    layer = Identity(dtype="float32", name=_name(name, "float"))
    return Feature("float32", layer, "float")


def float_rescaled(scale=1.0, offset=0.0, name=None):
    layer = Rescaling(scale=scale, offset=offset, name=_name(name, "float_rescaled"))
    return Feature("float32", layer, "float")


def float_normalized(name=None):
    layer = Normalization(axis=-1, name=_name(name, "float_normalized"))
    return Feature("float32", layer, "float")


def float_discretized(num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
    # Keras hands both arguments to Discretization, which refuses them together; here
    # `bin_boundaries` (when given) fixes the bins and `num_bins` may be None or must agree.
    owner = "FeatureSpace.float_discretized"
    if bin_boundaries is None:
        num_bins = check_positive_int(owner, "num_bins", num_bins)
        layer = Discretization(num_bins=num_bins, name=_name(name, "float_discretized"))
    else:
        layer = Discretization(bin_boundaries=bin_boundaries, name=_name(name, "float_discretized"))
        if num_bins is not None and num_bins != len(layer.bin_boundaries) + 1:
            raise ValueError(
                f"{owner}: argument 'num_bins' must be None or len(bin_boundaries) + 1 "
                f"({len(layer.bin_boundaries) + 1}) when 'bin_boundaries' is given; "
                f"got num_bins={num_bins!r}"
            )
    return Feature("float32", layer, output_mode)


def integer_categorical(max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
    layer = IntegerLookup(
        name=_name(name, "integer_categorical"),
        max_tokens=max_tokens,
        num_oov_indices=num_oov_indices,
    )
    return Feature("int32", layer, output_mode)


def string_categorical(max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
    layer = StringLookup(
        name=_name(name, "string_categorical"),
        max_tokens=max_tokens,
        num_oov_indices=num_oov_indices,
    )
    return Feature("string", layer, output_mode)


def string_hashed(num_bins, output_mode="one_hot", name=None):
    return Feature(
        "string", Hashing(name=_name(name, "string_hashed"), num_bins=num_bins), output_mode
    )


def integer_hashed(num_bins, output_mode="one_hot", name=None):
    return Feature(
        "int32", Hashing(name=_name(name, "integer_hashed"), num_bins=num_bins), output_mode
    )


# -- what FeatureSpace needs to know of a preprocessor --------------------------------------
def needs_adapt(layer) -> bool:
    """Whether `layer` learns state from data in `FeatureSpace.adapt` (Keras' rule, plus the
    layers whose state was given at construction, which cannot be adapted)."""
    if not callable(getattr(layer, "adapt", None)):
        return False
    if isinstance(layer, Normalization):
        return layer.input_mean is None
    if isinstance(layer, Discretization):
        return layer.num_bins is not None  # given bin_boundaries: nothing to learn
    lookup = getattr(layer, "_lookup_layer", layer)  # TextVectorization holds a lookup
    return not getattr(lookup, "_has_input_vocabulary", False)


def cardinality(layer):
    """Size of the index space of a categorical preprocessor, or None if unknown."""
    if isinstance(layer, IndexLookup):
        size = layer.vocabulary_size()
        # Rebuilt from a config, before the vocabulary (a weight) is loaded: the size the
        # config recorded.
        frozen = getattr(layer, "_frozen_vocab_size", None)
        return frozen if not layer.get_vocabulary(include_special_tokens=False) and frozen else size
    if isinstance(layer, CategoryEncoding):
        return layer.num_tokens
    if isinstance(layer, Discretization):
        if layer.num_bins is not None:
            return layer.num_bins
        return None if layer.bin_boundaries is None else len(layer.bin_boundaries) + 1
    if isinstance(layer, (Hashing, HashedCrossing)):
        return layer.num_bins
    return None


def preprocessor_kind(layer) -> str:
    return type(layer).__name__
