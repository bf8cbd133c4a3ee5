"""Process-wide settings of `keras.config` beyond dtypes: logging style, traceback
filtering, flash attention, and the debugging caps on epochs and steps.

`set_max_epochs(n)` / `set_max_steps_per_epoch(n)` cap every later `fit` (and, for
steps, `evaluate` / `predict`) at `n`, whatever the call asks; None removes the cap.
With interactive logging disabled, progress bars write whole lines only (no live
redraws), as in a log file.
"""

from __future__ import annotations

import numbers

_SETTINGS = {
    "interactive_logging": True,
    "traceback_filtering": True,
    "flash_attention": None,  # None: automatic
    "max_epochs": None,
    "max_steps_per_epoch": None,
}


def enable_interactive_logging():
    _SETTINGS["interactive_logging"] = True


def disable_interactive_logging():
    _SETTINGS["interactive_logging"] = False


def is_interactive_logging_enabled() -> bool:
    return _SETTINGS["interactive_logging"]


def enable_traceback_filtering():
    _SETTINGS["traceback_filtering"] = True


def disable_traceback_filtering():
    _SETTINGS["traceback_filtering"] = False


def is_traceback_filtering_enabled() -> bool:
    return _SETTINGS["traceback_filtering"]


def enable_flash_attention():
    _SETTINGS["flash_attention"] = True


def disable_flash_attention():
    _SETTINGS["flash_attention"] = False


def is_flash_attention_enabled():
    """True / False when set, None (the default) when chosen per call."""
    return _SETTINGS["flash_attention"]


def _cap(name, value):
    if value is not None and (
        not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0
    ):
        raise ValueError(f"set_{name}: argument must be None or a positive integer, got {value!r}")
    _SETTINGS[name] = None if value is None else int(value)


def set_max_epochs(max_epochs):
    _cap("max_epochs", max_epochs)


def max_epochs():
    return _SETTINGS["max_epochs"]


def set_max_steps_per_epoch(max_steps_per_epoch):
    _cap("max_steps_per_epoch", max_steps_per_epoch)


def max_steps_per_epoch():
    return _SETTINGS["max_steps_per_epoch"]


def capped_steps(steps):
    """`steps` (None: the whole data) under the max-steps-per-epoch cap."""
    cap = _SETTINGS["max_steps_per_epoch"]
    return steps if cap is None or (steps is not None and steps <= cap) else cap


def capped_epochs(epochs):
    cap = _SETTINGS["max_epochs"]
    return epochs if cap is None else min(epochs, cap)
