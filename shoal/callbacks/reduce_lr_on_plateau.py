"""`ReduceLROnPlateau`: divide the learning rate when a monitored quantity plateaus (Keras 3)."""

from __future__ import annotations

import warnings

import numpy as np

from shoal.callbacks.monitor_callback import MonitorCallback, learning_rate_of, to_float


class ReduceLROnPlateau(MonitorCallback):
    """Reduce the learning rate when a metric has stopped improving.

    After `patience` epochs without improvement, `new_lr = max(lr * factor, min_lr)`; then
    `cooldown` epochs pass before counting resumes. The current learning rate is added to the
    epoch logs as `learning_rate`.

    Args:
        monitor: quantity to watch.
        factor: multiplier applied to the learning rate, < 1.
        patience: epochs without improvement before a reduction.
        verbose: 0 silent, 1 prints a message on each reduction.
        mode: `"auto"`, `"min"` or `"max"`.
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: lower bound on the learning rate.

    Example:
        >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5,
        ...                               min_lr=0.001)
        >>> # model.fit(x, y, callbacks=[reduce_lr])
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                "ReduceLROnPlateau does not support a factor >= 1.0; argument `factor` must "
                f"be < 1.0, got factor={factor}"
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _reduce_optimizer_lr(self, optimizer, epoch, name=""):
        old_lr = learning_rate_of(optimizer)
        if old_lr > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            optimizer.learning_rate = new_lr
            if self.verbose > 0:
                name_str = f" {name}" if name else ""
                print(
                    f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing{name_str} learning rate "
                    f"to {new_lr}.",
                    flush=True,
                )
            return True
        return False

    def _optimizers(self):
        optimizer = self.model.optimizer
        return list(getattr(optimizer, "optimizers", None) or [optimizer])

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        if hasattr(self.model.optimizer, "optimizers"):
            for opt in self.model.optimizer.optimizers:
                logs[f"learning_rate_{opt.name}"] = learning_rate_of(opt)
        else:
            logs["learning_rate"] = learning_rate_of(self.model.optimizer)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(list(logs.keys()))}.",
                stacklevel=2,
            )
            return
        current = to_float(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                multi = hasattr(self.model.optimizer, "optimizers")
                reduced = False
                for opt in self._optimizers():
                    reduced |= self._reduce_optimizer_lr(opt, epoch, opt.name if multi else "")
                if reduced:
                    self.cooldown_counter = self.cooldown
                    self.wait = 0

    def in_cooldown(self):
        return self.cooldown_counter > 0
