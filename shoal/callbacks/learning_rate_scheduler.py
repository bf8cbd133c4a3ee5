"""`LearningRateScheduler`: set the learning rate from `schedule(epoch, lr)` each epoch."""

from __future__ import annotations

import numbers

import numpy as np

from shoal.callbacks.callback import Callback
from shoal.callbacks.monitor_callback import learning_rate_of


class LearningRateScheduler(Callback):
    """Learning rate scheduler.

    At the beginning of every epoch, calls `schedule(epoch, lr)` (epoch indexed from 0, lr the
    current learning rate as a float; a one-argument `schedule(epoch)` is accepted too) and
    sets the optimizer's learning rate to the result. At the end of every epoch the learning
    rate is added to the logs as `learning_rate`.

    Args:
        schedule: a function `(epoch, lr) -> new_lr`.
        verbose: 0 quiet, 1 prints each update.

    Example:
        >>> def scheduler(epoch, lr):
        ...     return lr if epoch < 10 else lr * 0.9
        >>> callback = LearningRateScheduler(scheduler)
        >>> # model.fit(x, y, epochs=15, callbacks=[callback])
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                "LearningRateScheduler: argument `schedule` must be a callable "
                f"(epoch, lr) -> lr; got {schedule!r}"
            )
        self.schedule = schedule
        self.verbose = verbose

    def _optimizers(self):
        optimizer = self.model.optimizer
        return list(getattr(optimizer, "optimizers", None) or [optimizer])

    def _update_optimizer_lr(self, optimizer, epoch):
        if not hasattr(optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        try:
            learning_rate = self.schedule(epoch, learning_rate_of(optimizer))
        except TypeError:  # the older one-argument API
            learning_rate = self.schedule(epoch)
        if isinstance(learning_rate, bool) or not (
            isinstance(learning_rate, numbers.Real)
            or (hasattr(learning_rate, "shape") and np.shape(learning_rate) == ())
        ):
            raise ValueError(
                f"The output of the `schedule` function should be a float. Got: {learning_rate!r}"
            )
        learning_rate = float(np.asarray(learning_rate))
        optimizer.learning_rate = learning_rate
        return learning_rate

    def on_epoch_begin(self, epoch, logs=None):
        multi = hasattr(self.model.optimizer, "optimizers")
        for opt in self._optimizers():
            learning_rate = self._update_optimizer_lr(opt, epoch)
            if self.verbose > 0:
                who = f"{opt.name} " if multi else ""
                print(
                    f"\nEpoch {epoch + 1}: LearningRateScheduler setting {who}learning rate "
                    f"to {learning_rate}.",
                    flush=True,
                )

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if hasattr(self.model.optimizer, "optimizers"):
            for opt in self.model.optimizer.optimizers:
                logs[f"learning_rate_{opt.name}"] = learning_rate_of(opt)
        else:
            logs["learning_rate"] = learning_rate_of(self.model.optimizer)
