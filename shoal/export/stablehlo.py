"""StableHLO export through `jax.export`: the inference function with the weights baked in.

`export_stablehlo(model, path)` traces `model.stateless_call(..., training=False)` (the
function `predict` runs) with the current weights captured as constants and a symbolic
batch dimension, then writes `Exported.serialize()` bytes to `path` and the StableHLO
MLIR text to `path + ".mlir"`. `load_stablehlo(path)` gives back a callable: any JAX
program (no shoal, no model code) can run the artifact at any batch size.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax import export as jax_export

from shoal.backend import random as shoal_random
from shoal.backend.symbolic import KerasTensor
from shoal.ops import cpu_lowering

MLIR_SUFFIX = ".mlir"


def _model_inputs(model) -> list:
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"export (stablehlo): model '{model.name}' has no symbolic inputs (a subclassed "
            "model, or a Sequential without an Input). Pass `input_signature=[(None, ...), "
            "...]` (one shape per input, None for symbolic dimensions) or build the model "
            "with an Input."
        )
    return list(inputs)


def _input_specs(model, input_signature) -> list:
    """One jax.ShapeDtypeStruct per model input; None dimensions become symbolic."""
    if input_signature is None:
        refs = _model_inputs(model)
        signature = [(t.shape, t.dtype) for t in refs]
    else:
        if isinstance(input_signature, (jax.ShapeDtypeStruct, KerasTensor)) or (
            isinstance(input_signature, tuple)
            and all(d is None or isinstance(d, int) for d in input_signature)
        ):
            input_signature = [input_signature]
        # Plain shapes take the dtypes of the model's inputs when it has them.
        refs = list(getattr(model, "inputs", None) or [])
        dtypes = [t.dtype for t in refs] if len(refs) == len(input_signature) else []
        signature = []
        for j, spec in enumerate(input_signature):
            if isinstance(spec, (jax.ShapeDtypeStruct, KerasTensor)):
                signature.append((tuple(spec.shape), str(spec.dtype)))
            elif isinstance(spec, (tuple, list)):
                signature.append((tuple(spec), dtypes[j] if dtypes else "float32"))
            else:
                raise ValueError(
                    "export (stablehlo): argument 'input_signature' must be a list of shapes "
                    f"(tuples, None for symbolic dimensions) or jax.ShapeDtypeStruct; got {spec!r}"
                )
    scope = jax_export.SymbolicScope()
    (batch,) = jax_export.symbolic_shape("batch", scope=scope)
    specs = []
    for j, (shape, dtype) in enumerate(signature):
        dims = []
        for i, d in enumerate(shape):
            if d is not None:
                dims.append(d)
            elif i == 0:
                dims.append(batch)  # one shared batch dimension for every input
            else:
                (sym,) = jax_export.symbolic_shape(f"d{j}_{i}", scope=scope)
                dims.append(sym)
        specs.append(jax.ShapeDtypeStruct(tuple(dims), np.dtype(dtype)))
    return specs


def _inference_function(model, n_inputs: int) -> Callable:
    # Host copies: the exported constants must not carry a device layout (a model trained
    # under a distribution holds sharded arrays; `numpy()` gathers them, across processes
    # too, so every process of a multi-host job must call the export).
    trainable = [v.numpy() for v in model.trainable_variables]
    non_trainable = [v.numpy() for v in model.non_trainable_variables]
    kwargs = {"training": False} if getattr(model, "_call_has_training", False) else {}

    def infer(*inputs):
        x = inputs[0] if n_inputs == 1 else list(inputs)
        # Inference draws no random numbers; a scope keeps any stray draw out of the
        # global stream (and out of the exported constants' provenance).
        with shoal_random.RngScope(jax.random.key(0)):
            outputs, _ = model.stateless_call(trainable, non_trainable, x, **kwargs)
        return outputs

    return infer


def export_stablehlo(
    model,
    filepath,
    input_signature=None,
    platforms: Sequence[str] | None = None,
    mlir: bool = True,
) -> jax_export.Exported:
    """Export `model`'s inference function (weights as constants) to StableHLO.

    Args:
        model: a built shoal model.
        filepath: where the serialized `jax.export.Exported` bytes go; the MLIR text goes
            to `filepath + ".mlir"` (unless `mlir=False`).
        input_signature: optional shapes (None = symbolic) or `jax.ShapeDtypeStruct`s, one
            per input; default: the model's Input shapes with a symbolic batch dimension.
        platforms: lowering platforms, e.g. `("cpu", "cuda")`; default the current one.

    Returns:
        The `jax.export.Exported` object.
    """
    if not getattr(model, "built", False):
        raise ValueError(
            f"export (stablehlo): model '{model.name}' is not built; call it on data (or "
            "build it with an Input) before exporting."
        )
    specs = _input_specs(model, input_signature)
    fn = jax.jit(_inference_function(model, len(specs)))
    try:
        # A portable program: lax's convolutions and pooling, not the CPU lowerings.
        with cpu_lowering.lax_only():
            exported = jax_export.export(fn, platforms=platforms)(*specs)
    except Exception as err:  # shape-polymorphism failures carry JAX's long explanation
        raise ValueError(
            f"export (stablehlo): could not trace model '{model.name}' with symbolic "
            f"dimensions {[tuple(s.shape) for s in specs]}: {err}\nIf a non-batch dimension "
            "must be concrete (e.g. the sequence length of an RNN), pass "
            "`input_signature=[(None, 20), ...]`."
        ) from err
    path = os.fspath(filepath)
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    with open(path, "wb") as f:
        f.write(exported.serialize())
    if mlir:
        with open(path + MLIR_SUFFIX, "w", encoding="utf-8") as f:
            f.write(exported.mlir_module())
    return exported


class StableHLOFunction:
    """A deserialized StableHLO export, callable on NumPy/JAX arrays.

    Call with one array, a list (in the model's input order) or positional arrays.
    Inputs are converted to the exported dtypes; outputs come back as NumPy arrays in
    the model's output structure.
    """

    def __init__(self, exported: jax_export.Exported):
        self.exported = exported
        self.input_avals = list(exported.in_avals)

    def __call__(self, *inputs):
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        if len(inputs) != len(self.input_avals):
            raise ValueError(
                f"StableHLO function expects {len(self.input_avals)} input(s) of shapes "
                f"{[str(a.shape) for a in self.input_avals]}; got {len(inputs)}"
            )
        arrays = [
            np.asarray(x, dtype=aval.dtype)
            for x, aval in zip(inputs, self.input_avals, strict=True)
        ]
        outputs = self.exported.call(*arrays)
        return jax.tree_util.tree_map(np.asarray, outputs)


def load_stablehlo(filepath) -> StableHLOFunction:
    """Read a file written by `export_stablehlo` and return it as a callable."""
    with open(os.fspath(filepath), "rb") as f:
        data = f.read()
    return StableHLOFunction(jax_export.deserialize(bytearray(data)))
