"""Sigmoid and tanh gates activated by ONE tanh kernel, and differentiated from their outputs.

`sigmoid(z) = 0.5 * tanh(0.5 * z) + 0.5`, so when every gate of a step is a sigmoid or a
tanh (LSTM's defaults, SimpleRNN's tanh), the `(batch, gates * units)` pre-activations of a
step become its activated gates in one elementwise kernel,
`scale_out * tanh(scale_in * z) + shift`, with per-column constants. The derivative of
either activation is a function of its output (sigmoid: `y (1 - y)`, tanh: `1 - y^2`), so
the fast path (`recurrence_vjp.py`) saves the activated gates and its backward loop
multiplies by these derivatives instead of recomputing the activations.

Results agree with `jax.nn.sigmoid` to float32 rounding (absolutely: a sigmoid's output
under ~3e-8 rounds to 0 here).
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from shoal import activations

# kind -> (scale_in, scale_out, shift): activation(z) = scale_out * tanh(scale_in * z) + shift
_AS_TANH = {"sigmoid": (0.5, 0.5, 0.5), "tanh": (1.0, 1.0, 0.0)}


def _kind(fn):
    if fn is activations.sigmoid:
        return "sigmoid"
    if fn is activations.tanh:
        return "tanh"
    return None


@dataclasses.dataclass(frozen=True)
class TanhForm:
    """The tanh form of a step whose gates' activations are `kinds` (one per gate)."""

    kinds: tuple[str, ...]

    def _columns(self, which, units, dtype):
        values = [_AS_TANH[kind][which] for kind in self.kinds]
        return jnp.repeat(jnp.asarray(values, dtype), units)

    def activate(self, pre):
        """Activated gates `(batch, gates * units)` of the pre-activations `pre`."""
        units = pre.shape[-1] // len(self.kinds)
        scale_in, scale_out, shift = (self._columns(i, units, pre.dtype) for i in range(3))
        if all(kind == "tanh" for kind in self.kinds):
            return jnp.tanh(pre)
        return scale_out * jnp.tanh(scale_in * pre) + shift

    def derivative(self, gate, y):
        """d activation / d pre-activation of gate `gate`, from its output `y`."""
        if self.kinds[gate] == "sigmoid":
            return y * (1 - y)
        return 1 - y * y


def of(activations_of_gates) -> TanhForm | None:
    """The tanh form of these per-gate activations, or None if one is not sigmoid/tanh."""
    if not activations_of_gates:
        return None
    kinds = tuple(_kind(fn) for fn in activations_of_gates)
    return None if None in kinds else TanhForm(kinds)
