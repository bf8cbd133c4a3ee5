"""Lookup of a variable or layer path in a dict keyed by exact paths and regexes, the rule
Keras' LayoutMap, DTypePolicyMap and per-variable optimizer maps share."""

from __future__ import annotations

import re


def match_path(mapping, key: str, default, too_many):
    """`mapping[key]` for an exact key; else the value of the one key that `re.fullmatch`es
    `key`; else `default`. Several matching keys raise ValueError with `too_many(key,
    matches)` as its message."""
    if key in mapping:
        return mapping[key]
    matches = [pattern for pattern in mapping if re.fullmatch(pattern, key)]
    if len(matches) > 1:
        raise ValueError(too_many(key, matches))
    return mapping[matches[0]] if matches else default
