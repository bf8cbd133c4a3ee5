"""`ProgbarLogger`: the Keras progress bar for fit / evaluate / predict."""

from __future__ import annotations

import collections

from shoal.callbacks.callback import Callback
from shoal.trainers.fit_loop import IN_FLIGHT
from shoal.trainers.progress import Progbar


def _ready(logs) -> bool:
    """Whether every value of `logs` is computed (JAX arrays may still be in flight)."""
    return all(getattr(v, "is_ready", lambda: True)() for v in logs.values())


class ProgbarLogger(Callback):
    _primary_only = True  # with several processes, only process 0 writes

    def __init__(self):
        super().__init__()
        self.progbar = None
        self.seen = 0
        # The logs of the last executions: a redraw shows the newest computed ones, so that
        # it never waits for one in flight (at most IN_FLIGHT; the one before is done).
        self._recent = collections.deque(maxlen=IN_FLIGHT + 1)

    @property
    def verbose(self):
        return self.params.get("verbose", 1)

    def _start(self, target):
        self.seen = 0
        self._recent.clear()
        self.progbar = Progbar(target=target, verbose=self.verbose) if self.verbose else None

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs", 1)

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose and self.epochs > 1:  # Keras prints no "Epoch 1/1"
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self._start(self.params.get("steps"))

    def on_test_begin(self, logs=None):
        if not self.model._in_fit:
            self._start(self.params.get("steps"))

    def on_predict_begin(self, logs=None):
        self._start(self.params.get("steps"))

    def _batch(self, batch, logs):
        self.seen = batch + 1
        logs = logs or {}
        if not self._recent or self._recent[-1] is not logs:
            self._recent.append(logs)
        # Called for every batch, the bar redraws every 50 ms: check before gathering logs.
        if self.progbar is not None and self.verbose == 1 and self.progbar.due():
            shown = next((r for r in reversed(self._recent) if _ready(r)), None)
            if shown is not None:
                self.progbar.update(self.seen, sorted(shown.items()), finalize=False)

    def on_train_batch_end(self, batch, logs=None):
        self._batch(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self.model._in_fit:
            self._batch(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._batch(batch, None)

    def _finish(self, logs):
        if self.progbar is not None:
            self.progbar.target = self.progbar.target or self.seen
            self.progbar.update(self.seen, sorted((logs or {}).items()), finalize=True)

    def on_epoch_end(self, epoch, logs=None):
        self._finish(logs)

    def on_test_end(self, logs=None):
        if not self.model._in_fit:
            self._finish(logs)

    def on_predict_end(self, logs=None):
        self._finish(None)
