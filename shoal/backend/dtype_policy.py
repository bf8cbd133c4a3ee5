"""Dtype policies: the dtype a layer stores its variables in and computes in."""

from __future__ import annotations

from shoal.backend import config, dtypes

_GLOBAL = {"policy": None}
_MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


class DTypePolicy:
    def __init__(self, name: str | None = None):
        name = name or config.floatx()
        if not isinstance(name, str):
            raise ValueError(f"DTypePolicy: `name` must be a string; got {name!r}")
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


def get(identifier) -> DTypePolicy:
    if identifier is None:
        return global_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return DTypePolicy(**identifier.get("config", identifier))
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    return DTypePolicy(dtypes.standardize_dtype(identifier))


def global_policy() -> DTypePolicy:
    return _GLOBAL["policy"] or DTypePolicy(config.floatx())


def set_global_policy(policy) -> None:
    _GLOBAL["policy"] = None if policy is None else get(policy)
