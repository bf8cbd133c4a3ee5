"""Checks of user data against the model, run before anything is traced or compiled."""

from __future__ import annotations

import numpy as np

from shoal.layers.input_spec import format_shape


def check(model, x, y) -> None:
    _check_inputs(model, x)
    if y is not None:
        _check_sparse_labels(model, y)


def _check_inputs(model, x) -> None:
    inputs = getattr(model, "inputs", None)
    if not inputs or isinstance(x, dict):
        return
    flat = x if isinstance(x, (list, tuple)) else [x]
    if len(flat) != len(inputs):
        raise ValueError(
            f"Model '{model.name}' expects {len(inputs)} input(s) "
            f"{[t.name for t in inputs]}, but `x` holds {len(flat)} array(s)."
        )
    shapes = []
    for value, ref in zip(flat, inputs, strict=True):
        shape = tuple(np.shape(value))
        want = ref.shape
        rank_ok = len(shape) == len(want) or (
            abs(len(shape) - len(want)) == 1 and (shape[-1:] == (1,) or want[-1:] == (1,))
        )
        if not rank_ok:
            raise ValueError(_mismatch(model, ref, shape))
        shapes.append(shape if len(shape) == len(want) else None)
    # Other sizes than declared are fine where the model runs on them (Keras' rule).
    if hasattr(model, "check_input_shapes"):
        model.check_input_shapes(shapes, _mismatch)


def _mismatch(model, ref, shape) -> str:
    return (
        f"Argument `x` does not match input '{ref.name}' of model '{model.name}': "
        f"expected shape {format_shape(ref.shape)}, got data of shape {format_shape(shape)}."
    )


def _check_sparse_labels(model, y) -> None:
    compile_loss = getattr(model, "_compile_loss", None)
    if compile_loss is None:
        return
    outputs = getattr(model, "outputs", None)
    if not outputs:
        return
    ys = (
        y
        if isinstance(y, (list, tuple))
        else [y[n] for n in compile_loss.output_names]
        if (isinstance(y, dict))
        else [y]
    )
    for loss, target, out in zip(compile_loss.losses, ys, outputs, strict=False):
        if loss is None or "sparsecategorical" not in _loss_name(loss):
            continue
        classes = out.shape[-1]
        labels = np.asarray(target)
        if labels.dtype.kind not in "iuf" or labels.size == 0 or classes is None:
            continue
        ignore = getattr(loss, "ignore_class", None)
        valid = labels if ignore is None else labels[labels != ignore]
        if valid.size and (valid.min() < 0 or valid.max() >= classes):
            raise ValueError(
                f"Argument `y` has labels outside [0, {classes - 1}] for the sparse categorical "
                f"loss on output '{out._keras_history[0].name}' with {classes} classes: got "
                f"labels from {valid.min()} to {valid.max()}."
            )


def _loss_name(loss) -> str:
    name = getattr(loss, "name", None) or getattr(loss, "__name__", "") or type(loss).__name__
    return (str(name) + type(loss).__name__).lower().replace("_", "")
