"""Checks of user data against the model, run before anything is traced or compiled."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from shoal.layers.input_spec import format_shape
from shoal.trainers import compile_utils, nested_outputs


def check(model, x, y, kind=None, argument=None) -> None:
    """`kind` ("train", "test", "predict") says what the data is for; `argument` names it
    in errors when it is not `x` / `y` (e.g. "validation_data")."""
    _check_inputs(model, x, lenient=kind == "predict", argument=argument)
    if nested_outputs.is_nested(y):  # targets in the structure of nested outputs
        y = nested_outputs.leaves(y)
    if kind in ("train", "test"):
        _check_targets(model, y, kind, argument)
    if y is not None:
        _check_target_values(model, y, argument)


def _check_inputs(model, x, lenient=False, argument=None) -> None:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return
    if isinstance(x, dict):
        names = [t.name for t in inputs]
        if not all(n in x for n in names):
            return  # the model maps its dict inputs itself, and says what is missing
        x = [x[n] for n in names]
    flat = x if isinstance(x, (list, tuple)) else [x]
    if nested_outputs.is_nested(getattr(model, "_inputs_struct", None)):
        flat = nested_outputs.leaves(x)  # inputs given in the model's nested structure
    if len(flat) != len(inputs):
        raise ValueError(
            f"Model '{model.name}' expects {len(inputs)} input(s) "
            f"{[t.name for t in inputs]}, but {_subject(argument, 'x').lower} holds "
            f"{len(flat)} array(s)."
        )
    shapes = []
    for value, ref in zip(flat, inputs, strict=True):
        shape = tuple(np.shape(value))
        want = ref.shape
        rank_ok = len(shape) == len(want) or (
            abs(len(shape) - len(want)) == 1 and (shape[-1:] == (1,) or want[-1:] == (1,))
        )
        if not rank_ok:
            raise ValueError(_mismatch(model, ref, shape, argument))
        shapes.append(shape if len(shape) == len(want) else None)
    if hasattr(model, "check_input_shapes"):
        model.check_input_shapes(
            shapes,
            lambda m, r, s: _mismatch(m, r, s, argument),
            lenient=True if lenient else None,
        )


class _Subject(NamedTuple):
    """How an error names the data: "Argument `y`" (singular), or "The targets of
    `validation_data`" (plural), with the verb forms that go with it."""

    text: str
    singular: bool

    def verb(self, one: str, many: str) -> str:
        return one if self.singular else many

    @property
    def lower(self) -> str:
        return self.text[0].lower() + self.text[1:]


def _subject(argument, part) -> _Subject:
    if argument is None:
        return _Subject(f"Argument `{part}`", True)
    noun = {"x": "inputs", "y": "targets"}[part]
    return _Subject(f"The {noun} of `{argument}`", False)


def _mismatch(model, ref, shape, argument=None) -> str:
    what = _subject(argument, "x")
    return (
        f"{what.text} {what.verb('does', 'do')} not match input '{ref.name}' of model "
        f"'{model.name}': expected shape {format_shape(ref.shape)}, got data of shape "
        f"{format_shape(shape)}."
    )


def _default_step(model, kind) -> bool:
    """Whether `kind`'s step is shoal's own, which compares predictions with targets."""
    step = {"train": "train_step", "test": "test_step"}[kind]
    return all(
        getattr(type(model), name, None) is not None
        and getattr(type(model), name).__module__ == "shoal.trainers.trainer"
        for name in (step, "compute_loss")
    )


def _check_targets(model, y, kind, argument) -> None:
    compile_loss = getattr(model, "_compile_loss", None)
    if compile_loss is None or not _default_step(model, kind):
        return
    names = compile_loss.output_names
    if names is None:
        return  # a model without a graph: its outputs are known from its first call
    active = [n for n, fn in zip(names, compile_loss.losses, strict=True) if fn is not None]
    where = _subject(argument, "y")
    if y is None:
        losses = {
            n: getattr(fn, "name", None) for n, fn in zip(names, compile_loss.losses, strict=True)
        }
        raise ValueError(
            f"Targets are required: the model was compiled with a loss "
            f"({ {n: v for n, v in losses.items() if n in active} }), which compares predictions "
            f"with targets, but {where.lower} {where.verb('is', 'are')} None. Pass targets, or "
            "compile without `loss` for a model trained by `add_loss` alone."
        )
    if len(names) < 2:
        return
    if isinstance(y, dict):
        missing = [n for n in active if n not in y]
        if missing:
            raise ValueError(
                f"{where.text} must hold targets for every output with a loss {active}; "
                f"got keys {sorted(y)} (missing {missing})."
            )
    elif isinstance(y, (list, tuple)):
        if len(y) not in (len(names), len(active)):
            raise ValueError(
                f"{where.text} {where.verb('is', 'are')} a list of {len(y)} target arrays, but "
                f"the model has {len(names)} outputs {names}"
                + (f" ({len(active)} with a loss)." if len(active) != len(names) else ".")
            )
    elif len(active) != 1:
        raise ValueError(
            f"{where.text} {where.verb('is', 'are')} one array, but the model has {len(names)} "
            f"outputs with a loss {active}: give a list or a dict with one target array per output."
        )


def _check_target_values(model, y, argument=None) -> None:
    """Sparse labels within the classes; element-wise losses' targets as wide as outputs."""
    compile_loss = getattr(model, "_compile_loss", None)
    if compile_loss is None:
        return
    outputs = getattr(model, "outputs", None)
    if not outputs:
        return
    if isinstance(y, dict):
        ys = [y.get(n) for n in compile_loss.output_names]
    else:
        ys = list(y) if isinstance(y, (list, tuple)) else [y]
        has_loss = [fn is not None for fn in compile_loss.losses]
        ys = compile_utils.align_targets(ys, len(outputs), has_loss)
    subject = _subject(argument, "y")
    for loss, target, out in zip(compile_loss.losses, ys, outputs, strict=False):
        if loss is None or target is None or not hasattr(target, "shape"):
            continue
        name = _loss_name(loss)
        if "sparsecategorical" in name:
            _check_labels(loss, np.asarray(target), out, subject)
        elif any(k in name for k in _ELEMENTWISE):
            _check_target_shape(loss, tuple(np.shape(target)), out, subject)


# Built-in losses that compare targets with predictions entry by entry (after Keras'
# squeeze-or-expand of one trailing axis of size 1).
_ELEMENTWISE = (
    "meansquared",
    "meanabsolute",
    "huber",
    "logcosh",
    "binarycrossentropy",
    "binaryfocal",
    "categoricalcrossentropy",
    "categoricalfocal",
    "hinge",
    "kldivergence",
    "poisson",
)


def _check_target_shape(loss, shape, out, subject) -> None:
    want = tuple(out.shape)
    if len(shape) == len(want) + 1 and shape[-1] == 1:
        shape = shape[:-1]
    elif len(shape) + 1 == len(want) and want[-1] == 1:
        shape = (*shape, 1)
    # The batch axis is the data's (a model built for batches of 2 trains on 4 rows), and so
    # is any axis the model leaves unknown (a sequence's length): each is taken from the
    # target's axis it lines up with when broadcast (from the right).
    offset = len(shape) - len(want)

    def known(i, d):
        if d is not None and i != 0:
            return d
        return shape[i + offset] if 0 <= i + offset < len(shape) else 1

    concrete = tuple(known(i, d) for i, d in enumerate(want))
    try:
        np.broadcast_shapes(shape, concrete)
    except ValueError:
        raise ValueError(
            f"{subject.text} {subject.verb('has', 'have')} shape {format_shape(shape)}, but output "
            f"'{out._keras_history[0].name}' has shape {format_shape(want)}: the loss "
            f"{getattr(loss, 'name', type(loss).__name__)!r} compares them entry by entry."
        ) from None


def _check_labels(loss, labels, out, subject) -> None:
    want = tuple(out.shape)
    if labels.ndim != len(want) - 1 and (labels.ndim != len(want) or labels.shape[-1] != 1):
        raise ValueError(
            f"{subject.text} {subject.verb('has', 'have')} shape {format_shape(labels.shape)}, "
            f"but the sparse categorical loss on output '{out._keras_history[0].name}' (shape "
            f"{format_shape(want)}) takes one integer class label per prediction, of shape "
            f"{format_shape(want[:-1])}: for one-hot targets, use a categorical "
            "(not sparse) loss, or pass np.argmax(y, axis=-1)."
        )
    classes = out.shape[-1]
    if labels.dtype.kind not in "iuf" or labels.size == 0 or classes is None:
        return
    ignore = getattr(loss, "ignore_class", None)
    valid = labels if ignore is None else labels[labels != ignore]
    if valid.size and (valid.min() < 0 or valid.max() >= classes):
        raise ValueError(
            f"{subject.text} {subject.verb('has', 'have')} labels outside "
            f"[0, {classes - 1}] for the sparse categorical loss on output "
            f"'{out._keras_history[0].name}' with {classes} classes: got labels from "
            f"{valid.min()} to {valid.max()}."
        )


def _loss_name(loss) -> str:
    name = getattr(loss, "name", None) or getattr(loss, "__name__", "") or type(loss).__name__
    return (str(name) + type(loss).__name__).lower().replace("_", "")
