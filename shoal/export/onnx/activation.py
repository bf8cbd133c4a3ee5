"""Activation functions (`Dense(activation=...)`, `Activation`) and the activation layers."""

from __future__ import annotations

import math

import numpy as np

from shoal import activations
from shoal.export.onnx.graph import ExportError, form_axis, label, register
from shoal.layers.activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax

# Keras/JAX constants (jax.nn.selu), not ONNX's float32-rounded defaults.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _softmax(g, x, axis, log=False):
    return g.op("LogSoftmax" if log else "Softmax", [x], axis=axis)


def _gelu(g, x, approximate: bool):
    if not approximate:
        # x * erfc(-x / sqrt(2)) / 2 == x * (1 + erf(x / sqrt(2))) / 2
        erf = g.op("Erf", [g.op("Mul", [x, g.scalar(math.sqrt(0.5))])])
        cdf = g.op("Mul", [g.op("Add", [erf, g.scalar(1.0)]), g.scalar(0.5)])
        return g.op("Mul", [x, cdf])
    cube = g.op("Mul", [g.op("Mul", [x, x]), x])
    inner = g.op("Add", [x, g.op("Mul", [cube, g.scalar(0.044715)])])
    t = g.op("Tanh", [g.op("Mul", [inner, g.scalar(math.sqrt(2 / math.pi))])])
    cdf = g.op("Mul", [g.op("Add", [t, g.scalar(1.0)]), g.scalar(0.5)])
    return g.op("Mul", [x, cdf])


def _softplus(g, x):
    # log(1 + exp(x)) computed stably: max(x, 0) + log1p(exp(-|x|)).
    neg_abs = g.op("Neg", [g.op("Abs", [x])])
    log1p = g.op("Log", [g.op("Add", [g.op("Exp", [neg_abs]), g.scalar(1.0)])])
    return g.op("Add", [g.op("Relu", [x]), log1p])


def _elementwise(name: str):
    """Emitter for the activation named `name` (elementwise, any layout), or None."""
    table = {
        "linear": lambda g, x: x,
        "relu": lambda g, x: g.op("Relu", [x]),
        "sigmoid": lambda g, x: g.op("Sigmoid", [x]),
        "tanh": lambda g, x: g.op("Tanh", [x]),
        "exponential": lambda g, x: g.op("Exp", [x]),
        "elu": lambda g, x: g.op("Elu", [x], alpha=1.0),
        "selu": lambda g, x: g.op("Selu", [x], alpha=_SELU_ALPHA, gamma=_SELU_SCALE),
        "celu": lambda g, x: g.op("Celu", [x], alpha=1.0),
        "softplus": _softplus,
        "softsign": lambda g, x: g.op("Softsign", [x]),
        "relu6": lambda g, x: g.op("Clip", [x, g.scalar(0.0), g.scalar(6.0)]),
        "hard_tanh": lambda g, x: g.op("Clip", [x, g.scalar(-1.0), g.scalar(1.0)]),
        "hard_sigmoid": lambda g, x: g.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5),
        "hard_silu": lambda g, x: g.op("HardSwish", [x]),
        "silu": lambda g, x: g.op("Mul", [x, g.op("Sigmoid", [x])]),
        "gelu": lambda g, x: _gelu(g, x, approximate=False),
        "leaky_relu": lambda g, x: g.op("LeakyRelu", [x], alpha=0.2),
        "log_sigmoid": lambda g, x: g.op("Neg", [_softplus(g, g.op("Neg", [x]))]),
        "mish": lambda g, x: g.op("Mul", [x, g.op("Tanh", [_softplus(g, x)])]),
        "tanh_shrink": lambda g, x: g.op("Sub", [x, g.op("Tanh", [x])]),
    }
    aliases = {"swish": "silu", "hard_swish": "hard_silu"}
    return table.get(aliases.get(name, name))


SUPPORTED_ACTIVATIONS = (
    "linear relu sigmoid tanh exponential elu selu celu softplus softsign relu6 hard_tanh "
    "hard_sigmoid hard_silu silu gelu leaky_relu log_sigmoid mish tanh_shrink softmax "
    "log_softmax"
).split()


def activation_name(fn):
    """The Keras name of a built-in activation function, or None for a custom callable."""
    try:
        name = activations.serialize(fn)
    except Exception:
        return None
    return name if isinstance(name, str) else None


def apply_activation(g, fn, x: str, rank: int, perm=None, owner=None) -> str:
    """`fn(x)` for a Keras activation `fn`; `x` has `rank` axes in layout `perm`."""
    if fn is None:
        return x
    name = activation_name(fn)
    if name in ("softmax", "log_softmax"):
        # Keras' activations.softmax works on the last axis.
        return _softmax(g, x, form_axis(-1, rank, perm), log=name == "log_softmax")
    emit = _elementwise(name) if name is not None else None
    if emit is None:
        who = f"{label(owner)}: " if owner is not None else ""
        raise ExportError(
            f"export (onnx): {who}activation {name or fn!r} has no ONNX emitter; supported "
            f"activations: {', '.join(SUPPORTED_ACTIVATIONS)}"
        )
    return emit(g, x)


def can_apply(fn) -> bool:
    name = activation_name(fn)
    return name in ("softmax", "log_softmax") or (
        name is not None and _elementwise(name) is not None
    )


# -- activation layers: elementwise, so they work in whatever layout the input has ------


@register(Activation, mask="ignore")
def _activation(g, layer, inputs, outputs, node):
    x, perm = g.any_value(inputs[0])
    rank = len(inputs[0].shape)
    g.set(outputs[0], apply_activation(g, layer.activation, x, rank, perm, layer), perm)


def relu_formula(g, x, negative_slope=0.0, max_value=None, threshold=0.0) -> str:
    """Keras' parametrised ReLU, in Keras' order of operations."""
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return g.op("LeakyRelu", [x], alpha=float(negative_slope))
    negative = None
    if negative_slope != 0.0:
        negative = g.op("Relu", [g.op("Sub", [g.scalar(threshold), x])])
    if threshold != 0.0:
        out = g.op("Where", [g.op("Greater", [x, g.scalar(threshold)]), x, g.scalar(0.0)])
    else:
        out = g.op("Relu", [x])
    if max_value is not None:
        out = g.op("Clip", [out, g.scalar(0.0), g.scalar(max_value)])
    if negative is not None:
        out = g.op("Sub", [out, g.op("Mul", [g.scalar(negative_slope), negative])])
    return out


@register(ReLU)
def _relu(g, layer, inputs, outputs, node):
    x, perm = g.any_value(inputs[0])
    y = relu_formula(g, x, layer.negative_slope, layer.max_value, layer.threshold)
    g.set(outputs[0], y, perm)


@register(LeakyReLU)
def _leaky_relu(g, layer, inputs, outputs, node):
    x, perm = g.any_value(inputs[0])
    g.set(outputs[0], g.op("LeakyRelu", [x], alpha=float(layer.negative_slope)), perm)


@register(ELU)
def _elu(g, layer, inputs, outputs, node):
    x, perm = g.any_value(inputs[0])
    g.set(outputs[0], g.op("Elu", [x], alpha=float(layer.alpha)), perm)


@register(PReLU)
def _prelu(g, layer, inputs, outputs, node):
    x, perm = g.any_value(inputs[0])
    alpha = np.asarray(layer.alpha.numpy(), np.float32)[None]  # with a batch axis of 1
    if perm is not None:
        alpha = np.transpose(alpha, perm)
    # PRelu: x for x >= 0, slope * x below: the same as relu(x) - alpha * relu(-x).
    g.set(outputs[0], g.op("PRelu", [x, g.const(alpha, "alpha")]), perm)


@register(Softmax)
def _softmax_layer(g, layer, inputs, outputs, node):
    rank = len(inputs[0].shape)
    x, perm = g.any_value(inputs[0])
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    axes = sorted({form_axis(a, rank, perm) for a in axes})
    if len(axes) == 1:
        y = g.op("Softmax", [x], axis=axes[0])
    else:  # several axes: exp(x - max) / sum(exp(x - max)) over all of them
        shifted = g.op("Sub", [x, g.reduce("ReduceMax", x, axes, keepdims=True)])
        e = g.op("Exp", [shifted])
        y = g.op("Div", [e, g.reduce("ReduceSum", e, axes, keepdims=True)])
    g.set(outputs[0], y, perm)
