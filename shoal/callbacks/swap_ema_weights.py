"""`SwapEMAWeights`: evaluate (and optionally checkpoint) with the optimizer's EMA weights."""

from __future__ import annotations

import jax.numpy as jnp

from shoal.callbacks.callback import Callback


def _ema_optimizers(model) -> list:
    """The optimizers whose moving averages are swapped: the model's optimizer, seen through
    a `LossScaleOptimizer`, or the inner optimizers of a `MultiOptimizer` that use EMA."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    if optimizer is None:
        raise ValueError(
            "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer; the "
            "model has no optimizer (call compile() with one)"
        )
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:
        found = [opt for opt in inner if getattr(opt, "use_ema", False)]
        if not found:
            raise ValueError(
                "SwapEMAWeights must be used when at least one inner optimizer has "
                "`use_ema=True` set. Received a MultiOptimizer with all inner optimizers "
                "having `use_ema=False`."
            )
        return found
    if not getattr(optimizer, "use_ema", False):
        raise ValueError(
            "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
            f"Received: use_ema={getattr(optimizer, 'use_ema', None)} on "
            f"{type(optimizer).__name__} '{getattr(optimizer, 'name', '')}'"
        )
    return [optimizer]


class SwapEMAWeights(Callback):
    """Swap the model's weights with the optimizer's moving averages (Polyak averaging)
    while evaluating and predicting, and back afterwards (Keras 3).

    Use with an optimizer built with `use_ema=True` (inside a `LossScaleOptimizer`, or as
    inner optimizers of a `MultiOptimizer`). The swap exchanges array references, so it
    costs no copy and no compilation; the train, test and predict steps read the
    Variables at each execution, so they see the swapped values.

    Args:
        swap_on_epoch: also hold the EMA weights in the model from the end of each epoch to
            the start of the next, so later callbacks (e.g. `ModelCheckpoint`) see them.
            Defaults to False.

    Example:
        >>> from shoal.optimizers import SGD
        >>> callback = SwapEMAWeights(swap_on_epoch=True)
        >>> # model.compile(optimizer=SGD(use_ema=True), loss="mse")
        >>> # model.fit(x, y, validation_data=(xv, yv), callbacks=[callback, checkpoint])
    """

    def __init__(self, swap_on_epoch: bool = False):
        super().__init__()
        if not isinstance(swap_on_epoch, bool):
            raise TypeError(
                "SwapEMAWeights: argument 'swap_on_epoch' must be a bool, got "
                f"{swap_on_epoch!r} of type {type(swap_on_epoch).__name__}"
            )
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _pairs(self):
        for optimizer in _ema_optimizers(self.model):
            if not optimizer.built:  # nothing trained yet: no averages to swap in
                continue
            yield from zip(optimizer._trainable_variables, optimizer._averages, strict=True)

    def _swap_variables(self) -> None:
        for var, average in self._pairs():
            # Reference exchange: afterwards no buffer is held by two Variables (the steps
            # donate their state, so a shared buffer would be deleted under the other one).
            value, average_value = var.value, average.value
            var.assign(average_value)
            average.assign(value)

    def _finalize_ema_values(self) -> None:
        # At the end of fit the optimizer copies its averages into the model: with the EMA
        # weights in the model now, the averages must hold them too.
        for var, average in self._pairs():
            average.assign(jnp.array(var.value, copy=True))

    def on_train_begin(self, logs=None):
        _ema_optimizers(self.model)  # a clear error before the first step is compiled

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params.get("epochs", 0) - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3.15 tests `not self._ema_weights_in_model` here, so it never swaps back
        # after predict; restoring is what its docstring promises.
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
