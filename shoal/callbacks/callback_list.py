"""`CallbackList`: fans each hook out to the user's callbacks plus History and the progress bar."""

from __future__ import annotations

import math

import jax
import numpy as np

from shoal.callbacks.callback import Callback
from shoal.callbacks.history import History
from shoal.callbacks.progbar_logger import ProgbarLogger

_HOOKS = [
    "on_batch_begin",
    "on_batch_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
    "on_train_begin",
    "on_train_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
]


class CallbackList(Callback):
    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        if callbacks is not None and not isinstance(callbacks, (list, tuple)):
            raise TypeError(
                "Argument `callbacks` must be a list of shoal.callbacks.Callback instances; "
                f"got {callbacks!r} of type {type(callbacks).__name__}"
            )
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"Argument `callbacks` must hold shoal.callbacks.Callback instances; got "
                    f"{cb!r} of type {type(cb).__name__}"
                )
        self.callbacks = callbacks
        if add_progbar and not any(isinstance(c, ProgbarLogger) for c in callbacks):
            self.callbacks.append(ProgbarLogger())
        if add_history and not any(isinstance(c, History) for c in callbacks):
            self.callbacks.append(History())
        if jax.process_index() != 0:  # multi-process: only process 0 prints and writes logs
            self.callbacks = [c for c in self.callbacks if not c._primary_only]
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def set_params(self, params):
        super().set_params(params)
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        super().set_model(model)
        for cb in self.callbacks:
            cb.set_model(model)

    def needs_every_batch(self, kind: str) -> bool:
        """Whether a callback of the user's acts on `kind`'s batches ("train", "test",
        "predict"): then `steps_per_execution="auto"` runs one step per execution, so each
        batch hook sees its own step (as with Keras' default of 1). shoal's own callbacks
        handle fused executions and do not count."""
        hooks = [f"on_{kind}_batch_begin", f"on_{kind}_batch_end"]
        if kind == "train":
            hooks += ["on_batch_begin", "on_batch_end"]
        return any(_users_hook(cb, hook) for cb in self.callbacks for hook in hooks)

    def batch_multiple(self, kind: str) -> int | None:
        """The number of batches every saving callback's integer `save_freq` is a multiple
        of (their gcd), for `steps_per_execution="auto"` to fuse no more steps than that:
        a save then lands on the batch Keras saves at. None when no callback counts
        batches."""
        if kind != "train":
            return None
        freqs = [
            int(f)
            for f in (getattr(cb, "save_freq", None) for cb in self.callbacks)
            if isinstance(f, (int, np.integer)) and not isinstance(f, bool)
        ]
        return math.gcd(*freqs) if freqs else None

    @property
    def history(self):
        return next((c for c in self.callbacks if isinstance(c, History)), None)


def _users_hook(cb, hook) -> bool:
    """Whether `cb`'s `hook` runs the user's code: set on the instance (LambdaCallback's
    functions), or overridden by a class of the user's (shoal's own handle fused executions
    and device values)."""
    if hook in vars(cb):
        return True
    own = type(cb).__module__.startswith("shoal.")
    if own:
        return False
    if hook.startswith("on_train_batch_"):  # the base class forwards to on_batch_begin/end
        alias = hook.replace("on_train_batch_", "on_batch_")
        if alias in vars(cb) or getattr(type(cb), alias) is not getattr(Callback, alias):
            return True
    return getattr(type(cb), hook, None) is not getattr(Callback, hook)


def _host_logs(logs) -> dict:
    """Batch logs as Keras hands them to callbacks: flat, in key order, Python floats."""
    if all(not hasattr(v, "shape") for v in logs.values()) and list(logs) == sorted(logs):
        return logs
    from shoal.trainers.fit_loop import _pythonify

    return _pythonify(logs)


def _fan_out(name):
    # `logs` goes positionally to every hook: LambdaCallback functions and user overrides
    # may take it as a required positional argument.
    if "batch" in name or "epoch" in name:

        def hook(self, index, logs=None):
            logs = {} if logs is None else logs  # Keras hands hooks a dict, never None
            host = None
            for cb in self.callbacks:
                if not _users_hook(cb, name):
                    getattr(cb, name)(index, logs)  # shoal's own read device values lazily
                    continue
                if host is None:  # the user's code gets Python floats, as in Keras
                    host = _host_logs(logs)
                getattr(cb, name)(index, host)

    else:

        def hook(self, logs=None):
            logs = {} if logs is None else logs
            for cb in self.callbacks:
                getattr(cb, name)(logs)

    hook.__name__ = name
    return hook


for _name in _HOOKS:
    setattr(CallbackList, _name, _fan_out(_name))
