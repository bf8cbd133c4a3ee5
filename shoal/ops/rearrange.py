"""`keras.ops.rearrange`: einops-style axis rearrangement ("b (h w) c -> b h w c").

A pattern names each input axis on the left and the output axes on the right; parentheses
group axes that are one axis of the array (composed on the right, decomposed on the left,
with sizes given as keyword arguments where they cannot be inferred). Only reshapes and a
transpose are emitted, so it traces and jits like any op.
"""

from __future__ import annotations

import math
import re

import jax.numpy as jnp

from shoal.ops.dispatch import keras_op, public_names

_TOKEN = re.compile(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*")


def _parse_side(side: str, pattern: str):
    """[[names of array axis 0], [names of axis 1], ...]: one group per array axis."""
    groups, current = [], None
    position = 0
    for match in _TOKEN.finditer(side):
        if side[position : match.start()].strip():
            raise ValueError(f"rearrange: argument 'pattern' has an unknown token in {pattern!r}")
        position = match.end()
        token = match.group()
        if token == "(":
            if current is not None:
                raise ValueError(f"rearrange: nested parentheses in 'pattern' {pattern!r}")
            current = []
        elif token == ")":
            if current is None:
                raise ValueError(f"rearrange: unbalanced ')' in 'pattern' {pattern!r}")
            groups.append(current)
            current = None
        elif current is not None:
            current.append(token)
        else:
            groups.append([token])
    if current is not None or side[position:].strip():
        raise ValueError(f"rearrange: argument 'pattern' is malformed: {pattern!r}")
    return groups


@keras_op
def rearrange(tensor, pattern, **axes_lengths):
    """Rearrange `tensor`'s axes as `pattern` says, e.g. "b h w c -> b (h w) c".

    Example:
        >>> rearrange(np.zeros((2, 3, 4)), "b h w -> b (h w)").shape
        (2, 12)
    """
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(
            f"rearrange: argument 'pattern' must be a string 'input axes -> output axes', "
            f"got {pattern!r}"
        )
    left, right = (_parse_side(side, pattern) for side in pattern.split("->"))
    x = jnp.asarray(tensor)
    if len(left) != x.ndim:
        raise ValueError(
            f"rearrange: 'pattern' {pattern!r} names {len(left)} input axes, but the tensor has "
            f"shape {tuple(x.shape)}"
        )
    names_in = [name for group in left for name in group]
    names_out = [name for group in right for name in group]
    if sorted(names_in) != sorted(names_out) or len(set(names_in)) != len(names_in):
        raise ValueError(
            f"rearrange: 'pattern' {pattern!r} must use each axis name once on each side "
            f"(input {names_in}, output {names_out})"
        )
    sizes = {}
    for group, length in zip(left, x.shape, strict=True):
        unknown = [name for name in group if name not in axes_lengths]
        known = math.prod(int(axes_lengths[name]) for name in group if name in axes_lengths)
        if len(unknown) > 1:
            raise ValueError(
                f"rearrange: axes {unknown} of group ({' '.join(group)}) need sizes as keyword "
                f"arguments, got {sorted(axes_lengths)}"
            )
        if unknown:
            if known == 0 or length % known:
                raise ValueError(
                    f"rearrange: axis of size {length} cannot be split as ({' '.join(group)}) "
                    f"with {axes_lengths}"
                )
            sizes[unknown[0]] = length // known
        elif known != length:
            raise ValueError(
                f"rearrange: axis of size {length} is not ({' '.join(group)}) = {known}"
            )
        sizes.update({name: int(axes_lengths[name]) for name in group if name in axes_lengths})
    x = x.reshape([sizes[name] for name in names_in])
    x = jnp.transpose(x, [names_in.index(name) for name in names_out])
    return x.reshape([math.prod(sizes[name] for name in group) for group in right])


__all__ = public_names(globals())
