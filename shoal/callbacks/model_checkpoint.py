"""`ModelCheckpoint`: save the model or its weights during training (Keras 3)."""

from __future__ import annotations

import os
import re
import string
import warnings

import numpy as np

from shoal.callbacks.monitor_callback import MonitorCallback, to_float
from shoal.callbacks.save_frequency import BatchCounter, check_save_freq


class ModelCheckpoint(MonitorCallback):
    """Save the model (`.keras`, or legacy `.h5`) or its weights (`.weights.h5`) at some
    frequency.

    `filepath` may hold `str.format` placeholders filled from `epoch` (1-based), `batch`
    (1-based, when saving every N batches) and the logs, e.g.
    `"ckpt/{epoch:02d}-{val_loss:.2f}.keras"`.

    Args:
        filepath: where to save; must end in `.keras` (or `.h5`, Keras' legacy HDF5 model
            format, with a warning), or in `.weights.h5` when `save_weights_only=True`.
        monitor: the quantity compared when `save_best_only=True`.
        verbose: 0 silent, 1 prints a message on each save.
        save_best_only: save only when `monitor` improves on the best value seen (with a
            fixed `filepath`, the file then always holds the best model).
        save_weights_only: `model.save_weights(filepath)` instead of `model.save(filepath)`.
        mode: `"auto"`, `"min"` or `"max"`, the direction in which `monitor` improves.
        save_freq: `"epoch"` to save after every epoch, or an integer N to save every N
            training batches.
        initial_value_threshold: the best value to beat before the first save
            (`save_best_only=True` only).

    Example:
        >>> checkpoint = ModelCheckpoint("best.keras", monitor="val_loss",
        ...                              save_best_only=True)
        >>> # model.fit(x, y, validation_data=(xv, yv), callbacks=[checkpoint])
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
    ):
        super().__init__(monitor, mode, initial_value_threshold)
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._current_epoch = 0
        check_save_freq("ModelCheckpoint", save_freq)
        self._batches = BatchCounter(save_freq)
        if save_weights_only:
            if not self.filepath.endswith(".weights.h5"):
                raise ValueError(
                    "ModelCheckpoint: when `save_weights_only=True`, argument `filepath` must "
                    f"end in `.weights.h5` (Keras weights format); got filepath={self.filepath!r}"
                )
        elif not self.filepath.endswith((".keras", ".h5")):
            raise ValueError(
                "ModelCheckpoint: argument `filepath` must end in `.keras` (Keras model "
                "format) or `.h5` (legacy HDF5), or in `.weights.h5` with "
                f"`save_weights_only=True`; got filepath={self.filepath!r}"
            )
        try:  # a malformed placeholder would only fail after the first epoch has trained
            list(string.Formatter().parse(self.filepath))
        except ValueError as error:
            raise ValueError(
                "ModelCheckpoint: argument `filepath` must be a valid `str.format` pattern "
                f"(placeholders such as {{epoch:02d}}); got filepath={self.filepath!r}, "
                f"where {error}"
            ) from None

    def on_train_batch_end(self, batch, logs=None):
        if self._batches.due(batch):
            self._save_model(epoch=self._current_epoch, batch=batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            # Delayed until the compiled metrics are built.
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save_model(epoch=epoch, batch=None, logs=logs)

    def _should_save_model(self, epoch, batch, logs, filepath):
        logs = logs or {}
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {filepath}", flush=True)
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=2)
            return True
        if np.ndim(current) > 0:
            warnings.warn(
                "Can save best model only when `monitor` is a scalar value. Received: "
                f"{current}. Falling back to `save_best_only=False`.",
                stacklevel=2,
            )
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = to_float(current)
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                    f"{current:.5f}, saving model to {filepath}",
                    flush=True,
                )
            self.best = current
            return True
        if self.verbose > 0:
            print(
                f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}", flush=True
            )
        return False

    def _save_model(self, epoch, batch, logs):
        # Batch logs are device scalars: read them back only when a checkpoint is due.
        logs = {k: _plain(v) for k, v in (logs or {}).items()}
        filepath = self._get_file_path(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise OSError(
                "Please specify a non-directory filepath for ModelCheckpoint. Filepath used "
                f"is an existing directory: {filepath}"
            )
        if not self._should_save_model(epoch, batch, logs, filepath):
            return
        dirname = os.path.dirname(filepath)
        if dirname:
            os.makedirs(dirname, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {filepath}", flush=True)

    def _get_file_path(self, epoch, batch, logs):
        try:
            if batch is None or "batch" in logs:
                return self.filepath.format(epoch=epoch + 1, **logs)
            return self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs)
        except KeyError as e:
            raise KeyError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}'
            ) from e

    def _checkpoint_exists(self, filepath):
        return os.path.exists(filepath)

    def _get_most_recently_modified_file_matching_pattern(self, pattern):
        """The most recently modified file matching `pattern` (placeholders match anything);
        ties go to the lexicographically largest path. None when nothing matches."""
        dir_name = os.path.dirname(pattern)
        base_name_regex = f"^{re.sub(r'{.*}', r'.*', os.path.basename(pattern))}$"
        latest_mod_time, latest_path, n_latest, largest_name = 0, None, 0, None
        if os.path.exists(dir_name):
            for file_name in os.listdir(dir_name):
                if not re.match(base_name_regex, file_name):
                    continue
                file_path = os.path.join(dir_name, file_name)
                mod_time = os.path.getmtime(file_path)
                if largest_name is None or file_path > largest_name:
                    largest_name = file_path
                if mod_time > latest_mod_time:
                    latest_mod_time, latest_path, n_latest = mod_time, file_path, 1
                elif mod_time == latest_mod_time:
                    n_latest += 1
        return latest_path if n_latest == 1 else largest_name


def _plain(value):
    """A 0-d array or device scalar as a Python float (so `{loss:.2f}` formats); others as is."""
    if hasattr(value, "shape") and np.ndim(value) == 0:
        return to_float(value)
    return value
