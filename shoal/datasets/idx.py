"""A pure-NumPy reader for the IDX format of MNIST and Fashion-MNIST.

Layout: two zero bytes, a type code, the number of dimensions `n`, then `n` big-endian
uint32 sizes, then the values in C order, big-endian. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(source, ndim: int | None = None, name: str | None = None) -> np.ndarray:
    """Reads an IDX file (gzip-compressed or not) into a writable native-endian array.

    Args:
        source: a path, or the file's bytes.
        ndim: if given, the number of dimensions the file must have.
        name: the name used in error messages (default: the path).

    Raises:
        ValueError: the file is truncated, has trailing bytes, a bad magic number or an
            unexpected number of dimensions.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), name or "<bytes>"
    else:
        name = name or os.fspath(source)
        with open(source, "rb") as f:
            data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:
            raise ValueError(f"IDX file {name}: corrupt or truncated gzip data ({err})") from err
    return parse_idx(data, ndim=ndim, name=name)


def parse_idx(data: bytes, ndim: int | None = None, name: str = "<bytes>") -> np.ndarray:
    """Parses uncompressed IDX bytes; see `read_idx`."""
    if len(data) < 4:
        raise ValueError(f"IDX file {name}: truncated header ({len(data)} bytes, need 4)")
    zero, code, rank = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in _TYPES:
        raise ValueError(
            f"IDX file {name}: bad magic number 0x{data[:4].hex()} (expected 0x0000 followed "
            f"by a type code in {sorted(hex(c) for c in _TYPES)} and the number of dimensions)"
        )
    if ndim is not None and rank != ndim:
        raise ValueError(f"IDX file {name}: expected {ndim} dimensions, the header says {rank}")
    header = 4 + 4 * rank
    if len(data) < header:
        raise ValueError(
            f"IDX file {name}: truncated header ({len(data)} bytes, need {header} for {rank} "
            "dimensions)"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=rank, offset=4))
    dtype = np.dtype(_TYPES[code])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise ValueError(
            f"IDX file {name}: {problem}: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"the file has {len(data)}"
        )
    values = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return values.astype(dtype.newbyteorder("="))
