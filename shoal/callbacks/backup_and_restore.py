"""`BackupAndRestore`: resume an interrupted `fit` from its last backup (Keras 3 semantics).

The backup is one HDF5 file holding the model's variables, the optimizer's variables (step
counter, learning rate, slots) and the epoch to resume from. It is written to a temporary
file and renamed into place, so an interruption during a save leaves the previous backup
whole.
"""

from __future__ import annotations

import os
import shutil

import h5py
import numpy as np

from shoal.callbacks.callback import Callback
from shoal.callbacks.save_frequency import BatchCounter, check_save_freq

_FORMAT = "shoal.BackupAndRestore/1"


class BackupAndRestore(Callback):
    """Back up the training state regularly; on the next `fit`, restore it and resume.

    When `fit` is interrupted (an exception, a killed job), running the same `fit` again with
    a `BackupAndRestore` on the same `backup_dir` restores the weights and optimizer state of
    the last backup and continues from the epoch after it. When training ends normally the
    backup is deleted (unless `delete_checkpoint=False`).

    Args:
        backup_dir: directory for the backup files. Use one directory per training job.
        save_freq: `"epoch"` to back up after every epoch, or an integer N to back up every
            N training batches (a resumed run then restarts the interrupted epoch from the
            weights of its last backup).
        double_checkpoint: keep the previous backup too (`*.bkp`), and fall back to it if
            the latest one cannot be read.
        delete_checkpoint: delete `backup_dir` when training ends normally.

    Example:
        >>> callback = BackupAndRestore(backup_dir="/tmp/backup")
        >>> # model.fit(x, y, epochs=10, callbacks=[callback])   # interrupted at epoch 4
        >>> # model.fit(x, y, epochs=10, callbacks=[callback])   # resumes at epoch 5
    """

    def __init__(
        self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True
    ):
        super().__init__()
        if not backup_dir:
            raise ValueError(
                f"BackupAndRestore: argument `backup_dir` must be a directory path; got "
                f"{backup_dir!r}"
            )
        check_save_freq("BackupAndRestore", save_freq)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches = BatchCounter(save_freq)
        self._current_epoch = 0
        self._weights_path = os.path.join(self.backup_dir, "latest.backup.h5")
        self._prev_weights_path = f"{self._weights_path}.bkp"

    # -- restoring -----------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._batches = BatchCounter(self.save_freq)
        self._current_epoch = 0
        try:
            self._load_model()
        except OSError:
            # The latest backup may be corrupt: fall back to the previous one if kept.
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copyfile(self._prev_weights_path, self._weights_path)
            self._load_model()

    def _state_variables(self):
        model = self.model
        optimizer = getattr(model, "optimizer", None)
        groups = {"model": list(model.weights)}
        if optimizer is not None:
            if not optimizer.built:
                # Slot variables must exist before their values can be loaded.
                optimizer.build(model.trainable_variables)
            groups["optimizer"] = list(optimizer.variables)
        return groups

    def _load_model(self):
        if not getattr(self.model, "built", True):
            raise ValueError(
                "To use the BackupAndRestore callback, your model must be built before you call "
                f"fit(). Model '{self.model.name}' is unbuilt: build it by calling it on a "
                "batch of data."
            )
        if not os.path.exists(self._weights_path):
            return
        pairs = []
        with h5py.File(self._weights_path, "r") as f:
            for group, variables in self._state_variables().items():
                stored = f[group] if group in f else {}
                if len(stored) != len(variables):
                    raise ValueError(
                        f"BackupAndRestore: the backup in {self.backup_dir!r} holds "
                        f"{len(stored)} {group} variables, but model '{self.model.name}' has "
                        f"{len(variables)}; use a fresh `backup_dir` for a different model."
                    )
                for i, variable in enumerate(variables):
                    value = np.asarray(stored[str(i)])
                    if tuple(value.shape) != tuple(variable.shape):
                        raise ValueError(
                            f"BackupAndRestore: the backup in {self.backup_dir!r} holds shape "
                            f"{value.shape} for variable {variable.path!r} of shape "
                            f"{variable.shape}; use a fresh `backup_dir` for a different model."
                        )
                    pairs.append((variable, value))
            epoch = int(f.attrs["epoch"])
        # Assign only once everything has been read and checked.
        for variable, value in pairs:
            variable.assign(value)
        self._current_epoch = epoch
        # Read by the fit loop right after on_train_begin.
        self.model._initial_epoch = epoch

    # -- saving --------------------------------------------------------------
    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._batches.last_batch = None  # the epoch is whole: no batch to resume within
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._batches.due(batch):
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            shutil.copyfile(self._weights_path, self._prev_weights_path)
        tmp = f"{self._weights_path}.tmp"
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = _FORMAT
            f.attrs["epoch"] = self._current_epoch
            f.attrs["batch"] = self._batches.last_batch or 0
            for group, variables in self._state_variables().items():
                g = f.create_group(group)
                for i, variable in enumerate(variables):
                    g.create_dataset(str(i), data=np.asarray(variable.numpy()))
        os.replace(tmp, self._weights_path)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)
