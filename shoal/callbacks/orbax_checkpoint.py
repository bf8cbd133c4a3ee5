"""`OrbaxCheckpoint`: save the model's whole state with Orbax during training, as Keras
3's callback writes it (so each library reads the other's checkpoints).

Each save is one numbered step under `directory` (the epoch, or the number of training
steps the state holds when saving every N batches: with steps fused into one execution,
batch hooks run after the execution, so a save lands on its last step) holding the state tree (`Model.get_state_tree()`:
weights, optimizer state, metric accumulators) and, unless `save_weights_only`, the model's
config and assets. In a multi-process job every process takes part and each writes its own
shards. `load_model(directory)` rebuilds the model from the latest step;
`model.load_weights(directory)` restores the state into a model, onto its own shardings.
"""

from __future__ import annotations

import os
import warnings

from shoal.callbacks.monitor_callback import MonitorCallback
from shoal.callbacks.save_frequency import BatchCounter, check_save_freq
from shoal.saving import orbax_checkpoints


class OrbaxCheckpoint(MonitorCallback):
    """Save the model's state with Orbax every epoch or every `save_freq` batches.

    Args:
        directory: the checkpoint root; steps go in numbered subdirectories.
        monitor: the quantity compared when `save_best_only=True`.
        verbose: 0 silent, 1 prints a message on each save.
        save_best_only: save only when `monitor` improves on the best value seen.
        mode: `"auto"`, `"min"` or `"max"`, the direction in which `monitor` improves.
        save_freq: `"epoch"` or an integer N (save every N training batches).
        initial_value_threshold: the best value to beat before the first save.
        max_to_keep: how many of the latest steps to keep (None: all).
        save_on_background: write asynchronously while training goes on (the callback
            waits for the writes when training ends).
        save_weights_only: save the trainable and non-trainable variables only (no
            optimizer state, metrics, config or assets).

    Example:
        >>> checkpoint = OrbaxCheckpoint("/tmp/ckpt", save_freq=100, max_to_keep=3)
        >>> # model.fit(x, y, epochs=5, callbacks=[checkpoint])
        >>> # restored = shoal.saving.load_model("/tmp/ckpt")
    """

    def __init__(
        self,
        directory,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
        max_to_keep=1,
        save_on_background=True,
        save_weights_only=False,
    ):
        check_save_freq("OrbaxCheckpoint", save_freq)
        if max_to_keep is not None and (
            isinstance(max_to_keep, bool) or not isinstance(max_to_keep, int) or max_to_keep < 1
        ):
            raise ValueError(
                "OrbaxCheckpoint: argument `max_to_keep` must be a positive integer or None; "
                f"got {max_to_keep!r}"
            )
        ocp = orbax_checkpoints.orbax_v1()  # a clear ImportError now, not at the first save
        super().__init__(monitor, mode, initial_value_threshold)
        self.directory = os.path.abspath(os.fspath(directory))
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_freq = save_freq
        self.max_to_keep = max_to_keep
        self.save_on_background = save_on_background
        self.save_weights_only = save_weights_only
        self._batches = BatchCounter(save_freq)
        self._futures = []
        self._last_step = None
        policies = ocp.training.preservation_policies
        self.checkpointer = ocp.training.Checkpointer(
            directory=self.directory,
            preservation_policy=None if max_to_keep is None else policies.LatestN(max_to_keep),
            save_decision_policy=ocp.training.save_decision_policies.FixedIntervalPolicy(1),
        )

    def set_model(self, model):
        super().set_model(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:  # a reloaded model goes on numbering from its step
            self._batches.total = int(optimizer.iterations)

    def is_multihost_enabled(self) -> bool:
        """Whether JAX's distributed runtime is up (a multi-process job)."""
        return orbax_checkpoints.orbax_multihost().is_jax_distributed_client_initialized()

    def is_primary_host(self) -> bool:
        if not self.is_multihost_enabled():
            return True
        return orbax_checkpoints.orbax_multihost().is_primary_host(primary_host=0)

    def _sync(self, key) -> None:
        if self.is_multihost_enabled():
            orbax_checkpoints.orbax_multihost().sync_global_processes(key)

    def _improved(self, logs, where) -> bool:
        """Whether to save: always, unless `save_best_only` and `monitor` did not improve."""
        if not self.save_best_only:
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(
                f"Can save best model only with {self.monitor} available, skipping save at "
                f"{where}.",
                stacklevel=3,
            )
            return False
        if not self._is_improvement(current, self.best):
            return False
        self.best = current
        return True

    def _save(self, step) -> None:
        self._last_step = step
        payload = orbax_checkpoints.checkpoint_payload(self.model, self.save_weights_only)
        ocp = orbax_checkpoints.orbax_v1()
        with ocp.Context():
            if self.save_on_background:
                self._futures.append(self.checkpointer.save_checkpointables_async(step, payload))
            else:
                self.checkpointer.save_checkpointables(step, payload)
        if self.verbose > 0 and self.is_primary_host():
            print(f"\nOrbaxCheckpoint: saving step {step} to {self.directory}", flush=True)

    def on_train_batch_end(self, batch, logs=None):
        if self._batches.due(batch) and self._improved(logs, f"batch {batch}"):
            # With steps fused into one execution, the batch hooks run after all of them:
            # the step is numbered by the optimizer's count of the steps the state holds.
            optimizer = getattr(self.model, "optimizer", None)
            step = int(optimizer.iterations) if optimizer is not None else self._batches.total
            if step != self._last_step:
                self._save(step)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch" and self._improved(logs, f"epoch {epoch}"):
            self._save(epoch)

    def on_train_end(self, logs=None):
        self.wait_until_finished()
        self._sync("checkpoint_cleanup")

    def wait_until_finished(self) -> None:
        """Block until every save started so far is on disk (on every process)."""
        for future in self._futures:
            future.result()
        self._futures.clear()
        self.checkpointer.wait()
        self._sync("checkpoint_wait_complete")
