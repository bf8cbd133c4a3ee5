"""`LambdaCallback`: a callback built from plain functions (Keras 3)."""

from __future__ import annotations

from shoal.callbacks.callback import Callback


class LambdaCallback(Callback):
    """Callback for creating simple, custom callbacks on the fly.

    Each argument is a function called at that hook with the hook's positional arguments:
    `on_epoch_begin(epoch, logs)`, `on_epoch_end(epoch, logs)`, `on_train_begin(logs)`,
    `on_train_end(logs)`, `on_train_batch_begin(batch, logs)`, `on_train_batch_end(batch,
    logs)`. Any other hook may be given by keyword (e.g. `on_test_end=...`).

    Example:
        >>> batch_print = LambdaCallback(
        ...     on_train_batch_begin=lambda batch, logs: print(batch))
        >>> # model.fit(x, y, callbacks=[batch_print])
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)
