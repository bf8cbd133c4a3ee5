"""`HashedCrossing`: crosses of categorical features by the hashing trick, bit-exact with Keras.

Keras runs TensorFlow's `tf.sparse.cross_hashed`: the cross of the features `f_1 .. f_k`
of one sample is

    h = 0xDECAFCAFFE
    h = FingerprintCat64(h, v_i)   for i = 1 .. k
    bin = h mod num_bins           (h an unsigned 64-bit int)

where `v_i` is `Fingerprint64(f_i)` (FarmHash, `shoal.layers.hashing.fingerprint64`) for a
string and the integer itself (its 64-bit two's complement) for an integer. Like `Hashing`
this runs on the host (NumPy): apply it to the data, not inside a compiled model.
"""

from __future__ import annotations

import jax
import numpy as np

from shoal.backend.symbolic import KerasTensor, any_symbolic
from shoal.layers.base import Layer
from shoal.layers.discretization import encode_bins, encoded_shape
from shoal.layers.hashing import _M, _as_bytes, fingerprint64
from shoal.layers.index_lookup import _is_int, check_output_mode

_HASH_KEY = 0xDECAFCAFFE  # TensorFlow's default key for hashed crosses
_MUL = 0xC6A4A7935BD1E995


def _shift_mix(value: int) -> int:
    return value ^ (value >> 47)


def fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's `FingerprintCat64`: combine two unsigned 64-bit fingerprints."""
    result = fp1 ^ _MUL
    result ^= (_shift_mix((fp2 * _MUL) & _M) * _MUL) & _M
    result = (result * _MUL) & _M
    result = (_shift_mix(result) * _MUL) & _M
    return _shift_mix(result)


def _feature_hash(value) -> int:
    if isinstance(value, (str, bytes, np.str_, np.bytes_)):
        return fingerprint64(_as_bytes(value))
    return int(value) & _M  # integers enter the cross as themselves


class HashedCrossing(Layer):
    """Crosses two or more scalar categorical features into `num_bins` hash bins.

    Call it on a tuple or list of equally shaped integer or string arrays of shape `()`,
    `(batch,)` or `(batch, 1)`. `output_mode` 'int' returns the bins (int64, the input
    shape); 'one_hot' encodes them (float32, a trailing axis of size 1 is replaced).

    Runs on the host (NumPy); apply it to the data, not inside a compiled model.

    Example:
        >>> layer = HashedCrossing(num_bins=5)
        >>> layer((np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])))
        array([1, 4, 1, 1, 3])
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        owner = f"HashedCrossing '{self.name}'"
        self._owner = owner
        if not _is_int(num_bins) or num_bins < 1:
            raise ValueError(
                f"{owner}: argument 'num_bins' must be an integer >= 1; got {num_bins!r}"
            )
        self.output_mode = check_output_mode(owner, output_mode, ("int", "one_hot"))
        if sparse is not False:
            raise ValueError(
                f"{owner}: argument 'sparse' must be False (sparse outputs need the TensorFlow "
                f"backend in Keras as well); got {sparse!r}"
            )
        if self.output_mode == "int" and self.dtype_policy.name not in ("int32", "int64"):
            raise ValueError(
                f"{owner}: argument 'dtype' must be 'int32' or 'int64' with output_mode='int'; "
                f"got {self.dtype_policy.name!r}"
            )
        self.num_bins = int(num_bins)
        self.sparse = False
        self.built = True

    # -- calling ---------------------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        leaves = jax.tree_util.tree_leaves(inputs, is_leaf=lambda x: isinstance(x, KerasTensor))
        if any_symbolic((inputs,)) or any(isinstance(x, jax.core.Tracer) for x in leaves):
            raise ValueError(
                f"{self._owner} hashes on the host (NumPy), as Keras does outside TensorFlow: "
                "apply it to the data before fit() (e.g. `x = layer((a, b))`, then fit on `x`), "
                f"not inside a model or compiled function; got {type(inputs).__name__}"
            )
        return self.call(inputs)

    def call(self, inputs):
        features = self._check_inputs(inputs)
        shape = features[0].shape
        columns = [f.reshape(-1) for f in features]
        rows = list(zip(*(c.tolist() for c in columns), strict=True))
        cache: dict = {}
        bins = np.empty(len(rows), dtype=np.int64)
        for i, row in enumerate(rows):
            if row not in cache:  # each distinct cross is hashed once
                h = _HASH_KEY
                for value in row:
                    h = fingerprint_cat64(h, _feature_hash(value))
                cache[row] = h % self.num_bins
            bins[i] = cache[row]
        bins = bins.reshape(shape)
        return encode_bins(bins, self.output_mode, self.num_bins, self.compute_dtype, np)

    def _check_inputs(self, inputs) -> list:
        if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
            raise ValueError(
                f"{self._owner}: inputs must be a list or tuple of at least two arrays; "
                f"got {type(inputs).__name__}"
                + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else "")
            )
        features = [np.asarray(x) for x in inputs]
        shape = features[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(
                f"{self._owner}: every input must have shape (), (batch,) or (batch, 1); "
                f"got shapes {[f.shape for f in features]}"
            )
        if any(f.shape != shape for f in features[1:]):
            raise ValueError(
                f"{self._owner}: all inputs must have the same shape; got shapes "
                f"{[f.shape for f in features]}"
            )
        for f in features:
            ok = f.dtype.kind in "iuUS" or (
                f.dtype.kind == "O"
                and all(isinstance(v, (str, bytes)) or _is_int(v) for v in f.reshape(-1))
            )
            if not ok:
                raise ValueError(
                    f"{self._owner}: every input must hold integers or strings; got dtypes "
                    f"{[str(x.dtype) for x in features]}"
                )
        return features

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, (list, tuple)) else []
        if len(shapes) < 2 or any(s != shapes[0] for s in shapes[1:]):
            raise ValueError(
                f"{self._owner}: expected the shapes of at least two equally shaped inputs; "
                f"got {input_shape!r}"
            )
        return encoded_shape(shapes[0], self.output_mode, self.num_bins)

    def compute_output_spec(self, inputs):
        shapes = [tuple(x.shape) for x in inputs]
        return KerasTensor(self.compute_output_shape(shapes), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }


__all__ = ["HashedCrossing"]
