"""`keras.utils.Progbar`: a progress bar for custom loops, averaging what it is given.

`update(current, values=[("loss", value), ...])` shows, for each name, the mean of the
values passed so far weighted by the steps each covered, except names in
`stateful_metrics` (shown as given). With `stateless_metrics` instead, only the names
listed are averaged. The drawing is the one `fit` uses (`shoal.trainers.progress`).
"""

from __future__ import annotations

from shoal.trainers import progress


class Progbar(progress.Progbar):
    """Progress over `target` steps (None: unknown); `verbose` 0 silent, 1 bar, 2 one line."""

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        stateless_metrics=None,
        unit_name="step",
    ):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar: give at most one of 'stateful_metrics' (names shown as given; the "
                "rest averaged) and 'stateless_metrics' (names averaged; the rest shown as "
                f"given), got both: {stateful_metrics!r} and {stateless_metrics!r}"
            )
        super().__init__(
            target, width=width, verbose=verbose, unit_name=unit_name, interval=interval
        )
        self.stateful_metrics = (
            None if stateless_metrics is not None else set(stateful_metrics or ())
        )
        self.stateless_metrics = None if stateless_metrics is None else set(stateless_metrics)
        self._seen_so_far = 0
        self._values: dict = {}  # name -> [weighted sum, weight], in first-seen order

    def _averaged(self, name) -> bool:
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        """Record `values` (pairs `(name, value of the last step(s))`) at step `current`."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or ():
            if self._averaged(name) and not finalize:
                weight = max(current - self._seen_so_far, 1)
                total, count = self._values.get(name, (0.0, 0))
                self._values[name] = [total + value * weight, count + weight]
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current
        shown = [(name, total / count) for name, (total, count) in self._values.items()]
        super().update(current, shown, finalize=finalize)

    def add(self, n, values=None):
        """Advance by `n` steps."""
        self.update(self._seen_so_far + n, values)
