"""`Config`: a dict of named values read and set as attributes, that can be frozen and
written as JSON (`keras.utils.Config`)."""

from __future__ import annotations

import copy
import difflib
import json


class Config:
    """A dict-like container of named values.

    Values are set and read as attributes (`config.seed = 1`) or items
    (`config["seed"]`); `freeze()` forbids changes until `unfreeze()`; `as_dict()` and
    `to_json()` give the values as a dict or a JSON string. Iterating gives the keys in
    sorted order (as Keras).

    Example:
        >>> config = Config(learning_rate=0.1)
        >>> config.momentum = 0.9
        >>> config["momentum"], config.learning_rate
        (0.9, 0.1)
        >>> config.freeze()
        >>> config.seed = 1
        Traceback (most recent call last):
        ...
        ValueError: Cannot mutate attribute(s) because the config is frozen.
    """

    # Names of the object's own attributes and methods; any other attribute is an entry.
    __attrs__ = None

    def __init__(self, **kwargs):
        self._config = kwargs
        self._frozen = False
        self.__attrs__ = set(dir(self))

    @property
    def frozen(self) -> bool:
        """Whether the config is frozen."""
        return self._frozen

    def freeze(self):
        """Forbid changes to the entries."""
        self._frozen = True

    def unfreeze(self):
        """Allow changes to the entries again."""
        self._frozen = False

    def _check_not_frozen(self):
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self) -> dict:
        """A (shallow) copy of the entries as a dict."""
        return copy.copy(self._config)

    def to_json(self) -> str:
        """The entries as a JSON string."""
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def get(self, keyname, value=None):
        return self._config.get(keyname, value)

    def pop(self, *args):
        self._check_not_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        self._check_not_frozen()
        return self._config.update(*args, **kwargs)

    def _is_own(self, name) -> bool:
        own = object.__getattribute__(self, "__attrs__")
        return own is None or name in own

    def __setattr__(self, name, value):
        if self._is_own(name):
            object.__setattr__(self, name, value)
            return
        self._check_not_frozen()
        self._config[name] = value

    def __getattr__(self, name):
        # Called only when ordinary lookup fails: the name is an entry (or unknown).
        if self._is_own(name):
            return object.__getattribute__(self, name)
        entries = object.__getattribute__(self, "_config")
        if name in entries:
            return entries[name]
        message = f"Unknown attribute: '{name}'."
        close = difflib.get_close_matches(name, list(entries), n=1, cutoff=0.7)
        if close:
            message += f" Did you mean '{close[0]}'?"
        raise AttributeError(message)

    def __setitem__(self, key, value):
        self._check_not_frozen()
        self._config[key] = value

    def __getitem__(self, key):
        return self._config[key]

    def __delitem__(self, key):
        self._check_not_frozen()
        del self._config[key]

    def __contains__(self, key):
        return key in self._config

    def __iter__(self):
        yield from sorted(self._config)

    def __len__(self):
        return len(self._config)

    def __repr__(self):
        return f"<Config {self._config}>"
