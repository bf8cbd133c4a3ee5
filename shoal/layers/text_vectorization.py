"""`TextVectorization`: raw strings to token ids or token vectors, on the host.

standardize -> split -> ngrams -> vocabulary lookup (an internal `StringLookup` whose mask
token is the empty string, so index 0 pads int sequences). Strings cannot be JAX arrays:
apply the layer to the data before `fit` and train on its integer/float output (Keras on
JAX likewise needs a tf.data pipeline for it).
"""

from __future__ import annotations

import re
import string

import jax
import numpy as np

from shoal.backend.symbolic import any_symbolic
from shoal.layers.base import Layer
from shoal.layers.index_lookup import _DROPPED, _is_int, check_output_mode, encode
from shoal.layers.string_lookup import StringLookup

STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
SPLIT = ("whitespace", "character")
# TensorFlow lowercases ASCII letters only and splits on ASCII whitespace only.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")
_WHITESPACE = re.compile("[ \t\n\v\f\r]+")


class TextVectorization(Layer):
    """Turns strings into token ids (`output_mode="int"`, padded with 0 to the longest
    sequence or to `output_sequence_length`, and truncated to it) or into one vector per
    string ('multi_hot', 'count', 'tf_idf'). The vocabulary comes from `adapt()` (most
    frequent first, ties by the token, descending) or from `vocabulary`; with
    output_mode='int' index 0 is padding and 1 is '[UNK]'.

    `standardize` and `split` may be callables: `standardize` receives and returns a NumPy
    array of str; `split` receives a 1-D NumPy array of str and returns one list of tokens
    per string.

    Example:
        >>> layer = TextVectorization(output_sequence_length=3)
        >>> layer.adapt(["the cat", "the dog"])
        >>> layer(np.array(["The dog!", "a cat sat"])).tolist()
        [[2, 3, 0], [1, 4, 1]]
    """

    def __init__(
        self,
        max_tokens=None,
        standardize="lower_and_strip_punctuation",
        split="whitespace",
        ngrams=None,
        output_mode="int",
        output_sequence_length=None,
        pad_to_max_tokens=False,
        vocabulary=None,
        idf_weights=None,
        sparse=False,
        ragged=False,
        encoding="utf-8",
        name=None,
        **kwargs,
    ):
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        owner = f"TextVectorization '{self.name}'"
        for arg, value, allowed in (
            ("standardize", standardize, STANDARDIZE),
            ("split", split, SPLIT),
        ):
            if not (value is None or callable(value) or value in allowed):
                raise ValueError(
                    f"{owner}: argument '{arg}' must be one of {list(allowed)}, None or a "
                    f"callable; got {value!r}"
                )
        output_mode = check_output_mode(owner, output_mode)
        if not (
            ngrams is None
            or _is_int(ngrams)
            and ngrams > 0
            or isinstance(ngrams, tuple)
            and all(_is_int(n) and n > 0 for n in ngrams)
        ):
            raise ValueError(
                f"{owner}: argument 'ngrams' must be None, a positive integer or a tuple of "
                "positive integers; "
                f"got {ngrams!r}"
            )
        if output_sequence_length is not None:
            if output_mode != "int":
                raise ValueError(
                    f"{owner}: argument 'output_sequence_length' must be None unless "
                    f"output_mode='int'; got {output_sequence_length!r} with "
                    f"output_mode={output_mode!r}"
                )
            if not _is_int(output_sequence_length) or output_sequence_length < 1:
                raise ValueError(
                    f"{owner}: argument 'output_sequence_length' must be a positive integer or "
                    f"None; got {output_sequence_length!r}"
                )
        if ragged:
            raise ValueError(
                f"{owner}: argument 'ragged' must be False (ragged outputs need the "
                f"TensorFlow backend in Keras as well); got {ragged!r}"
            )
        if encoding not in ("utf-8", "UTF-8", "utf8"):
            raise ValueError(f"{owner}: argument 'encoding' must be 'utf-8'; got {encoding!r}")
        self._owner = owner
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if _is_int(ngrams) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = output_sequence_length
        self.ragged = False
        self.encoding = "utf-8"
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens,
            mask_token="",
            output_mode=output_mode,
            sparse=sparse,
            has_input_vocabulary=has_input_vocabulary,
            vocabulary_size=vocabulary_size,
            name=f"{self.name}_lookup",
        )
        self.built = True

    # -- vocabulary ------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True) -> list:
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary from `data`: an array or list of strings, or an iterable of
        batches of strings (`(x, y)` batches use `x`)."""
        lookup = self._lookup_layer
        lookup._reset_counts()
        if isinstance(data, (list, tuple, np.ndarray)):
            lookup._count_documents(self._documents(self._preprocess(data)))
        elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                batch = batch[0] if isinstance(batch, tuple) else batch
                lookup._count_documents(self._documents(self._preprocess(batch)))
        else:
            raise TypeError(
                f"{self._owner}: adapt() takes an array or list of strings or an iterable of "
                f"batches; got {type(data).__name__}"
            )
        lookup.finalize_state()

    # -- preprocessing ---------------------------------------------------------
    def _strings(self, inputs):
        array = np.asarray(inputs, dtype=object)
        flat = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in array.ravel()]
        return np.array(flat, dtype=object).reshape(array.shape)

    def _preprocess(self, inputs):
        """Standardized strings, then: a list of token lists (with `split`), or the array
        of whole strings (`split=None`)."""
        strings = self._strings(inputs)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            strings = _map(strings, lambda s: s.translate(_ASCII_LOWER))
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            strings = _map(strings, lambda s: _PUNCTUATION.sub("", s))
        if callable(self.standardize):
            strings = self._strings(self.standardize(strings.astype(str)))
        if self.split is None:
            return strings
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise ValueError(
                    f"{self._owner}: to split strings, inputs must be 1-D or have a last axis "
                    f"of size 1; got shape {strings.shape}"
                )
            strings = strings[..., 0]
        strings = strings.reshape(-1) if strings.ndim == 0 else strings
        if self.split == "whitespace":
            tokens = [[t for t in _WHITESPACE.split(s) if t] for s in strings]
        elif self.split == "character":
            tokens = [list(s) for s in strings]
        else:
            tokens = [
                [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in row]
                for row in self.split(strings.astype(str))
            ]
        if self._ngrams is not None:
            tokens = [_ngrams(row, self._ngrams) for row in tokens]
        return tokens

    def _documents(self, processed):
        if isinstance(processed, list):
            return processed
        array = processed.reshape(1, -1) if processed.ndim <= 1 else processed
        rows = [list(row.ravel()) for row in array.reshape(len(array), -1)]
        if self._ngrams is not None:
            rows = [_ngrams(row, self._ngrams) for row in rows]
        return rows

    # -- calling ---------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        if any_symbolic((inputs,)) or isinstance(inputs, jax.Array):
            raise ValueError(
                f"{self._owner} works on strings, which cannot be JAX arrays or symbolic "
                "tensors: apply it to the data before fit() (e.g. `x = layer(texts)`, then "
                "fit on `x`), not inside a model or compiled function; got "
                f"{type(inputs).__name__}"
            )
        return self.call(inputs)

    def call(self, inputs):
        lookup = self._lookup_layer
        if (
            self.output_mode != "int"
            and not lookup.pad_to_max_tokens
            and lookup._frozen_vocab_size is None
        ):
            raise RuntimeError(
                f"{self._owner}: with output_mode={self.output_mode!r} and "
                "pad_to_max_tokens=False, set the vocabulary (the 'vocabulary' argument or "
                "adapt()) before calling the layer"
            )
        processed = self._preprocess(inputs)
        if not isinstance(processed, list) and self._ngrams is None:
            if self.output_mode != "int":
                array = processed.reshape(-1, 1) if processed.ndim <= 1 else processed
                return lookup._encode(lookup._lookup_strings(array), np)
            ids = lookup._lookup_strings(processed)
            if self.output_sequence_length is not None and ids.ndim > 1:
                ids = _pad(ids, self.output_sequence_length, 0)
            return ids
        rows = self._documents(processed)
        ids = [lookup._lookup_strings(np.array(row, dtype=object)) for row in rows]
        if self.output_mode == "int":
            length = self.output_sequence_length
            if length is None:
                length = max((len(r) for r in ids), default=0)
            return np.stack([_pad(r, length, 0) for r in ids]) if ids else np.zeros((0, length))
        width = max((len(r) for r in ids), default=0)
        padded = np.stack([_pad(r, width, _DROPPED) for r in ids])
        out = encode(
            padded, "count" if self.output_mode == "tf_idf" else self.output_mode, lookup._depth()
        )
        if self.output_mode == "tf_idf":
            out = out.astype(np.float32) * lookup._idf
        return out

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self._lookup_layer._depth())

    # -- config and saving -----------------------------------------------------
    def get_config(self):
        from shoal.saving.serialization import serialize_keras_object

        def as_config(value):
            return serialize_keras_object(value) if callable(value) else value

        lookup = self._lookup_layer
        return {
            **super().get_config(),
            "max_tokens": lookup.max_tokens,
            "standardize": as_config(self.standardize),
            "split": as_config(self.split),
            "ngrams": self.ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": lookup.pad_to_max_tokens,
            "sparse": False,
            "ragged": False,
            "vocabulary": lookup.input_vocabulary,
            "idf_weights": lookup.input_idf_weights,
            "encoding": self.encoding,
            "vocabulary_size": self.vocabulary_size(),
        }

    @classmethod
    def from_config(cls, config):
        from shoal.saving.serialization import deserialize_keras_object

        config = dict(config)
        for key in ("standardize", "split"):
            if config.get(key) is not None and not isinstance(config[key], str):
                config[key] = deserialize_keras_object(config[key])
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return super().from_config(config)

    def get_build_config(self):
        return {}

    def build_from_config(self, config) -> None:
        self.built = True

    def save_own_variables(self, store) -> None:
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store) -> None:
        self._lookup_layer.load_own_variables(store)


def _map(strings, fn):
    return np.array([fn(s) for s in strings.ravel()], dtype=object).reshape(strings.shape)


def _ngrams(tokens, widths):
    """All n-grams of each width in `widths`, width by width, joined with a space."""
    out = []
    for n in widths:
        out.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return out


def _pad(ids, length, value):
    """Truncate or pad the last axis of `ids` to `length`."""
    ids = ids[..., :length]
    missing = length - ids.shape[-1]
    if missing:
        widths = [(0, 0)] * (ids.ndim - 1) + [(0, missing)]
        ids = np.pad(ids, widths, constant_values=value)
    return ids.astype(np.int64)
