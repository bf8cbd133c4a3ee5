"""Unique default names ("dense", "dense_1", ...) as Keras assigns them."""

from __future__ import annotations

import collections
import re

_COUNTS: collections.Counter = collections.Counter()


def to_snake_case(name: str) -> str:
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def uniquify(prefix: str) -> str:
    count = _COUNTS[prefix]
    _COUNTS[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def auto_name(cls_name: str) -> str:
    return uniquify(to_snake_case(cls_name))


def reset_uids() -> None:
    """Forget issued names (what `keras.backend.clear_session` does to names)."""
    _COUNTS.clear()
    _UIDS.clear()


_UIDS: collections.Counter = collections.Counter()


def get_uid(prefix: str = "") -> int:
    """1, 2, 3, ... for successive calls with the same `prefix` (`keras.backend.get_uid`)."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]
