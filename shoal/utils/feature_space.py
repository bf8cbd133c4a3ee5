"""`FeatureSpace`: one-stop preprocessing and encoding of structured (tabular) data.

Semantics follow Keras 3 (`keras.utils.FeatureSpace`): every feature runs through its
preprocessor (Normalization, Discretization, StringLookup, IntegerLookup, Hashing,
Rescaling or an identity), crosses hash the preprocessed values of two or more features
(`HashedCrossing`), and 'one_hot' features and crosses are multi-hot encoded over the
preprocessor's cardinality. Outputs come in sorted feature-name order, then the crosses
in sorted name order: concatenated (`output_mode="concat"`) or as a dict.

Where shoal differs, because it has no tf.data:

- `adapt()` takes a dict of columns (arrays / lists / a DataFrame), or any iterable of
  dict batches (a generator, a list, a `shoal.utils.PyDataset`; `(x, y)` elements use
  `x`). Batches reach each preprocessor as Keras' tf.data rules would make them: unbatched
  samples are grouped by 32, rank-1 values become a column. The data is read once.
- Strings cannot be JAX arrays, so string and hashed features (and crosses) are encoded on
  the host (NumPy) when the space is called on data. A space whose features are all
  numeric and non-hashed also runs on traced values, so a model built on
  `get_encoded_features()` from `get_inputs()` fits and predicts on raw column dicts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend import dtypes
from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer
from shoal.layers.core import Input
from shoal.layers.feature_scaling import Normalization
from shoal.layers.hashed_crossing import HashedCrossing
from shoal.layers.index_lookup import IndexLookup, encode
from shoal.utils import feature_space_data as fsd
from shoal.utils import feature_space_features as fsf
from shoal.utils.feature_space_features import Cross, Feature

_OUTPUT_MODES = ("concat", "dict")


class FeatureSpace(Layer):
    """Preprocesses and encodes a dict of raw feature columns into model inputs.

    Args:
        features: dict mapping each feature name to its type: one of 'float',
            'float_rescaled', 'float_normalized', 'float_discretized',
            'integer_categorical', 'string_categorical', 'integer_hashed',
            'string_hashed', or a spec from the static constructors
            (`FeatureSpace.string_categorical(max_tokens=10)`, `FeatureSpace.feature(...)`).
        output_mode: 'concat' (one float32 vector per sample) or 'dict' (one encoded
            array per feature and cross).
        crosses: list of feature-name tuples, or `FeatureSpace.cross(...)` specs.
        crossing_dim: hash bins of crosses given as tuples.
        hashing_dim: bins of 'integer_hashed' / 'string_hashed' given by name.
        num_discretization_bins: bins of 'float_discretized' given by name.

    Example:
        >>> space = FeatureSpace({"age": "float_normalized", "city": "string_categorical"})
        >>> space.adapt({"age": [20.0, 40.0], "city": ["paris", "lyon"]})
        >>> space({"age": [30.0], "city": ["lyon"]}).shape
        (1, 4)
    """

    # -- specs (Keras' static constructors) ------------------------------------------------
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    float = staticmethod(fsf.float_feature)
    float_rescaled = staticmethod(fsf.float_rescaled)
    float_normalized = staticmethod(fsf.float_normalized)
    float_discretized = staticmethod(fsf.float_discretized)
    integer_categorical = staticmethod(fsf.integer_categorical)
    string_categorical = staticmethod(fsf.string_categorical)
    string_hashed = staticmethod(fsf.string_hashed)
    integer_hashed = staticmethod(fsf.integer_hashed)

    def __init__(
        self,
        features,
        output_mode="concat",
        crosses=None,
        crossing_dim=32,
        hashing_dim=32,
        num_discretization_bins=32,
        name=None,
    ):
        super().__init__(name=name)
        owner = f"FeatureSpace '{self.name}'"
        self._owner = owner
        if not fsd.is_mapping(features) or not len(features):
            raise ValueError(
                f"{owner}: argument 'features' must be a non-empty dict mapping feature names "
                f"to feature types (e.g. {{'age': 'float_normalized'}}); got {features!r}"
            )
        bad_names = [k for k in features.keys() if not isinstance(k, str)]
        if bad_names:
            raise ValueError(
                f"{owner}: argument 'features' must have string keys (feature names); "
                f"got keys {bad_names!r}"
            )
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(
                f"{owner}: argument 'output_mode' must be one of {list(_OUTPUT_MODES)}; "
                f"got {output_mode!r}"
            )
        self.output_mode = output_mode
        self.crossing_dim = fsf.check_positive_int(owner, "crossing_dim", crossing_dim)
        self.hashing_dim = fsf.check_positive_int(owner, "hashing_dim", hashing_dim)
        self.num_discretization_bins = fsf.check_positive_int(
            owner, "num_discretization_bins", num_discretization_bins
        )
        self.features = {key: self._standardize_feature(key, features[key]) for key in features}
        self.crosses = [self._standardize_cross(c) for c in (crosses or [])]
        self.crosses_by_name = {c.name: c for c in self.crosses}
        self.preprocessors = {key: f.preprocessor for key, f in self.features.items()}
        self.crossers = {c.name: HashedCrossing(c.crossing_dim, name=c.name) for c in self.crosses}
        self._is_adapted = False
        self._inputs_dict = None
        self._encoded = None
        self._check_encodings()

    # -- construction helpers ----------------------------------------------------------------
    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return fsf.deserialize_feature(feature, self._owner)
        makers = {
            "float": lambda: fsf.float_feature(name=name),
            "float_rescaled": lambda: fsf.float_rescaled(name=name),
            "float_normalized": lambda: fsf.float_normalized(name=name),
            "float_discretized": lambda: fsf.float_discretized(
                num_bins=self.num_discretization_bins, name=name
            ),
            "integer_categorical": lambda: fsf.integer_categorical(name=name),
            "string_categorical": lambda: fsf.string_categorical(name=name),
            "integer_hashed": lambda: fsf.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: fsf.string_hashed(self.hashing_dim, name=name),
        }
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(
                f"{self._owner}: feature '{name}' has an unknown type; expected one of "
                f"{list(makers)} or a spec such as FeatureSpace.string_categorical(...); "
                f"got {feature!r}"
            )
        return makers[feature]()

    def _standardize_cross(self, cross):
        if isinstance(cross, dict):
            cross = fsf.deserialize_cross(cross, self._owner)
        elif not isinstance(cross, Cross):
            if isinstance(cross, str) or not isinstance(cross, (list, tuple)):
                raise ValueError(
                    f"{self._owner}: argument 'crosses' must be a list of feature-name tuples "
                    f"or FeatureSpace.cross(...) specs; got the entry {cross!r}"
                )
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [n for n in cross.feature_names if n not in self.features]
        if unknown:
            raise ValueError(
                f"{self._owner}: argument 'crosses' must name features of 'features' "
                f"{list(self.features)}; got unknown feature(s) {unknown} in the cross "
                f"{cross.feature_names}"
            )
        return cross

    def _check_encodings(self):
        specs = list(self.features.items()) + [(c.name, c) for c in self.crosses]
        for key, spec in specs:
            if self.output_mode == "concat" and spec.output_mode == "int":
                raise ValueError(
                    f"{self._owner}: output_mode='concat' needs every feature encoded as "
                    f"numbers ('float' or 'one_hot'); got output_mode='int' for '{key}'. Use "
                    "output_mode='dict', or output_mode='one_hot' for that feature."
                )
            layer = self.preprocessors.get(key) or self.crossers.get(key)
            if spec.output_mode == "one_hot" and fsf.cardinality(layer) is None:
                raise ValueError(
                    f"{self._owner}: feature '{key}' has output_mode='one_hot', but the size "
                    f"of its preprocessor's output space is unknown ({fsf.preprocessor_kind(layer)}"
                    "), so it cannot be one-hot encoded; use output_mode='int' or 'float'."
                )

    # -- adapt -----------------------------------------------------------------------------
    def _adaptable(self) -> list:
        return [k for k, p in self.preprocessors.items() if fsf.needs_adapt(p)]

    def adapt(self, dataset):
        """Adapt every preprocessor that learns from data (Normalization, Discretization,
        StringLookup, IntegerLookup) on its column of `dataset`: a dict of columns (NumPy
        arrays, lists, a pandas DataFrame), or an iterable (generator, list, PyDataset)
        of dict batches or `(dict, label)` pairs."""
        names = self._adaptable()
        columns = fsd.adapt_batches(self, dataset, names)
        for key in names:
            layer = self.preprocessors[key]
            batches = columns[key]
            if (
                isinstance(layer, (Normalization, IndexLookup))
                and len({b.shape[1:] for b in batches}) == 1
            ):
                # Their state does not depend on how the data is batched: one batch is fastest.
                batches = [np.concatenate(batches, axis=0)]
            if isinstance(layer, Normalization) and not layer.built:
                layer.build((None,) + batches[0].shape[1:])
            layer.adapt(iter(batches))
        self._is_adapted = True
        self.built = True
        self._encoded = None

    # -- calling ---------------------------------------------------------------------------
    def _check_if_adapted(self):
        if self._is_adapted:
            return
        pending = self._adaptable()
        if pending:
            raise ValueError(
                f"{self._owner}: call adapt(data) before using the feature space: the "
                f"features {pending} learn their state (statistics, vocabulary, bins) from "
                "data; got a feature space that was not adapted"
            )
        self._is_adapted = True

    def __call__(self, data, **kwargs):
        # `training` / `mask` (from a model) do not change preprocessing.
        if not fsd.is_mapping(data):
            raise ValueError(
                f"{self._owner} must be called on a dict mapping feature names to values; "
                f"got data of type {type(data).__name__}"
            )
        self._check_if_adapted()
        values = {key: fsd.lookup(self, data, key, "the data") for key in self.features}
        leaves = list(values.values())
        if any(isinstance(v, KerasTensor) for v in leaves):
            return self.symbolic_call(values)
        if any(isinstance(v, jax.core.Tracer) for v in leaves):
            return self._traced_call(values)
        return self._host_call(values)

    def call(self, data):
        return self(data)

    @staticmethod
    def _batch_columns(columns):
        """Rank 0 -> (1, 1) (and note it), rank 1 -> a column; (columns, rebatched)."""
        rebatched = False
        out = {}
        for key, x in columns.items():
            if x.ndim == 0:
                x, rebatched = x.reshape(1, 1), True
            elif x.ndim == 1:
                x = x[:, None]
            out[key] = x
        return out, rebatched

    def _host_call(self, values):
        columns, rebatched = self._batch_columns(
            {key: fsd.host_column(self, key, v) for key, v in values.items()}
        )
        sizes = {key: x.shape[0] for key, x in columns.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"{self._owner}: every feature must have the same number of samples; got {sizes}"
            )
        pre = {key: np.asarray(self.preprocessors[key](x)) for key, x in columns.items()}
        crossed = {
            c.name: np.asarray(self.crossers[c.name]([pre[n] for n in c.feature_names]))
            for c in self.crosses
        }
        merged = self._merge(pre, crossed, np)
        merged = self._unbatch(merged, rebatched)
        if isinstance(merged, dict):  # (a tree_map would sort the keys)
            return {key: jnp.asarray(value) for key, value in merged.items()}
        return jnp.asarray(merged)

    def _traced_call(self, values):
        for key, feature in self.features.items():
            layer = self.preprocessors[key]
            if feature.dtype == "string" or isinstance(layer, fsf.HOST_ONLY):
                raise ValueError(
                    f"{self._owner}: feature '{key}' ({fsf.preprocessor_kind(layer)}) is encoded "
                    "on the host (NumPy) and cannot run inside a compiled model or function; "
                    "apply the feature space to the data before fit() "
                    "(`x = feature_space(data)`) and train on the result; got a traced value"
                )
        if self.crosses:
            raise ValueError(
                f"{self._owner}: the cross '{self.crosses[0].name}' (HashedCrossing) is hashed on "
                "the host (NumPy) and cannot run inside a compiled model or function; apply "
                "the feature space to the data before fit(); got a traced value"
            )
        columns = {}
        for key, x in values.items():
            x = jnp.asarray(x)
            dtype = self.features[key].dtype
            columns[key] = x.astype(dtype) if dtypes.is_float_dtype(dtype) else x
        columns, rebatched = self._batch_columns(columns)
        pre = {key: self.preprocessors[key](x) for key, x in columns.items()}
        return self._unbatch(self._merge(pre, {}, jnp), rebatched)

    def _cardinality(self, key) -> int:
        return fsf.cardinality(self.preprocessors.get(key) or self.crossers.get(key))

    def _ordered(self, pre, crossed):
        """(name, value, spec) in Keras' output order: sorted features, then sorted crosses."""
        rows = [(k, pre[k], self.features[k]) for k in sorted(pre)]
        return rows + [(k, crossed[k], self.crosses_by_name[k]) for k in sorted(crossed)]

    def _merge(self, pre, crossed, xp):
        merged = {}
        for key, value, spec in self._ordered(pre, crossed):
            if spec.output_mode == "one_hot":
                if np.dtype(value.dtype).kind not in "iu":
                    raise ValueError(
                        f"{self._owner}: feature '{key}' has output_mode='one_hot', so its "
                        f"preprocessor must return integers; got dtype {value.dtype}"
                    )
                # Keras: CategoryEncoding(num_tokens=cardinality, output_mode="multi_hot").
                value = encode(value, "multi_hot", self._cardinality(key), xp, "float32")
            merged[key] = value
        if self.output_mode == "dict":
            return merged
        for key, value in merged.items():
            if np.dtype(value.dtype).kind != "f":
                raise ValueError(
                    f"{self._owner}: cannot concatenate features because feature '{key}' has "
                    f"not been encoded (it has dtype {value.dtype}); use output_mode='dict'"
                )
        return xp.concatenate([v.astype("float32") for v in merged.values()], axis=-1)

    def _unbatch(self, merged, rebatched):
        if not rebatched:
            return merged
        if isinstance(merged, dict):
            return {k: v[0] if v.ndim == 2 and v.shape[0] == 1 else v for k, v in merged.items()}
        if merged.shape[0] != 1:
            raise ValueError(
                f"{self._owner}: a single sample (scalar values) was mixed with batched "
                f"values; got {merged.shape[0]} samples"
            )
        return merged[0]

    # -- symbolic --------------------------------------------------------------------------
    def compute_output_spec(self, data, **kwargs):
        pre = {}
        for key, feature in self.features.items():
            shape = tuple(data[key].shape)
            shape = (1, 1) if not shape else shape + (1,) if len(shape) == 1 else shape
            dtype = "float32" if feature.dtype == "string" else feature.dtype
            pre[key] = self.preprocessors[key].compute_output_spec(KerasTensor(shape, dtype))
        crossed = {
            c.name: self.crossers[c.name].compute_output_spec([pre[n] for n in c.feature_names])
            for c in self.crosses
        }
        merged = {}
        for key, spec, feature in self._ordered(pre, crossed):
            if feature.output_mode == "one_hot":
                spec = KerasTensor((spec.shape[0], self._cardinality(key)), dtype="float32")
            merged[key] = spec
        if self.output_mode == "dict":
            return merged
        for key, spec in merged.items():
            if not dtypes.is_float_dtype(spec.dtype):
                raise ValueError(
                    f"{self._owner}: cannot concatenate features because feature '{key}' has "
                    f"not been encoded (it has dtype {spec.dtype}); use output_mode='dict'"
                )
        width = sum(s.shape[-1] for s in merged.values())
        return KerasTensor((pre[next(iter(pre))].shape[0], width), dtype="float32")

    def get_inputs(self) -> dict:
        """A dict of symbolic `Input`s, one per feature (shape `(1,)`), for a functional
        model on `get_encoded_features()`."""
        self._check_if_adapted()
        if self._inputs_dict is None:
            strings = [k for k, f in self.features.items() if f.dtype == "string"]
            try:
                inputs = {
                    k: Input(shape=(1,), dtype=f.dtype, name=k) for k, f in self.features.items()
                }
            except ValueError as err:
                if not strings:
                    raise
                raise ValueError(
                    f"{self._owner}: get_inputs() cannot make symbolic inputs for the string "
                    f"features {strings}: shoal models hold numbers only (strings cannot be "
                    "JAX arrays). Encode the data on the host with `x = feature_space(data)` "
                    "and train a model on `x`; got string features"
                ) from err
            self._inputs_dict = inputs
        return self._inputs_dict

    def get_encoded_features(self):
        """The encoded features of `get_inputs()`: a symbolic tensor (concat) or a dict."""
        self._check_if_adapted()
        if self._encoded is None:
            self._encoded = self(self.get_inputs())
        return self._encoded

    # -- config and saving -----------------------------------------------------------------
    def get_config(self):
        return {
            "features": {k: fsf.serialize_spec(f) for k, f in self.features.items()},
            "output_mode": self.output_mode,
            "crosses": [fsf.serialize_spec(c) for c in self.crosses],
            "crossing_dim": self.crossing_dim,
            "hashing_dim": self.hashing_dim,
            "num_discretization_bins": self.num_discretization_bins,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self):
        if not self._is_adapted:
            return None
        return {k: f.preprocessor.get_build_config() for k, f in self.features.items()}

    def build_from_config(self, config) -> None:
        for key, build in (config or {}).items():
            layer = self.features[key].preprocessor if key in self.features else None
            if layer is not None and not layer.built and build:
                layer.build_from_config(build)
        self._is_adapted = True
        self.built = True

    def save(self, filepath):
        """Save the space as a `.keras` file; reload it with `keras.models.load_model`."""
        from shoal.saving.api import save_model

        save_model(self, filepath)


__all__ = ["FeatureSpace"]
