"""`Hashing`: strings or integers to hash bins, bit-exact with Keras 3 (TensorFlow ops).

Keras hashes with TensorFlow's `Fingerprint64` (FarmHash's "na" 64-bit hash) when no salt is
given, and with SipHash-2-4 keyed by the two salt words otherwise; the bin is the unsigned
64-bit hash modulo the number of bins. Integers (and floats, truncated to integers) are hashed
as their decimal strings. Both hash functions are written here from their public
descriptions, in plain Python on 64-bit words; each distinct value is hashed once per call.

Hashing runs on the host (NumPy): strings cannot be JAX arrays, so, as Keras recommends,
apply the layer to the data before `fit`, not inside a compiled model.
"""

from __future__ import annotations

import struct

import jax
import numpy as np

from shoal.backend.symbolic import KerasTensor, any_symbolic
from shoal.layers.base import Layer
from shoal.layers.discretization import encode_bins, encoded_shape
from shoal.layers.index_lookup import _is_int, check_output_mode

_M = 0xFFFFFFFFFFFFFFFF  # 64-bit wrap-around


def _rotr(value, shift):
    return ((value >> shift) | (value << (64 - shift))) & _M if shift else value


def _rotl(value, shift):
    return ((value << shift) | (value >> (64 - shift))) & _M


def _u64(data, offset):
    return struct.unpack_from("<Q", data, offset)[0]


def _u32(data, offset):
    return struct.unpack_from("<I", data, offset)[0]


# -- FarmHash "na" Hash64 (TensorFlow's Fingerprint64) -----------------------------------
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _shift_mix(value):
    return value ^ (value >> 47)


def _hash_len16(u, v, mul):
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _hash_0_to_16(s, n):
    if n >= 8:
        mul = _K2 + n * 2
        a = (_u64(s, 0) + _K2) & _M
        b = _u64(s, n - 8)
        c = (_rotr(b, 37) * mul + a) & _M
        d = ((_rotr(a, 25) + b) * mul) & _M
        return _hash_len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        return _hash_len16(n + (_u32(s, 0) << 3), _u32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_shift_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _hash_17_to_32(s, n):
    mul = _K2 + n * 2
    a = (_u64(s, 0) * _K1) & _M
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * mul) & _M
    d = (_u64(s, n - 16) * _K2) & _M
    return _hash_len16(
        (_rotr((a + b) & _M, 43) + _rotr(c, 30) + d) & _M,
        (a + _rotr((b + _K2) & _M, 18) + c) & _M,
        mul,
    )


def _hash_33_to_64(s, n):
    mul = _K2 + n * 2
    a = (_u64(s, 0) * _K2) & _M
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * mul) & _M
    d = (_u64(s, n - 16) * _K2) & _M
    y = (_rotr((a + b) & _M, 43) + _rotr(c, 30) + d) & _M
    z = _hash_len16(y, (a + _rotr((b + _K2) & _M, 18) + c) & _M, mul)
    e = (_u64(s, 16) * mul) & _M
    f = _u64(s, 24)
    g = ((y + _u64(s, n - 32)) * mul) & _M
    h = ((z + _u64(s, n - 24)) * mul) & _M
    return _hash_len16(
        (_rotr((e + f) & _M, 43) + _rotr(g, 30) + h) & _M,
        (e + _rotr((f + a) & _M, 18) + g) & _M,
        mul,
    )


def _weak_32(s, offset, a, b):
    w, x, y, z = struct.unpack_from("<4Q", s, offset)
    a = (a + w) & _M
    b = _rotr((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rotr(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def fingerprint64(data: bytes) -> int:
    """TensorFlow's `Fingerprint64` of `data` (FarmHash na Hash64), an unsigned 64-bit int."""
    n = len(data)
    if n <= 16:
        return _hash_0_to_16(data, n)
    if n <= 32:
        return _hash_17_to_32(data, n)
    if n <= 64:
        return _hash_33_to_64(data, n)
    seed = 81
    y = (seed * _K1 + 113) & _M
    z = (_shift_mix((y * _K2 + 113) & _M) * _K2) & _M
    v0 = v1 = w0 = w1 = 0
    x = (seed * _K2 + _u64(data, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    for s in range(0, end, 64):
        x = (_rotr((x + y + v0 + _u64(data, s + 8)) & _M, 37) * _K1) & _M
        y = (_rotr((y + v1 + _u64(data, s + 48)) & _M, 42) * _K1) & _M
        x ^= w1
        y = (y + v0 + _u64(data, s + 40)) & _M
        z = (_rotr((z + w0) & _M, 33) * _K1) & _M
        v0, v1 = _weak_32(data, s, (v1 * _K1) & _M, (x + w0) & _M)
        w0, w1 = _weak_32(data, s + 32, (z + w1) & _M, (y + _u64(data, s + 16)) & _M)
        z, x = x, z
    mul = _K1 + ((z & 0xFF) << 1)
    s = last64
    w0 = (w0 + ((n - 1) & 63)) & _M
    v0 = (v0 + w0) & _M
    w0 = (w0 + v0) & _M
    x = (_rotr((x + y + v0 + _u64(data, s + 8)) & _M, 37) * mul) & _M
    y = (_rotr((y + v1 + _u64(data, s + 48)) & _M, 42) * mul) & _M
    x ^= (w1 * 9) & _M
    y = (y + v0 * 9 + _u64(data, s + 40)) & _M
    z = (_rotr((z + w0) & _M, 33) * mul) & _M
    v0, v1 = _weak_32(data, s, (v1 * mul) & _M, (x + w0) & _M)
    w0, w1 = _weak_32(data, s + 32, (z + w1) & _M, (y + _u64(data, s + 16)) & _M)
    z, x = x, z
    return _hash_len16(
        (_hash_len16(v0, w0, mul) + _shift_mix(y) * _K0 + z) & _M,
        (_hash_len16(v1, w1, mul) + x) & _M,
        mul,
    )


# -- SipHash-2-4 (TensorFlow's `to_hash_bucket_strong`) ----------------------------------
def _sip_rounds(v0, v1, v2, v3, rounds):
    for _ in range(rounds):
        v0 = (v0 + v1) & _M
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _M
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _M
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _M
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def siphash24(key0: int, key1: int, data: bytes) -> int:
    """SipHash-2-4 of `data` under the 128-bit key (`key0`, `key1`), an unsigned 64-bit int."""
    v0 = key0 ^ 0x736F6D6570736575
    v1 = key1 ^ 0x646F72616E646F6D
    v2 = key0 ^ 0x6C7967656E657261
    v3 = key1 ^ 0x7465646279746573
    n = len(data)
    full = n - n % 8
    # The last word holds the trailing bytes and, in its top byte, the length mod 256.
    tail = data[full:] + bytes(7 - n % 8) + bytes([n & 0xFF])
    words = list(struct.unpack_from(f"<{full // 8}Q", data)) + [_u64(tail, 0)]
    for m in words:
        v3 ^= m
        v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 2)
        v0 ^= m
    v2 ^= 0xFF
    v0, v1, v2, v3 = _sip_rounds(v0, v1, v2, v3, 4)
    return v0 ^ v1 ^ v2 ^ v3


# -- the layer ------------------------------------------------------------------------------
_INT64 = (-(2**63), 2**63 - 1)


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bool, np.bool_)):
        return b"true" if value else b"false"  # TensorFlow's as_string of a bool
    return str(int(value)).encode()  # integers, and floats truncated toward zero as in Keras


class Hashing(Layer):
    """Hashes strings or integers into `num_bins` bins, as Keras does: FarmHash Fingerprint64
    without `salt`, SipHash-2-4 keyed by `salt` (an int `s` means the key `[s, s]`) with
    it; integers are hashed as their decimal strings. With `mask_value`, inputs equal to it
    go to bin 0 and the others to bins `1 .. num_bins - 1`. `output_mode` 'int' returns the
    bins (int64), 'one_hot' / 'multi_hot' / 'count' encode them (float32).

    Runs on the host (NumPy); apply it to the data, not inside a compiled model.

    Example:
        >>> Hashing(num_bins=3)(np.array([["A"], ["B"], ["C"]])).tolist()
        [[1], [0], [1]]
    """

    def __init__(
        self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs
    ):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        owner = f"Hashing '{self.name}'"
        self._owner = owner
        if not _is_int(num_bins) or num_bins < 1:
            raise ValueError(
                f"{owner}: argument 'num_bins' must be an integer >= 1; got {num_bins!r}"
            )
        output_mode = check_output_mode(
            owner, output_mode, ("int", "one_hot", "multi_hot", "count")
        )
        if output_mode == "int" and self.dtype_policy.name not in ("int32", "int64"):
            raise ValueError(
                f"{owner}: argument 'dtype' must be 'int32' or 'int64' with output_mode='int'; "
                f"got {self.dtype_policy.name!r}"
            )
        if sparse:
            raise ValueError(
                f"{owner}: argument 'sparse' must be False (sparse outputs need the TensorFlow "
                f"backend in Keras as well); got {sparse!r}"
            )
        if (
            mask_value is not None
            and not isinstance(mask_value, (str, bytes))
            and not _is_int(mask_value)
        ):
            raise ValueError(
                f"{owner}: argument 'mask_value' must be None, a string or an integer; "
                f"got {mask_value!r}"
            )
        self.num_bins = int(num_bins)
        self.mask_value = mask_value.decode() if isinstance(mask_value, bytes) else mask_value
        self.salt = self._check_salt(salt)
        self.strong_hash = self.salt is not None
        self.output_mode = output_mode
        self.sparse = False
        self.built = True  # no weights: nothing to build (count_params() is 0 at once)

    def _check_salt(self, salt):
        if salt is None:
            return None
        words = list(salt) if isinstance(salt, (list, tuple)) else [salt, salt]
        if len(words) != 2 or not all(_is_int(w) and _INT64[0] <= w <= _INT64[1] for w in words):
            raise ValueError(
                f"{self._owner}: argument 'salt' must be None, an integer or a pair of integers "
                f"(64-bit signed); got {salt!r}"
            )
        return [int(w) for w in words]

    # -- hashing ---------------------------------------------------------------------------
    def _hash(self, data: bytes) -> int:
        if self.strong_hash:
            key0, key1 = (w & _M for w in self.salt)  # TensorFlow reads the key as uint64
            return siphash24(key0, key1, data)
        return fingerprint64(data)

    def hash_to_bins(self, values):
        """Bin index (int64 NumPy array) of every element of `values`."""
        values = np.asarray(values)
        if values.dtype.kind in "US":
            values = values.astype(object)
        flat = values.reshape(-1)
        keys = np.trunc(flat).astype(np.int64) if values.dtype.kind == "f" else flat
        uniques, inverse = np.unique(keys, return_inverse=True)  # hash each value once
        masking = self.mask_value is not None and self.num_bins > 1
        bins = self.num_bins - 1 if masking else self.num_bins
        hashed = np.array([self._hash(_as_bytes(u)) % bins for u in uniques], dtype=np.int64)
        hashed = hashed[inverse.reshape(-1)]
        if masking:  # the mask is compared with the values before any conversion
            hashed = np.where(self._is_mask(flat), 0, hashed + 1)
        return hashed.reshape(values.shape)

    def _is_mask(self, flat):
        if flat.dtype == object:
            return np.array([_matches(v, self.mask_value) for v in flat], dtype=bool)
        if isinstance(self.mask_value, str):
            return np.zeros(flat.shape, dtype=bool)
        return flat == self.mask_value

    # -- calling ---------------------------------------------------------------------------
    def __call__(self, inputs, *args, **kwargs):
        if any_symbolic((inputs,)) or isinstance(inputs, jax.core.Tracer):
            raise ValueError(
                f"{self._owner} hashes on the host (NumPy), as Keras does outside TensorFlow: "
                "apply it to the data before fit() (e.g. `x = layer(values)`, then fit on `x`), "
                f"not inside a model or compiled function; got {type(inputs).__name__}"
            )
        return self.call(inputs)

    def call(self, inputs):
        bins = self.hash_to_bins(inputs)
        return encode_bins(bins, self.output_mode, self.num_bins, self.compute_dtype, np)

    def compute_output_shape(self, input_shape):
        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    def compute_output_spec(self, inputs):
        return KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "num_bins": self.num_bins,
            "salt": self.salt,
            "mask_value": self.mask_value,
            "output_mode": self.output_mode,
            "sparse": self.sparse,
        }


def _matches(value, mask_value) -> bool:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="surrogateescape")
    if isinstance(mask_value, str) != isinstance(value, str):
        return False
    return bool(value == mask_value)
