"""Dtype policies: the dtype a layer stores its variables in and computes in."""

from __future__ import annotations

from shoal.backend import config, dtypes

_GLOBAL = {"policy": None}
_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
# Keras' quantization modes; shoal implements "int8", "float8" and "int4" (see
# shoal.layers.quantization).
QUANTIZATION_MODES = ("int8", "float8", "int4", "gptq", "awq")
SUPPORTED_QUANTIZATION_MODES = ("int8", "float8", "int4")


class DTypePolicy:
    quantization_mode = None

    def __init__(self, name: str | None = None):
        if name is None:  # the global policy's name, as Keras (floatx() unless one is set)
            name = global_policy().name
        if not isinstance(name, str):
            raise TypeError(f"DTypePolicy: argument 'name' must be a string; got {name!r}")
        if not name:
            raise ValueError("DTypePolicy: argument 'name' must name a dtype policy; got ''")
        if name in _MIXED:
            self._compute, self._variable = _MIXED[name], "float32"
        else:
            try:
                self._compute = self._variable = dtypes.standardize_dtype(name)
            except ValueError as err:
                raise ValueError(
                    "DTypePolicy: `name` must be a dtype name or 'mixed_float16' / "
                    f"'mixed_bfloat16'; got {name!r}"
                ) from err
        self.name = name

    @property
    def compute_dtype(self) -> str:
        return self._compute

    @property
    def variable_dtype(self) -> str:
        return self._variable

    def get_config(self) -> dict:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<DTypePolicy "{self.name}">'


class QuantizedDTypePolicy(DTypePolicy):
    """`"<mode>_from_<source>"`: variables quantized with `mode`, computing as `source`.

    `QuantizedDTypePolicy("int8", "mixed_bfloat16")` is named
    `"int8_from_mixed_bfloat16"`, computes in bfloat16 and keeps float32 for the
    variables that stay float (biases, scales), as in Keras."""

    def __init__(self, mode, source_name=None):
        if source_name is None:
            source_name = global_policy().name
        check_quantization_mode(mode)
        super().__init__(source_name)
        if mode == "int8" and self.compute_dtype == "float16":
            raise ValueError(
                "QuantizedDTypePolicy: mode 'int8' needs a compute dtype other than float16 "
                f"(use 'mixed_bfloat16' or 'float32'); got source_name={source_name!r}"
            )
        self._source_name = source_name
        self._mode = mode
        self.name = f"{mode}_from_{source_name}"

    @property
    def quantization_mode(self) -> str:
        return self._mode

    @property
    def source_name(self) -> str:
        return self._source_name

    def get_config(self) -> dict:
        return {"mode": self._mode, "source_name": self._source_name}

    def __eq__(self, other):
        return isinstance(other, QuantizedDTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f'<QuantizedDTypePolicy "{self.name}">'


class Int4DTypePolicy(QuantizedDTypePolicy):
    """`"int4/<block_size>_from_<source>"`: int4 weights in groups of `block_size` along the
    contracted axis (-1: one scale per channel), as Keras' `Int4DTypePolicy`.

    The plain `"int4_from_<source>"` (a `QuantizedDTypePolicy`) means per-channel too."""

    def __init__(self, mode, source_name=None):
        base, _, size = str(mode).partition("/")
        try:
            block_size = int(size)
        except ValueError:
            block_size = 0
        if base != "int4" or block_size < -1 or block_size == 0:
            raise ValueError(
                "Int4DTypePolicy: argument 'mode' must read 'int4/<block_size>' with "
                f"block_size -1 (per-channel) or a positive integer; got {mode!r}"
            )
        super().__init__("int4", source_name)
        self.block_size = block_size
        self.name = f"int4/{block_size}_from_{self.source_name}"

    def get_config(self) -> dict:
        return {"mode": f"int4/{self.block_size}", "source_name": self.source_name}

    def __repr__(self):
        return f'<Int4DTypePolicy "{self.name}">'


class QuantizedFloat8DTypePolicy(QuantizedDTypePolicy):
    """`"float8_from_<source>"`: float8 training and inference, the scales computed from
    the largest absolute values of the last `amax_history_length` steps (Keras' policy)."""

    default_amax_history_length = 1024

    def __init__(self, mode, source_name=None, amax_history_length=1024):
        super().__init__(mode, source_name)
        if mode != "float8":
            raise ValueError(
                f"QuantizedFloat8DTypePolicy: argument 'mode' must be 'float8'; got {mode!r}"
            )
        if isinstance(amax_history_length, bool) or not isinstance(amax_history_length, int):
            raise TypeError(
                "QuantizedFloat8DTypePolicy: argument 'amax_history_length' must be an "
                f"integer; got amax_history_length={amax_history_length!r}"
            )
        if amax_history_length < 1:
            raise ValueError(
                "QuantizedFloat8DTypePolicy: argument 'amax_history_length' must be positive; "
                f"got amax_history_length={amax_history_length}"
            )
        self._amax_history_length = amax_history_length

    @property
    def amax_history_length(self) -> int:
        return self._amax_history_length

    def get_config(self) -> dict:
        return {**super().get_config(), "amax_history_length": self._amax_history_length}

    def __eq__(self, other):
        return (
            isinstance(other, QuantizedFloat8DTypePolicy)
            and other.name == self.name
            and other.amax_history_length == self.amax_history_length
        )

    def __hash__(self):
        return hash((self.name, self._amax_history_length))

    def __repr__(self):
        return f'<QuantizedFloat8DTypePolicy "{self.name}">'


def _quantized_class(mode):
    if "/" in str(mode):
        return Int4DTypePolicy
    return QuantizedFloat8DTypePolicy if mode == "float8" else QuantizedDTypePolicy


def check_quantization_mode(mode, owner="QuantizedDTypePolicy") -> None:
    """Raise unless `mode` is a quantization mode shoal implements."""
    if mode in SUPPORTED_QUANTIZATION_MODES:
        return
    if mode in QUANTIZATION_MODES:
        others = tuple(m for m in QUANTIZATION_MODES if m not in SUPPORTED_QUANTIZATION_MODES)
        raise NotImplementedError(
            f"{owner}: argument 'mode' must be one of {SUPPORTED_QUANTIZATION_MODES} (Keras' "
            f"other modes {others} are not implemented in shoal); got {mode!r}"
        )
    raise ValueError(
        f"{owner}: argument 'mode' must be one of {SUPPORTED_QUANTIZATION_MODES} (an invalid "
        f"quantization mode; Keras knows {QUANTIZATION_MODES}); got {mode!r}"
    )


def _quantized_from_name(name: str) -> QuantizedDTypePolicy:
    mode, _, source = name.partition("_from_")
    if not source:
        raise ValueError(
            "DTypePolicy: a quantized policy name must read '<mode>_from_<source>', e.g. "
            f"'int8_from_float32'; got {name!r}"
        )
    return _quantized_class(mode)(mode, source)


def get(identifier) -> DTypePolicy:
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        config = identifier.get("config", identifier)
        if identifier.get("class_name") in QUANTIZED_POLICY_CLASSES or "mode" in config:
            return _quantized_class(config.get("mode"))(**config)
        if identifier.get("class_name") == "DTypePolicyMap":
            from shoal.backend.dtype_policy_map import DTypePolicyMap

            return DTypePolicyMap.from_config(config)
        return DTypePolicy(**config)
    if isinstance(identifier, str):
        if identifier.startswith(QUANTIZATION_MODES) and "_from_" in identifier:
            return _quantized_from_name(identifier)
        return DTypePolicy(identifier)
    return DTypePolicy(dtypes.standardize_dtype(identifier))


def resolve(policy, path):
    """The policy a layer at `path` follows: a `DTypePolicyMap`'s entry for it (its default
    before the layer is built, as Keras), else `policy` itself."""
    from shoal.backend.dtype_policy_map import DTypePolicyMap

    if isinstance(policy, DTypePolicyMap) and path:
        return policy[path]
    return policy


QUANTIZED_POLICY_CLASSES = (
    "QuantizedDTypePolicy",
    "Int4DTypePolicy",
    "QuantizedFloat8DTypePolicy",
)


def global_policy() -> DTypePolicy:
    return _GLOBAL["policy"] or DTypePolicy(config.floatx())


def set_global_policy(policy) -> None:
    _GLOBAL["policy"] = None if policy is None else get(policy)
