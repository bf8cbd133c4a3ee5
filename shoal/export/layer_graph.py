"""What the ONNX and TFLite exporters share: a model's layer graph, seen by one format.

Both write a Functional or Sequential model node by node, each layer by the emitter
registered for its exact class, and both refuse what they cannot reproduce exactly: bare
operations on symbolic tensors, layers that compute in another dtype than float32, layers
called with training=True, and masks an emitter does not declare (`mask="ignore"` when
inference outputs do not depend on the mask, `"use"` when the emitter reads it). An
`ExportFormat` holds one format's emitter table and those checks, with messages that name
the format; what an emitter gets and returns stays in `onnx/` and `tflite/`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from shoal.backend.symbolic import KerasTensor
from shoal.layers.base import Layer


class ExportError(ValueError):
    """A model (or a part of it) that cannot be written in the requested format; the
    message names the format and says why."""


def label(layer) -> str:
    return f"{type(layer).__name__} '{layer.name}'"


def weight(variable) -> np.ndarray | None:
    """A variable's (or an array's: a LoRA-merged table) value as a float32 NumPy array
    (None stays None)."""
    if variable is None:
        return None
    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable, np.float32)


def unique_name(name: str, taken: set) -> str:
    """`name`, else `name_1`, `name_2`, ...: the first not in `taken`, which it joins."""
    candidate, k = name, 1
    while candidate in taken:
        candidate = f"{name}_{k}"
        k += 1
    taken.add(candidate)
    return candidate


def first_argument(node):
    """The first argument `node`'s layer was called with (positional or keyword)."""
    if node.call_args:
        return node.call_args[0]
    return next(iter(node.call_kwargs.values()), None)


def tensor_arguments(node) -> int:
    """How many call arguments (other than `mask`) hold graph tensors.

    As in Keras 3, a layer is handed its input's mask only when exactly one argument
    holds tensors (a merge layer's list counts as one).
    """
    args = list(node.call_args) + [v for k, v in node.call_kwargs.items() if k != "mask"]
    count = 0
    for arg in args:
        leaves = arg if isinstance(arg, (list, tuple)) else [arg]
        if isinstance(arg, dict):
            leaves = list(arg.values())
        count += any(isinstance(x, KerasTensor) for x in leaves)
    return count


@dataclasses.dataclass(frozen=True)
class Emitter:
    fn: Callable
    mask: str | None  # None: must not receive a mask; "ignore": outputs do not use it; "use"


class ExportFormat:
    """One exporter's emitter table and the checks its walk makes before each layer.

    Args:
        name: the format as `export_model(format=...)` spells it ("onnx").
        title: the format in prose ("ONNX").
        alternatives: what to export with instead, for layers it cannot write.
        float32_advice: what to do about a layer that does not compute in float32.
    """

    def __init__(self, name: str, title: str, alternatives: str, float32_advice: str):
        self.name = name
        self.title = title
        self.alternatives = alternatives
        self.float32_advice = float32_advice
        self._emitters: dict[type, Emitter] = {}

    # -- emitters -----------------------------------------------------------------------
    def register(self, *classes, mask: str | None = None):
        """Decorator: the emitter for layers of exactly `classes`."""

        def decorate(fn):
            for cls in classes:
                self._emitters[cls] = Emitter(fn, mask)
            return fn

        return decorate

    def supported_layers(self) -> list[str]:
        """Names of the layer classes this exporter can write."""
        return sorted({cls.__name__ for cls in self._emitters})

    def emitter_for(self, layer) -> Emitter:
        # Exact classes only: a subclass may override call() and compute something else.
        emitter = self._emitters.get(type(layer))
        if emitter is not None:
            return emitter
        cls = type(layer).__name__
        if cls == "Lambda":
            why = "A Lambda layer runs arbitrary Python code."
        elif any(isinstance(layer, known) for known in self._emitters):
            why = "It subclasses a supported layer, and its call() may compute something else."
        elif not type(layer).__module__.startswith("shoal."):
            why = f"Custom layers are not supported by the {self.title} exporter."
        else:
            why = f"The {self.title} exporter has no emitter for it."
        raise self.error(
            f"layer '{layer.name}' of class {cls} cannot be written as {self.title}. {why} "
            f"Export with {self.alternatives} instead. Supported layers: "
            f"{', '.join(self.supported_layers())}"
        )

    # -- messages -----------------------------------------------------------------------
    def error(self, message: str) -> ExportError:
        return ExportError(f"export ({self.name}): {message}")

    def fail(self, layer, why: str) -> ExportError:
        """An error about `layer`: "export (fmt): Class 'name': why"."""
        return self.error(f"{label(layer)}: {why}")

    def masked(self, layer, where: str) -> ExportError:
        """`layer` receives a mask (from `where`) that its emitter does not declare."""
        return self.error(
            f"{label(layer)} receives a mask (from {where}) and its output depends on it; "
            f"the {self.title} exporter does not support this layer masked. Remove the mask "
            "(e.g. Embedding(mask_zero=False)) or export with format='stablehlo'."
        )

    def unsupported_mask(self, op) -> ExportError:
        """A mask made by `op` that is none of the ones the exporters can write."""
        return self.error(
            f"the mask produced by {label(op)} cannot be exported (only masks from "
            "Embedding(mask_zero=True) and Masking, passed on unchanged by later layers, are "
            "supported)"
        )

    # -- the walk -----------------------------------------------------------------------
    def model_nodes(self, model) -> list:
        """The nodes (execution order) of a Functional or built Sequential model."""
        functional = getattr(model, "_functional", None)
        if hasattr(model, "_functional") and functional is None:
            raise self.error(
                f"model '{model.name}' is not built; give the Sequential an Input (or call "
                "it on data) before exporting."
            )
        nodes = getattr(model if functional is None else functional, "_nodes", None)
        if nodes is None:
            raise self.error(
                f"model '{model.name}' ({type(model).__name__}) has no layer graph: only "
                f"Functional and built Sequential models can be written as {self.title}. "
                "Build a Sequential with an Input, or export with format='stablehlo'."
            )
        return nodes

    def check_dtype(self, layer) -> None:
        policy = getattr(layer, "dtype_policy", None)
        compute = getattr(policy, "compute_dtype", None) or getattr(layer, "compute_dtype", None)
        if compute is not None and str(compute) != "float32":
            raise self.error(
                f"{label(layer)} computes in {compute}; the {self.title} exporter writes "
                f"float32 graphs only ({self.float32_advice})."
            )

    def layers(self, nodes):
        """(node, layer, emitter) for each layer node of `nodes`, checked as exportable."""
        for node in nodes:
            if node.is_input:
                continue
            layer = node.operation
            if not isinstance(layer, Layer):
                raise self.error(
                    f"the graph applies the operation '{getattr(layer, 'name', layer)}' "
                    f"({type(layer).__name__}) directly to symbolic tensors; only layers can "
                    "be exported. Wrap it in a layer, or export with format='stablehlo'."
                )
            emitter = self.emitter_for(layer)
            self.check_dtype(layer)
            if node.call_kwargs.get("training") is True:
                raise self.error(
                    f"{label(layer)} is called with training=True in the graph, so its "
                    "inference output is random or batch-dependent; it cannot be exported."
                )
            yield node, layer, emitter

    @staticmethod
    def refuses_mask(layer, emitter: Emitter) -> bool:
        """Whether a mask reaching `layer` must be refused: its call takes one, and its
        emitter does not say what it does with it."""
        return emitter.mask is None and getattr(layer, "_call_has_mask", False)
