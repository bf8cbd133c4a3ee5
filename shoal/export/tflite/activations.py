"""Keras activation functions as TFLite operators."""

from __future__ import annotations

from shoal import activations as A
from shoal.export.layer_graph import ExportError, label
from shoal.export.tflite.builder import options_for


def _relu(g, x):
    return g.unary("RELU", x)


def _elu(g, x, alpha: float = 1.0):
    """ELU; for alpha != 1 `max(e, 0) + alpha * min(e, 0)` with `e = ELU(x)`."""
    e = g.unary("ELU", x)
    if alpha == 1.0:
        return e
    zero = g.scalar(0.0)
    positive = g.binary("MAXIMUM", e, zero)
    negative = g.binary("MUL", g.binary("MINIMUM", e, zero), g.scalar(alpha))
    return g.binary("ADD", positive, negative)


def _hard_sigmoid(g, x):
    return g.binary("DIV", g.unary("RELU6", g.binary("ADD", x, g.scalar(3.0))), g.scalar(6.0))


def _selu(g, x):
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return g.binary("MUL", _elu(g, x, alpha), g.scalar(scale))


def _softsign(g, x):
    return g.binary("DIV", x, g.binary("ADD", g.unary("ABS", x), g.scalar(1.0)))


_TABLE = {
    id(A.linear): lambda g, x: x,
    id(A.relu): _relu,
    id(A.relu6): lambda g, x: g.unary("RELU6", x),
    id(A.sigmoid): lambda g, x: g.unary("LOGISTIC", x),
    id(A.tanh): lambda g, x: g.unary("TANH", x),
    id(A.softmax): lambda g, x: g.unary("SOFTMAX", x, options_for("Softmax", beta=1.0)),
    id(A.log_softmax): lambda g, x: g.unary("LOG_SOFTMAX", x),
    id(A.elu): _elu,
    id(A.selu): _selu,
    id(A.leaky_relu): lambda g, x: g.unary("LEAKY_RELU", x, options_for("LeakyRelu", alpha=0.2)),
    id(A.gelu): lambda g, x: g.unary("GELU", x, options_for("Gelu", approximate=False)),
    id(A.silu): lambda g, x: g.binary("MUL", x, g.unary("LOGISTIC", x)),
    id(A.hard_sigmoid): _hard_sigmoid,
    id(A.hard_silu): lambda g, x: g.unary("HARD_SWISH", x),
    id(A.exponential): lambda g, x: g.unary("EXP", x),
    id(A.softsign): _softsign,
}


def supported_activations() -> list[str]:
    names = {id(fn): name for name, fn in vars(A).items() if callable(fn)}
    return sorted(names[key] for key in _TABLE if key in names)


def apply_activation(g, x: int, activation, layer=None) -> int:
    if activation is None:
        return x
    emit = _TABLE.get(id(activation))
    if emit is None:
        name = getattr(activation, "__name__", repr(activation))
        where = label(layer) if layer is not None else "a layer"
        raise ExportError(
            f"export (tflite): {where}: activation {name!r} has no TFLite equivalent. "
            f"Supported activations: {', '.join(supported_activations())}"
        )
    return emit(g, x)
