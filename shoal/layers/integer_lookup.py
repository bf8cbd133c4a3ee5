"""`IntegerLookup`: integers to vocabulary indices (or back).

Eager NumPy inputs are looked up on the host (int64 results, as Keras returns); JAX arrays
and traced values (inside a compiled model) use a `searchsorted` over a sorted copy of the
vocabulary, so the layer can sit in a model that `fit` compiles.
"""

from __future__ import annotations

from shoal.layers.index_lookup import IndexLookup, _is_int


class IntegerLookup(IndexLookup):
    """Maps integers to indices through a vocabulary given as `vocabulary` or learned by
    `adapt()` (most frequent first, ties by value, descending). With `num_oov_indices > 1`
    an OOV value `x` goes to OOV index `x mod num_oov_indices` (Keras' 'floormod').
    `invert=True` maps indices back to values (`oov_token` for OOV indices).

    Example:
        >>> layer = IntegerLookup(vocabulary=[12, 36, 1138, 42])
        >>> layer(np.array([[12, 1138, 42], [42, 1000, 36]])).tolist()
        [[1, 3, 4], [4, 0, 2]]
    """

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token=-1,
        vocabulary=None,
        vocabulary_dtype="int64",
        idf_weights=None,
        invert=False,
        output_mode="int",
        sparse=False,
        pad_to_max_tokens=False,
        oov_method="floormod",
        salt=None,
        name=None,
        **kwargs,
    ):
        owner = f"IntegerLookup '{name}'" if name else "IntegerLookup"
        if vocabulary_dtype != "int64":
            raise ValueError(
                f"{owner}: argument 'vocabulary_dtype' must be 'int64' (as in Keras); "
                f"got {vocabulary_dtype!r}"
            )
        if oov_method != "floormod":
            raise NotImplementedError(
                f"{owner}: argument 'oov_method' must be 'floormod' (TensorFlow's FarmHash is "
                f"not implemented); got {oov_method!r}"
            )
        if salt is not None:
            raise ValueError(
                f"{owner}: argument 'salt' is only used with oov_method='farmhash'; "
                f"got salt={salt!r}"
            )
        for arg, value in (("oov_token", oov_token), ("mask_token", mask_token)):
            if value is not None and not _is_int(value):
                raise ValueError(
                    f"{owner}: argument '{arg}' must be an integer or None; got {value!r}"
                )
        super().__init__(
            max_tokens=max_tokens,
            num_oov_indices=num_oov_indices,
            mask_token=None if mask_token is None else int(mask_token),
            oov_token=None if oov_token is None else int(oov_token),
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            invert=invert,
            output_mode=output_mode,
            sparse=sparse,
            pad_to_max_tokens=pad_to_max_tokens,
            name=name,
            **kwargs,
        )
        self.vocabulary_dtype = "int64"

    def get_config(self):
        return {**super().get_config(), "vocabulary_dtype": self.vocabulary_dtype}
