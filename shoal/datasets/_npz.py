"""Reads `.npz` archives, including NumPy object arrays, without unpickling.

Keras' `imdb.npz` stores ragged sequences as `dtype=object` arrays, which NumPy writes as a
pickle stream. Unpickling runs code named by the file, so we never do it. Instead the stream
is *parsed*: a small interpreter walks the opcodes and understands only plain data (ints,
floats, strings, bytes, lists, tuples, None, booleans) and the three names NumPy uses to
rebuild an array (`_reconstruct`, `ndarray`, `dtype`), rebuilding arrays itself. Any other
opcode or name is rejected. Nothing is ever imported or called on the file's behalf.
"""

from __future__ import annotations

import io
import struct
import zipfile

import numpy as np

_ARRAY_NAMES = {
    ("numpy.core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy._core.multiarray", "_reconstruct"): "reconstruct",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
    ("numpy.core.numeric", "_frombuffer"): "frombuffer",  # protocol 5
    ("numpy._core.numeric", "_frombuffer"): "frombuffer",
    ("_codecs", "encode"): "encode",  # bytes in protocols 0-2 written by Python 3
}


def load_npz(path) -> dict[str, np.ndarray]:
    """All members of an `.npz` archive as arrays (object arrays parsed, never unpickled)."""
    out = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                out[member[:-4]] = _read_npy(archive.read(member), f"{path}:{member}")
    return out


def _read_npy(data: bytes, name: str) -> np.ndarray:
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    read_header = (
        np.lib.format.read_array_header_1_0
        if version == (1, 0)
        else np.lib.format.read_array_header_2_0  # 3.0 differs only in the header's encoding
    )
    _, _, dtype = read_header(f)
    if not dtype.hasobject:
        f.seek(0)
        return np.lib.format.read_array(f, allow_pickle=False)
    value = _PickleData(data[f.tell() :], name).run()
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: the object member does not hold an array")
    return value


# Opcodes of bytes/strings -> size of their length prefix.
_LENGTH_PREFIX_BYTES = {0x43: 1, 0x42: 4, 0x8E: 8, 0x55: 1, 0x54: 4, 0x58: 4, 0x8C: 1, 0x8D: 8}


class _Stub:
    """A dtype or array being rebuilt (REDUCE made it, BUILD fills it in)."""

    def __init__(self, kind, args):
        self.kind, self.args, self.value = kind, args, None


def _resolve(x):
    if isinstance(x, _Stub):
        if x.value is None:
            raise ValueError("incomplete array in object member")
        return x.value
    return x


class _PickleData:
    """A stack machine over pickle opcodes that only ever builds data."""

    def __init__(self, data: bytes, name: str):
        self.data, self.name, self.pos = data, name, 0
        self.stack: list = []
        self.marks: list[int] = []
        self.memo: dict[int, object] = {}

    def error(self, what: str):
        return ValueError(f"{self.name}: cannot read object array: {what} at byte {self.pos}")

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        if len(chunk) != n:
            raise self.error("truncated data")
        self.pos += n
        return chunk

    def line(self) -> str:
        end = self.data.find(b"\n", self.pos)
        if end < 0:
            raise self.error("truncated data")
        text, self.pos = self.data[self.pos : end].decode("latin-1"), end + 1
        return text

    def pop_mark(self) -> list:
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def run(self):
        try:
            return self._run()
        except (IndexError, KeyError, AttributeError, TypeError, UnicodeError, struct.error) as err:
            raise self.error(f"malformed or truncated data ({type(err).__name__}: {err})") from err

    def _run(self):
        data, stack, unpack = self.data, self.stack, struct.unpack_from
        push = stack.append
        while True:
            if self.pos >= len(data):
                raise self.error("truncated data (no STOP opcode)")
            op = data[self.pos]
            self.pos += 1
            # Integers dominate (millions of word indices): test them first.
            if op == 0x4B:  # K BININT1
                push(data[self.pos])
                self.pos += 1
            elif op == 0x4D:  # M BININT2
                push(data[self.pos] | data[self.pos + 1] << 8)
                self.pos += 2
            elif op == 0x4A:  # J BININT
                push(unpack("<i", data, self.pos)[0])
                self.pos += 4
            elif op == 0x65:  # e APPENDS
                items = self.pop_mark()
                stack[-1].extend(items)
            elif op == 0x28:  # ( MARK
                self.marks.append(len(stack))
            elif op == 0x5D:  # ] EMPTY_LIST
                push([])
            elif op in (0x71, 0x72, 0x94):  # BINPUT, LONG_BINPUT, MEMOIZE
                if op == 0x71:
                    key = self.take(1)[0]
                elif op == 0x72:
                    key = unpack("<I", self.take(4))[0]
                else:
                    key = len(self.memo)
                self.memo[key] = stack[-1]
            elif op in (0x68, 0x6A):  # BINGET, LONG_BINGET
                key = self.take(1)[0] if op == 0x68 else unpack("<I", self.take(4))[0]
                if key not in self.memo:
                    raise self.error(f"unknown memo key {key}")
                push(self.memo[key])
            elif op == 0x2E:  # . STOP
                return _resolve(stack.pop())
            else:
                self.other(op)

    def other(self, op: int) -> None:
        stack, push = self.stack, self.stack.append
        sizes = _LENGTH_PREFIX_BYTES
        if op == 0x96:  # BYTEARRAY8
            push(bytearray(self.take(int.from_bytes(self.take(8), "little"))))
        elif op in sizes:  # bytes and strings with a length prefix
            n = int.from_bytes(self.take(sizes[op]), "little")
            raw = self.take(n)
            if op in (0x43, 0x42, 0x8E):
                push(raw)  # SHORT_BINBYTES, BINBYTES, BINBYTES8
            elif op in (0x55, 0x54):
                push(raw.decode("latin-1"))  # Python 2 str (SHORT_BINSTRING, BINSTRING)
            else:
                push(raw.decode("utf-8"))  # BINUNICODE, SHORT_BINUNICODE, BINUNICODE8
        elif op == 0x80:  # PROTO
            self.take(1)
        elif op == 0x95:  # FRAME: a length hint only
            self.take(8)
        elif op == 0x8A:  # LONG1
            push(int.from_bytes(self.take(self.take(1)[0]), "little", signed=True))
        elif op == 0x47:  # G BINFLOAT
            push(struct.unpack(">d", self.take(8))[0])
        elif op in (0x49, 0x4C):  # I INT, L LONG (text, protocol 0)
            text = self.line()
            push(text == "01" if op == 0x49 and text in ("00", "01") else int(text.rstrip("L")))
        elif op == 0x4E:  # N NONE
            push(None)
        elif op in (0x88, 0x89):  # NEWTRUE, NEWFALSE
            push(op == 0x88)
        elif op == 0x29:  # ) EMPTY_TUPLE
            push(())
        elif op in (0x85, 0x86, 0x87):  # TUPLE1..3
            n = op - 0x84
            items = tuple(stack[-n:])
            del stack[-n:]
            push(items)
        elif op == 0x74:  # t TUPLE
            push(tuple(self.pop_mark()))
        elif op == 0x6C:  # l LIST
            push(self.pop_mark())
        elif op == 0x61:  # a APPEND
            item = stack.pop()
            stack[-1].append(item)
        elif op == 0x70:  # p PUT (text key)
            self.memo[int(self.line())] = stack[-1]
        elif op == 0x67:  # g GET (text key)
            key = int(self.line())
            if key not in self.memo:
                raise self.error(f"unknown memo key {key}")
            push(self.memo[key])
        elif op == 0x63:  # c GLOBAL
            push(self.allowed_name(self.line(), self.line()))
        elif op == 0x93:  # STACK_GLOBAL
            qualname, module = stack.pop(), stack.pop()
            push(self.allowed_name(module, qualname))
        elif op == 0x52:  # R REDUCE
            args, func = stack.pop(), stack.pop()
            if func not in _ARRAY_NAMES.values() or not isinstance(args, tuple):
                raise self.error(f"call of {func!r} is not allowed")
            try:
                push(_Stub(func, args) if func in ("reconstruct", "dtype") else _call(func, args))
            except (TypeError, ValueError, IndexError, UnicodeError) as err:
                raise self.error(f"malformed {func} arguments ({err})") from err
        elif op == 0x62:  # b BUILD
            state = stack.pop()
            self.build(stack[-1], state)
        else:
            raise self.error(f"unsupported pickle opcode 0x{op:02x}")

    def allowed_name(self, module: str, qualname: str) -> str:
        kind = _ARRAY_NAMES.get((module, qualname))
        if kind is None:
            raise self.error(f"reference to {module}.{qualname} is not allowed")
        return kind

    def build(self, stub, state) -> None:
        if not isinstance(stub, _Stub) or not isinstance(state, tuple):
            raise self.error("BUILD on something other than a NumPy dtype or array")
        try:
            if stub.kind == "dtype":
                stub.value = _make_dtype(stub.args, state)
            else:
                stub.value = _make_array(stub.args, state)
        except (TypeError, ValueError, IndexError) as err:
            raise self.error(f"malformed NumPy state ({err})") from err


def _call(func: str, args: tuple):
    if func == "encode":  # _codecs.encode(text, "latin1") is how Python 3 spells bytes
        text, codec = args
        if codec not in ("latin1", "latin-1"):
            raise ValueError(f"codec {codec!r}")
        return text.encode("latin-1")
    raw, dtype, shape, order = args  # numpy's _frombuffer(buffer, dtype, shape, order)
    return np.frombuffer(bytes(raw), _resolve(dtype)).reshape(shape, order=order).copy()


def _make_dtype(args, state) -> np.dtype:
    # args = (str, align, copy); state = (version, byteorder, subarray, names, fields, ...)
    descr, byteorder, subarray, names = args[0], state[1], state[2], state[3]
    if subarray is not None or names is not None:
        raise ValueError("structured dtypes are not supported")
    dtype = np.dtype(descr)
    return dtype.newbyteorder(byteorder) if byteorder in "<>" else dtype


def _make_array(args, state) -> np.ndarray:
    # args = (ndarray, (0,), b'b'); state = (version, shape, dtype, is_fortran, data)
    if args[0] != "ndarray":
        raise ValueError("only numpy.ndarray may be reconstructed")
    shape, dtype, fortran, data = state[1], _resolve(state[2]), state[3], state[4]
    order = "F" if fortran else "C"
    if not isinstance(dtype, np.dtype):
        raise ValueError("array without a dtype")
    if dtype.hasobject:
        flat = np.empty(len(data), dtype=object)
        for i, item in enumerate(data):
            flat[i] = _resolve(item)
        return flat.reshape(shape, order=order)
    raw = data.encode("latin-1") if isinstance(data, str) else bytes(data)
    return np.frombuffer(raw, dtype).reshape(shape, order=order).copy()
