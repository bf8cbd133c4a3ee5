"""`TerminateOnNaN`: stop training when the loss becomes NaN or infinite (Keras 3)."""

from __future__ import annotations

import numpy as np

from shoal.callbacks.callback import Callback


class TerminateOnNaN(Callback):
    """Terminate training when a NaN or Inf loss is encountered.

    The loss is checked after every training batch (each check reads the value back from the
    device). By default training stops gracefully (`model.stop_training = True`, so
    `on_train_end` still runs everywhere); with `raise_error=True` a `RuntimeError` is raised
    at once, skipping the other callbacks' cleanup (e.g. to keep a `BackupAndRestore` backup).

    Args:
        raise_error: raise `RuntimeError` instead of stopping gracefully.

    Example:
        >>> callback = TerminateOnNaN()
        >>> # model.fit(x, y, callbacks=[callback])
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        loss = float(np.asarray(loss))
        if np.isnan(loss) or np.isinf(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately."
                )
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True
