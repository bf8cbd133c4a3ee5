"""Sizes for unknown (None) dimensions that an op requires to equal a known size.

Shapes of symbolic calls are found by tracing with a stand-in size for each None. When
that trace fails because a None meets a known size that it must match (broadcasting
`(None, 3)` with `(2, 3)`, contracting `(None,)` with `(3,)`, ...), Keras' rule is that
the None takes the known size (`broadcast_shapes`: None with n > 1 gives n). These
helpers propose such sizes and keep only those the op needs.
"""

from __future__ import annotations


def matching_sizes(shapes, align: str) -> dict:
    """`{(input index, axis): size}` for each None dim of `shapes` that sits where the other
    inputs have one known size other than 1, with axes paired from the right ("right", as in
    broadcasting) or from the left ("left"). Sizes of 1 are left alone: they broadcast."""
    if align not in ("left", "right"):
        raise ValueError(
            f"matching_sizes: argument 'align' must be 'left' or 'right', got {align!r}"
        )

    def position(shape, axis):
        return axis if align == "left" else len(shape) - axis

    known: dict = {}
    for shape in shapes:
        for axis, size in enumerate(shape):
            if size is not None and size != 1:
                known.setdefault(position(shape, axis), set()).add(size)
    sizes = {}
    for index, shape in enumerate(shapes):
        for axis, size in enumerate(shape):
            candidates = known.get(position(shape, axis), ())
            if size is None and len(candidates) == 1:
                sizes[(index, axis)] = next(iter(candidates))
    return sizes


def candidate_sizes(shapes, max_singles: int = 0):
    """Assignments of known sizes to None dims of `shapes`, most plausible first: the
    broadcasting alignment, the left alignment, then (at most `max_singles` of them) one None
    set to one known size (contractions such as einsum's pair axes in any order)."""
    seen = []

    def fresh(sizes):
        if sizes and sizes not in seen:
            seen.append(sizes)
            return True
        return False

    for align in ("right", "left"):
        sizes = matching_sizes(shapes, align)
        if fresh(sizes):
            yield sizes
    known = sorted({d for shape in shapes for d in shape if d is not None and d != 1})
    singles = [
        {(index, axis): size}
        for index, shape in enumerate(shapes)
        for axis, d in enumerate(shape)
        if d is None
        for size in known
    ]
    for sizes in singles[:max_singles]:
        if fresh(sizes):
            yield sizes


def needed_sizes(sizes: dict, works) -> dict:
    """`sizes` less each entry without which `works(sizes)` still holds: a None that the op
    does not tie to a known size stays unknown."""
    for key in list(sizes):
        trial = {k: v for k, v in sizes.items() if k != key}
        if works(trial):
            sizes = trial
    return sizes
