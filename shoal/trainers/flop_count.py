"""FLOPs of a traced function, counted on its jaxpr (no lowering, no compile).

`auto_steps` sizes fused executions from the FLOPs of one step. XLA's own estimate
(`Lowered.cost_analysis()`) needs the step lowered to HLO first, a cost paid again when
the execution is compiled; the jaxpr is there already (the step is traced once, and the
trace is shared with the execution that inlines it). Counted as XLA counts: a dot or
convolution is 2 FLOPs per multiply-add, any other operation one FLOP per output
element; loops count their body times their trip count (an unbounded `while` once).
"""

from __future__ import annotations

import math
import re

import jax
from jax.extend import core as jax_core


def _size(aval) -> int:
    return int(math.prod(getattr(aval, "shape", ())))


def _dot_flops(eqn) -> float:
    lhs = eqn.invars[0].aval
    (contracting, _), _ = eqn.params["dimension_numbers"]
    depth = math.prod(lhs.shape[d] for d in contracting)
    return 2.0 * _size(eqn.outvars[0].aval) * depth


def _conv_flops(eqn) -> float:
    rhs = eqn.invars[1].aval
    out_features = rhs.shape[eqn.params["dimension_numbers"].rhs_spec[0]]
    return 2.0 * _size(eqn.outvars[0].aval) * _size(rhs) / max(out_features, 1)


def _sub_jaxprs(params):
    for value in params.values():
        values = value if isinstance(value, (tuple, list)) else (value,)
        for v in values:
            if isinstance(v, jax_core.ClosedJaxpr):
                yield v.jaxpr
            elif isinstance(v, jax_core.Jaxpr):
                yield v


def jaxpr_flops(jaxpr) -> float:
    """FLOPs of one evaluation of `jaxpr` (a Jaxpr or ClosedJaxpr)."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            total += _dot_flops(eqn)
        elif name == "conv_general_dilated":
            total += _conv_flops(eqn)
        elif name == "scan":
            total += eqn.params["length"] * jaxpr_flops(eqn.params["jaxpr"])
        elif name == "cond":
            total += max(jaxpr_flops(branch) for branch in eqn.params["branches"])
        elif name == "custom_vjp_call":  # the primal; its VJP is traced when differentiated
            total += jaxpr_flops(eqn.params["call_jaxpr"])
        else:
            inner = list(_sub_jaxprs(eqn.params))
            if inner:  # pjit, closed calls, custom_jvp, while (body once), remat, ...
                total += sum(jaxpr_flops(j) for j in inner)
            else:
                total += sum(_size(v.aval) for v in eqn.outvars)
    return total


def primitives(jaxpr, skip_scope: str | None = None) -> set[str]:
    """The names of the primitives `jaxpr` applies, in its sub-jaxprs too; with
    `skip_scope`, not counting those traced inside a `jax.named_scope` of that name."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    names = set()
    for eqn in jaxpr.eqns:
        if skip_scope not in re.split(r"[()/]", str(eqn.source_info.name_stack)):
            names.add(eqn.primitive.name)
        for sub in _sub_jaxprs(eqn.params):  # a custom_vjp's primal (`call_jaxpr`) too
            names |= primitives(sub, skip_scope)
    return names


def trace(fn, args):
    """The jaxpr of `fn(*args)` for a jitted `fn`, or None when it cannot be traced."""
    try:
        traced = fn.trace(*args) if hasattr(fn, "trace") else jax.make_jaxpr(fn)(*args)
    except Exception:  # no estimate: the caller does not fuse
        return None
    return traced.jaxpr


def step_flops(fn, args) -> float:
    """FLOPs of `fn(*args)` for a jitted `fn`, from its trace; 0.0 when it cannot be traced."""
    jaxpr = trace(fn, args)
    return 0.0 if jaxpr is None else jaxpr_flops(jaxpr)
