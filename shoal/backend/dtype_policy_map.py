"""`DTypePolicyMap`: per-layer dtype policies keyed by layer path (Keras 3's class).

A layer built with `dtype=<a DTypePolicyMap>` takes the policy the map holds for its path
(the name-scope path it is built under, "subclass/subclass_dense"), else the map's
default policy. Keys are exact paths or regular expressions matched in full
("encoder/.*"); an exact key wins, and a path two patterns match is refused.
"""

from __future__ import annotations

from collections.abc import MutableMapping

from shoal.backend.dtype_policy import DTypePolicy, QuantizedDTypePolicy, get
from shoal.backend.path_patterns import match_path


class DTypePolicyMap(DTypePolicy, MutableMapping):
    """Dict-like map from layer paths to `DTypePolicy` instances.

    Args:
        default_policy: the policy of a path no key matches (None: the global policy,
            `keras.config.dtype_policy()`, looked up when asked).
        policy_map: an optional dict of path (or pattern) to policy.
    """

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("DTypePolicyMap: `default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError(
                "DTypePolicyMap: If specified, `policy_map` must be a dict; got "
                f"{policy_map!r} of type {type(policy_map).__name__}"
            )
        self._default_policy_arg = default_policy
        self._default_policy = None if default_policy is None else get(default_policy)
        self._policy_map = dict(policy_map or {})

    @property
    def default_policy(self) -> DTypePolicy:
        return get(self._default_policy)

    @property
    def name(self) -> str:
        return f"map_{self.default_policy.name}"

    @property
    def variable_dtype(self) -> str:
        return self.default_policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        return self.default_policy.compute_dtype

    @property
    def quantization_mode(self):
        return self.default_policy.quantization_mode

    def __getitem__(self, key):
        return match_path(
            self._policy_map,
            key,
            self.default_policy,
            lambda key, matches: (
                f"Path '{key}' matches multiple dtype policy specification keys: {matches}. "
                "Make sure each path matches at most one key of the DTypePolicyMap."
            ),
        )

    def __setitem__(self, key, policy):
        if key in self._policy_map:
            raise ValueError(
                f"{key} already exist in the DTypePolicyMap with value "
                f"{self._policy_map[key]}. Do not use duplicated keys."
            )
        try:
            policy = get(policy)
        except Exception as err:
            raise ValueError(
                "Cannot interpret the assigned value by `keras.dtype_policies.get`. "
                f"Received: {policy!r} of type {type(policy).__name__}"
            ) from err
        self._policy_map[key] = policy

    def __delitem__(self, key):
        del self._policy_map[key]

    def __contains__(self, key):
        return key in self._policy_map

    def __len__(self):
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    def __eq__(self, other):
        return (
            isinstance(other, DTypePolicyMap)
            and self.default_policy == other.default_policy
            and self._policy_map == other._policy_map
        )

    __hash__ = object.__hash__

    def get_config(self) -> dict:
        from shoal.saving.serialization import serialize_keras_object

        policy_map = {}
        for key, policy in self._policy_map.items():
            entry = serialize_keras_object(policy)
            if self._default_policy_arg is None:
                # As Keras: with no default given, the entries follow the global policy
                # of the program that loads the map (their source names are left out).
                entry = {**entry, "config": dict(entry["config"])}
                field = "source_name" if isinstance(policy, QuantizedDTypePolicy) else "name"
                entry["config"][field] = None
            policy_map[key] = entry
        return {"default_policy": self._default_policy_arg, "policy_map": policy_map}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from shoal.saving.serialization import deserialize_keras_object

        policy_map = {
            key: deserialize_keras_object(entry, custom_objects=custom_objects)
            for key, entry in (config.get("policy_map") or {}).items()
        }
        return cls(default_policy=config.get("default_policy"), policy_map=policy_map)

    def __repr__(self):
        default = None if self._default_policy is None else self._default_policy.name
        mapping = [(k, v.name) for k, v in self._policy_map.items()]
        return f"<DTypePolicyMap at {hex(id(self))} default_policy={default}, mapping={mapping}>"
