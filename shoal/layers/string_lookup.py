"""`StringLookup`: strings to vocabulary indices (or back), on the host.

Strings cannot be JAX arrays, so the layer runs on NumPy data before `fit` (Keras on JAX
likewise needs a tf.data pipeline for it): `ids = StringLookup(vocabulary=v)(strings)`.
"""

from __future__ import annotations

import numpy as np

from shoal.layers.index_lookup import IndexLookup


class StringLookup(IndexLookup):
    """Maps strings to integer indices through a vocabulary given as `vocabulary` or learned
    by `adapt()` (most frequent first, ties by the string, descending). Index layout: the
    mask (only with `mask_token` and output_mode='int'), `num_oov_indices` OOV indices, then
    the vocabulary. `invert=True` maps indices back to strings. Output modes 'one_hot',
    'multi_hot', 'count' and 'tf_idf' encode over the vocabulary.

    Example:
        >>> layer = StringLookup(vocabulary=["a", "b", "c", "d"])
        >>> layer(np.array([["a", "c", "d"], ["d", "z", "b"]])).tolist()
        [[1, 3, 4], [4, 0, 2]]
    """

    _string_tokens = True

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token="[UNK]",
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        pad_to_max_tokens=False,
        sparse=False,
        encoding="utf-8",
        name=None,
        salt=None,
        oov_method="farmhash",
        **kwargs,
    ):
        owner = f"StringLookup '{name}'" if name else "StringLookup"
        if isinstance(num_oov_indices, int) and num_oov_indices > 1:
            raise NotImplementedError(
                f"{owner}: argument 'num_oov_indices' > 1 hashes OOV strings with TensorFlow's "
                f"FarmHash, which shoal does not implement; got {num_oov_indices!r}"
            )
        if salt is not None:
            raise NotImplementedError(
                f"{owner}: argument 'salt' (for hashed OOV indices) is not supported; got {salt!r}"
            )
        if encoding not in ("utf-8", "UTF-8", "utf8"):
            raise ValueError(f"{owner}: argument 'encoding' must be 'utf-8'; got {encoding!r}")
        kwargs.pop("vocabulary_dtype", None)
        self._string_output = bool(invert)
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=mask_token,
            oov_token=oov_token,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            pad_to_max_tokens=pad_to_max_tokens,
            sparse=sparse,
            name=name,
            **kwargs,
        )
        self.encoding = "utf-8"

    def _host_call(self, inputs):
        array = np.asarray(inputs)
        if self.invert:
            return self._invert(array.astype(np.int64))
        return super()._host_call(inputs)

    def get_config(self):
        config = super().get_config()
        config["oov_method"] = "farmhash"
        return {**config, "encoding": self.encoding}
