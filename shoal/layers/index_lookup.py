"""The vocabulary core shared by `StringLookup`, `IntegerLookup` and `TextVectorization`.

Index layout (Keras 3): with `output_mode="int"` and a `mask_token`, index 0 is the mask;
then come `num_oov_indices` out-of-vocabulary indices, then the vocabulary. In the other
output modes the mask takes no index (masked inputs are dropped from the encoding).

`adapt()` counts tokens on the host and orders the vocabulary by count, ties broken by the
token, both descending. Lookups run on the host (NumPy) for eager inputs; integer
vocabularies also run on traced JAX arrays (a `searchsorted` on a sorted copy), so an
`IntegerLookup` works inside a compiled model. Strings cannot be JAX arrays: string inputs
must be looked up before `fit`, on the data.
"""

from __future__ import annotations

import collections
import numbers
import os

import jax
import jax.numpy as jnp
import numpy as np

from shoal.backend.symbolic import KerasTensor, any_symbolic
from shoal.layers.base import Layer

OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_ALIASES = {"binary": "multi_hot", "tf-idf": "tf_idf"}
_DROPPED = np.iinfo(np.int32).max  # index of masked inputs in the encoded modes: never counted


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_output_mode(owner, output_mode, allowed=OUTPUT_MODES):
    output_mode = _ALIASES.get(output_mode, output_mode)
    if output_mode not in allowed:
        raise ValueError(
            f"{owner}: argument 'output_mode' must be one of {list(allowed)}; got {output_mode!r}"
        )
    return output_mode


def encode(indices, output_mode, depth, xp=np, dtype=None):
    """One-hot / multi-hot / count encoding of integer `indices` into `depth` slots.

    `one_hot` encodes every element (a trailing axis of size 1 is replaced); the other
    modes encode each sample, the last axis (a 1-D input is one sample). Indices outside
    `[0, depth)` are not counted."""
    indices = xp.asarray(indices)
    if indices.ndim == 0:
        indices = indices[None]
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        hits = indices[..., None] == xp.arange(depth)
        return hits.astype(dtype or "int64")
    if indices.ndim > 2:
        raise ValueError(
            f"output_mode '{output_mode}' encodes inputs of rank 1 or 2 (samples of tokens); "
            f"got inputs of shape {tuple(indices.shape)}"
        )
    hits = indices[..., None] == xp.arange(depth)
    counts = hits.sum(axis=-2)
    if output_mode == "multi_hot":
        counts = counts > 0
    return counts.astype(dtype or "int64")


class IndexLookup(Layer):
    """Maps tokens to indices (or back, with `invert=True`) through a vocabulary learned
    by `adapt()` or given as `vocabulary`. Subclasses set the token kind."""

    _string_tokens = False  # StringLookup sets True
    _index: dict = {}  # token -> id; replaced (never mutated) once a vocabulary is set

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token=None,
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        pad_to_max_tokens=False,
        sparse=False,
        vocabulary_size=None,
        has_input_vocabulary=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        owner = f"{type(self).__name__} '{self.name}'"
        self._owner = owner
        if max_tokens is not None and (not _is_int(max_tokens) or max_tokens <= 1):
            raise ValueError(
                f"{owner}: argument 'max_tokens' must be None or an integer greater than 1; "
                f"got {max_tokens!r}"
            )
        if not _is_int(num_oov_indices) or num_oov_indices < 0:
            raise ValueError(
                f"{owner}: argument 'num_oov_indices' must be an integer >= 0; "
                f"got {num_oov_indices!r}"
            )
        output_mode = check_output_mode(owner, output_mode)
        if invert and output_mode != "int":
            raise ValueError(
                f"{owner}: argument 'output_mode' must be 'int' when invert=True; "
                f"got {output_mode!r}"
            )
        if sparse:
            raise ValueError(
                f"{owner}: argument 'sparse' must be False (sparse outputs need the TensorFlow "
                f"backend in Keras as well); got {sparse!r}"
            )
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(
                f"{owner}: argument 'idf_weights' is only used with output_mode='tf_idf'; "
                f"got output_mode={output_mode!r}"
            )
        if has_input_vocabulary is None:
            has_input_vocabulary = vocabulary is not None
        if output_mode == "tf_idf" and has_input_vocabulary and idf_weights is None:
            raise ValueError(
                f"{owner}: argument 'idf_weights' must be given with 'vocabulary' when "
                "output_mode='tf_idf'; got idf_weights=None"
            )
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        self.input_vocabulary = None if isinstance(vocabulary, str) else _listify(vocabulary)
        self.input_idf_weights = _listify(idf_weights)
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self._frozen_vocab_size = vocabulary_size
        self._tokens: list = []
        self._idf = None
        self._reset_counts()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)
        self.built = True

    # -- layout --------------------------------------------------------------
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """Size of the vocabulary, mask and OOV indices included."""
        return self._token_start_index() + len(self._tokens)

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The vocabulary; with special tokens, a term's position is its index."""
        if not include_special_tokens:
            return list(self._tokens)
        start = [self.mask_token] * self._oov_start_index()
        return start + [self.oov_token] * self.num_oov_indices + list(self._tokens)

    def _depth(self) -> int:
        if self.pad_to_max_tokens and self.max_tokens is not None:
            return self.max_tokens
        if self._frozen_vocab_size is not None:  # e.g. from a config, before the weights load
            return self._frozen_vocab_size
        return self.vocabulary_size()

    # -- vocabulary ----------------------------------------------------------
    def _as_tokens(self, values) -> list:
        """A flat list of tokens (str or int) from an array-like."""
        array = np.asarray(values)
        if self._string_tokens:
            return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.ravel()]
        if array.size and array.dtype.kind not in "iub":
            raise ValueError(f"{self._owner}: expected integer tokens; got dtype {array.dtype}")
        return [int(v) for v in array.ravel()]

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Set the vocabulary (a list/array, or the path of a file with one token a line)
        and, with output_mode='tf_idf', its `idf_weights`."""
        owner = self._owner
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{owner}: 'idf_weights' must be set when output_mode='tf_idf'")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(
                f"{owner}: 'idf_weights' is only used with output_mode='tf_idf'; got "
                f"output_mode={self.output_mode!r}"
            )
        if isinstance(vocabulary, str):
            from shoal.saving.serialization import in_safe_mode

            if in_safe_mode():
                raise ValueError(
                    f"{owner}: refusing to read the vocabulary file '{vocabulary}' while loading "
                    "in safe mode; pass safe_mode=False if you trust the file."
                )
            if not os.path.exists(vocabulary):
                raise ValueError(f"{owner}: vocabulary file '{vocabulary}' does not exist")
            if self.output_mode == "tf_idf":
                raise ValueError(
                    f"{owner}: output_mode='tf_idf' cannot read its vocabulary from a file"
                )
            with open(vocabulary, encoding="utf-8") as f:
                lines = f.read().splitlines()
            vocabulary = lines if self._string_tokens else [int(x) for x in lines]
        tokens = self._as_tokens(vocabulary)
        if not tokens:
            raise ValueError(f"{owner}: cannot set an empty vocabulary")
        start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + [
            self.oov_token
        ] * self.num_oov_indices
        found_special = tokens[:start] == special
        if found_special:
            tokens = tokens[start:]
        repeated = [t for t, n in collections.Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(f"{owner}: the vocabulary repeats the token(s) {repeated}")
        for name, token in (("mask_token", self.mask_token), ("oov_token", self.oov_token)):
            if token is not None and token in tokens and (name == "mask_token" or self.invert):
                raise ValueError(
                    f"{owner}: the vocabulary holds the {name} {token!r} at an unexpected "
                    f"position; leave special tokens out, or put them first, in this order: "
                    f"{special}"
                )
        if self.max_tokens is not None and start + len(tokens) > self.max_tokens:
            raise ValueError(
                f"{owner}: the vocabulary ({start + len(tokens)} entries with special tokens) "
                f"is larger than max_tokens={self.max_tokens}"
            )
        self._check_size_unchanged(start + len(tokens))
        self._tokens = tokens
        self._rebuild_index()
        if self.output_mode == "tf_idf":
            weights = np.asarray(idf_weights, dtype=np.float64)
            if weights.ndim != 1 or len(weights) != len(vocabulary):
                raise ValueError(
                    f"{owner}: 'idf_weights' must be 1-D with one weight per vocabulary entry "
                    f"({len(vocabulary)}); got shape {weights.shape}"
                )
            front = 0 if found_special else start
            self._set_idf(weights.astype(np.float32), front, np.mean(weights))
        self._frozen_vocab_size = self.vocabulary_size()

    def _set_idf(self, weights, front, front_value):
        back = 0
        if self.pad_to_max_tokens and self.max_tokens is not None:
            back = self.max_tokens - front - len(weights)
        self._idf = np.pad(weights, (front, back), constant_values=(front_value, 0)).astype(
            np.float32
        )

    def _check_size_unchanged(self, new_size):
        if self.output_mode == "int" or self.pad_to_max_tokens:
            return
        if self._frozen_vocab_size not in (None, new_size):
            raise RuntimeError(
                f"{self._owner}: with output_mode={self.output_mode!r} and "
                "pad_to_max_tokens=False the vocabulary size cannot change after the layer "
                f"is called (was {self._frozen_vocab_size}, now {new_size})"
            )

    def _rebuild_index(self):
        start = self._token_start_index()
        self._index = {t: i + start for i, t in enumerate(self._tokens)}
        if not self._string_tokens:
            keys = np.asarray(self._tokens, dtype=np.int64)
            order = np.argsort(keys, kind="stable")
            self._sorted_keys = keys[order]
            self._sorted_values = (order + start).astype(np.int64)

    # -- adapt ---------------------------------------------------------------
    def _reset_counts(self):
        self._token_counts = collections.Counter()
        self._document_counts = collections.Counter()
        self._num_documents = 0

    def adapt(self, data, steps=None) -> None:
        """Learn the vocabulary from `data`: an array or list (each row a document; a 1-D
        array holds one token per document) or an iterable of batches."""
        self._reset_counts()
        if isinstance(data, (list, tuple, np.ndarray, jax.Array)):
            array = self._host_array(data)
            self.update_state(array[:, None] if array.ndim == 1 else array)
        elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch[0] if isinstance(batch, tuple) else batch)
        else:
            raise TypeError(
                f"{self._owner}: adapt() takes an array, a list or an iterable of batches; "
                f"got {type(data).__name__}"
            )
        self.finalize_state()

    def _host_array(self, data):
        return np.asarray(data, dtype=object if self._string_tokens else None)

    def update_state(self, data) -> None:
        array = self._host_array(data)
        array = array.reshape(1, -1) if array.ndim <= 1 else array.reshape(len(array), -1)
        self._count_documents([self._as_tokens(row) for row in array])

    def _count_documents(self, documents) -> None:
        """Count tokens, and documents holding each token, over lists of tokens."""
        if self._has_input_vocabulary:
            raise ValueError(
                f"{self._owner}: cannot adapt a layer whose vocabulary was given (the 'vocabulary' argument)"
            )
        for tokens in documents:
            self._token_counts.update(tokens)
            self._document_counts.update(set(tokens))
        self._num_documents += len(documents)

    def finalize_state(self) -> None:
        counts = self._token_counts
        if self._has_input_vocabulary or not counts:
            self._frozen_vocab_size = self.vocabulary_size()
            return
        for special in (self.mask_token, self.oov_token):
            counts.pop(special, None)
        tokens = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
        if self.max_tokens:
            tokens = tokens[: self.max_tokens - self._token_start_index()]
        self._check_size_unchanged(self._token_start_index() + len(tokens))
        self._tokens = tokens
        self._rebuild_index()
        if self.output_mode == "tf_idf":
            documents = np.array([self._document_counts[t] for t in tokens], dtype=np.float64)
            weights = np.log(1 + self._num_documents / (1 + documents)).astype(np.float32)
            self._set_idf(weights, self._token_start_index(), np.mean(weights))
        self._reset_counts()
        self._frozen_vocab_size = self.vocabulary_size()

    # -- calling -------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        if (
            self.output_mode != "int"
            and not self.pad_to_max_tokens
            and self._frozen_vocab_size is None
        ):
            raise RuntimeError(
                f"{self._owner}: with output_mode={self.output_mode!r} and "
                "pad_to_max_tokens=False, set the vocabulary (the 'vocabulary' argument or "
                "adapt()) before calling the layer"
            )
        traced = any_symbolic((inputs,)) or isinstance(inputs, jax.core.Tracer)
        if traced and (self._string_tokens or (self.invert and self._string_output)):
            raise ValueError(
                f"{self._owner} works on strings, which cannot be JAX arrays: apply it to the "
                "data before fit() (e.g. `x = layer(strings)`, then fit on `x`), not inside a "
                f"model or compiled function; got {type(inputs).__name__}"
            )
        if traced or isinstance(inputs, jax.Array):
            return super().__call__(inputs, *args, **kwargs)
        return self._host_call(inputs)

    _string_output = False

    def _host_call(self, inputs):
        array = self._host_array(inputs)
        if self.invert:
            return self._invert(array)
        if self._string_tokens:
            indices = self._lookup_strings(array)
        else:
            indices = self._lookup_ints(array.astype(np.int64), np)
        return self._encode(indices, np)

    def call(self, inputs):
        inputs = jnp.asarray(inputs)
        if self.invert:
            return self._invert(inputs, jnp)
        return self._encode(self._lookup_ints(inputs, jnp), jnp)

    def _lookup_strings(self, array):
        tokens = self._as_tokens(array)
        oov = self._oov_start_index()
        masked = _DROPPED if self.output_mode != "int" else 0
        out = np.empty(len(tokens), dtype=np.int64)
        for i, token in enumerate(tokens):
            index = self._index.get(token)
            if self.mask_token is not None and token == self.mask_token:
                index = masked
            elif index is None:
                if self.num_oov_indices == 0:
                    raise ValueError(
                        f"{self._owner}: with num_oov_indices=0 every input must be in the "
                        f"vocabulary; got {token!r}"
                    )
                index = oov
            out[i] = index
        return out.reshape(array.shape)

    def _lookup_ints(self, x, xp):
        """Vocabulary lookup of an integer array with NumPy or jax.numpy (`xp`)."""
        if not self._tokens:
            values = xp.full(x.shape, -1)
            found = xp.zeros(x.shape, bool)
        else:
            keys = xp.asarray(self._sorted_keys)
            position = xp.clip(xp.searchsorted(keys, x), 0, len(self._tokens) - 1)
            found = keys[position] == x
            values = xp.asarray(self._sorted_values)[position]
        start = self._oov_start_index()
        if self.num_oov_indices == 0:
            if (
                xp is np
                and not found.all()
                and not (self.mask_token is not None and (found | (x == self.mask_token)).all())
            ):
                raise ValueError(
                    f"{self._owner}: with num_oov_indices=0 every input must be in the "
                    f"vocabulary; got {sorted(set(x[~found].ravel().tolist()))}"
                )
            oov = xp.full(x.shape, -1)
        elif self.num_oov_indices == 1:
            oov = xp.full(x.shape, start)
        else:
            oov = xp.mod(x, self.num_oov_indices) + start
        out = xp.where(found, values, oov)
        if self.mask_token is not None:
            masked = _DROPPED if self.output_mode != "int" else 0
            out = xp.where(x == self.mask_token, masked, out)
        return out if xp is jnp else out.astype(np.int64)

    def _invert(self, indices, xp=np):
        indices = xp.asarray(indices)
        vocabulary = self.get_vocabulary()
        default = self.oov_token
        if self._string_tokens:
            table = np.array(vocabulary + [default], dtype=object)
            position = np.where((indices >= 0) & (indices < len(vocabulary)), indices, -1)
            return table[position.astype(np.int64)]
        table = xp.asarray(
            np.array([default if v is None else v for v in vocabulary] + [default], np.int64)
        )
        valid = (indices >= self._token_start_index()) & (indices < len(vocabulary))
        if self.mask_token is not None:
            valid = valid | (indices == 0)
        position = xp.where(valid, indices, len(vocabulary))
        return table[position]

    def _encode(self, indices, xp):
        if self.output_mode == "int":
            return indices
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        dtype = None if xp is np else "int32"
        out = encode(indices, mode, self._depth(), xp, dtype=dtype)
        if self.output_mode == "tf_idf":
            out = out.astype(np.float32) * xp.asarray(self._idf)
        return out

    # -- shapes, config, saving -----------------------------------------------
    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self._depth()
        input_shape = tuple(input_shape)
        if self.output_mode == "one_hot" and not (len(input_shape) > 1 and input_shape[-1] == 1):
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    def compute_output_spec(self, inputs):
        dtype = "float32" if self.output_mode == "tf_idf" else "int32"
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "invert": self.invert,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token,
            "mask_token": self.mask_token,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "idf_weights": self.input_idf_weights,
            "vocabulary": self.input_vocabulary,
            "vocabulary_size": self._frozen_vocab_size,
            "oov_method": "floormod",
            "salt": None,
        }

    def get_build_config(self):
        return {}

    def build_from_config(self, config) -> None:
        self.built = True

    def save_own_variables(self, store) -> None:
        # Keras keeps an adapted vocabulary in assets/vocabulary.txt; shoal's archive has
        # no assets, so it travels with the layer's variables.
        if self.input_vocabulary is None and self._tokens:
            if self._string_tokens:
                store["vocabulary"] = np.array([t.encode("utf-8") for t in self._tokens])
            else:
                store["vocabulary"] = np.array(self._tokens, dtype=np.int64)
        if self.output_mode == "tf_idf" and self._idf is not None:
            store["idf_weights"] = self._idf

    def load_own_variables(self, store) -> None:
        if "vocabulary" in store:
            values = np.asarray(store["vocabulary"])
            if self._string_tokens:
                tokens = [v.decode("utf-8") for v in values.tolist()]
            else:
                tokens = [int(v) for v in values]
            self._tokens = tokens
            self._rebuild_index()
            self._frozen_vocab_size = self.vocabulary_size()
        if "idf_weights" in store:
            self._idf = np.asarray(store["idf_weights"], dtype=np.float32)


def _listify(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (np.ndarray, jax.Array)):
        value = np.asarray(value).tolist()
    return [v.item() if isinstance(v, np.generic) else v for v in value]
