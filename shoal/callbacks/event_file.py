"""Event files that TensorBoard reads, written without TensorFlow.

An event file is a sequence of TFRecords (length, masked CRC-32C of the length, data, masked
CRC-32C of the data), each holding one `Event` protocol buffer. The few messages needed are
encoded here by hand:

    Event    { double wall_time = 1; int64 step = 2; string file_version = 3;
               Summary summary = 5; }
    Summary  { repeated Value value = 1; }
    Value    { string tag = 1; float simple_value = 2; Image image = 4;
               HistogramProto histo = 5; TensorProto tensor = 8; SummaryMetadata metadata = 9; }
    HistogramProto { double min = 1, max = 2, num = 3, sum = 4, sum_squares = 5;
                     repeated double bucket_limit = 6 [packed], bucket = 7 [packed]; }
    Image    { int32 height = 1, width = 2, colorspace = 3; bytes encoded_image_string = 4; }
    TensorProto { DataType dtype = 1; TensorShapeProto tensor_shape = 2;
                  repeated bytes string_val = 8; }
    SummaryMetadata { PluginData plugin_data = 1; }   PluginData { string plugin_name = 1;
                                                                   bytes content = 2; }
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
import zlib

import numpy as np

from shoal.callbacks.monitor_callback import to_float

# -- protocol buffer encoding ---------------------------------------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 values are encoded as 10-byte two's complement
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire_type: int) -> bytes:
    return _varint(field << 3 | wire_type)


def _pb_varint(field: int, value: int) -> bytes:
    return _key(field, 0) + _varint(int(value))


def _pb_double(field: int, value: float) -> bytes:
    return _key(field, 1) + struct.pack("<d", float(value))


def _pb_float(field: int, value: float) -> bytes:
    return _key(field, 5) + struct.pack("<f", float(value))


def _pb_bytes(field: int, value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return _key(field, 2) + _varint(len(value)) + value


def _pb_packed_doubles(field: int, values) -> bytes:
    return _pb_bytes(field, np.asarray(values, "<f8").tobytes())


def _event(
    wall_time: float,
    step: int = 0,
    file_version: str | None = None,
    values: list[bytes] | None = None,
) -> bytes:
    out = _pb_double(1, wall_time) + _pb_varint(2, step)
    if file_version is not None:
        out += _pb_bytes(3, file_version)
    if values is not None:
        out += _pb_bytes(5, b"".join(_pb_bytes(1, v) for v in values))
    return out


def _histogram_proto(values, buckets: int = 30) -> bytes:
    values = np.asarray(values, np.float64).ravel()
    if values.size == 0:
        lo = hi = 0.0
        limits, counts = [0.0], [0.0]
    else:
        lo, hi = float(values.min()), float(values.max())
        if lo == hi:
            limits, counts = [hi], [float(values.size)]
        else:
            counts, edges = np.histogram(values, bins=buckets, range=(lo, hi))
            limits, counts = edges[1:], counts.astype(np.float64)
    return (
        _pb_double(1, lo)
        + _pb_double(2, hi)
        + _pb_double(3, values.size)
        + _pb_double(4, values.sum())
        + _pb_double(5, np.square(values).sum())
        + _pb_packed_doubles(6, limits)
        + _pb_packed_doubles(7, counts)
    )


def _png(image: np.ndarray) -> bytes:
    """Encode an (height, width, channels) uint8 array, channels 1, 3 or 4, as PNG."""
    height, width, channels = image.shape
    color_type = {1: 0, 3: 2, 4: 6}[channels]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + image[r].tobytes() for r in range(height))  # filter: none
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _image_proto(image: np.ndarray) -> bytes:
    height, width, channels = image.shape
    return (
        _pb_varint(1, height)
        + _pb_varint(2, width)
        + _pb_varint(3, channels)
        + _pb_bytes(4, _png(image))
    )


# -- TFRecord framing -----------------------------------------------------------------------


def _crc32c_table():
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecord framing."""
    crc = 0xFFFFFFFF
    table = _CRC32C_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


_FILE_IDS = itertools.count()


class EventFileWriter:
    """Appends summaries to one `events.out.tfevents.*` file in `logdir` (created on first
    write). After `close()`, the next write starts a new file, as TensorBoard allows."""

    def __init__(self, logdir: str):
        self.logdir = logdir
        self._file = None
        self.path = None

    def _open(self):
        os.makedirs(self.logdir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_FILE_IDS)}.v2"
        )
        self.path = os.path.join(self.logdir, name)
        self._file = open(self.path, "wb")  # closed by close()
        self._file.write(tfrecord(_event(time.time(), 0, file_version="brain.Event:2")))

    def _write(self, value: bytes, step: int) -> None:
        if self._file is None:
            self._open()
        self._file.write(tfrecord(_event(time.time(), int(step), values=[value])))
        self._file.flush()

    def scalar(self, tag: str, value, step: int) -> None:
        self._write(_pb_bytes(1, tag) + _pb_float(2, to_float(value)), step)

    def histogram(self, tag: str, values, step: int) -> None:
        self._write(_pb_bytes(1, tag) + _pb_bytes(5, _histogram_proto(values)), step)

    def image(self, tag: str, image: np.ndarray, step: int) -> None:
        self._write(_pb_bytes(1, tag) + _pb_bytes(4, _image_proto(image)), step)

    def text_tensor(self, tag: str, text: str, plugin_name: str, content: bytes, step: int) -> None:
        tensor = _pb_varint(1, 7) + _pb_bytes(2, b"") + _pb_bytes(8, text)  # DT_STRING scalar
        metadata = _pb_bytes(1, _pb_bytes(1, plugin_name) + _pb_bytes(2, content))
        self._write(_pb_bytes(1, tag) + _pb_bytes(9, metadata) + _pb_bytes(8, tensor), step)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
