"""Connectionist temporal classification: `keras.ops.ctc_loss` and `ctc_decode`.

A CTC model emits, at each of T steps, scores over K classes, one of which
(`mask_index`) is the blank. A labelling is read off a step-wise path by merging
repeated classes and then dropping blanks; the loss is `-log` of the total probability
of the paths that read as the target.

The loss runs Graves' forward recursion over the target with blanks interleaved
(`blank l1 blank l2 ... lN blank`, 2N + 1 states), in log space, as one `lax.scan`
over time. "Impossible" is a large negative number rather than -inf (as in Keras /
optax), so unreachable states never produce NaN values or gradients.

Decoding is greedy (best class per step) or a prefix beam search. The beam search
follows Keras' JAX backend step for step, so ties between equally likely beams break
the same way: each beam is a prefix kept twice, once for paths ending in a blank and
once for paths ending in its last label; every step extends all of them by every class,
merges equal prefixes (one `jnp.unique`), and keeps the `beam_width` most likely.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from shoal.backend import dtypes
from shoal.ops.dispatch import keras_op, public_names
from shoal.ops.image_args import is_int
from shoal.ops.numpy import _t

_LOG_ZERO = -1e5  # log of "impossible": exp() of it is 0, but it stays finite
_PAD = -1  # an empty slot in a decoded sequence


def _float_inputs(x):
    x = _t(x)
    return x.astype(dtypes.result_type(x.dtype, "float32"))


def _lengths(op, name, lengths, batch):
    lengths = _t(lengths)
    if lengths.shape != (batch,):
        raise ValueError(
            f"{op}: argument '{name}' must have shape ({batch},) (one length per batch "
            f"entry), got shape {tuple(lengths.shape)}"
        )
    return lengths.astype(jnp.int32)


def _class_index(op, value, num_classes, name="mask_index"):
    if not is_int(value) or not -num_classes <= value < num_classes:
        raise ValueError(
            f"{op}: argument '{name}' must be an int in [0, {num_classes}) (a class of the "
            f"last axis), got {value!r}"
        )
    return int(value) % num_classes


def _shift(states, by):
    """`states` moved `by` places along the last axis, `_LOG_ZERO` coming in."""
    return jnp.pad(states[:, :-by], ((0, 0), (by, 0)), constant_values=_LOG_ZERO)


@keras_op
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """Per-sequence CTC loss `-log p(target | output)`.

    Args:
        target: `(batch, max_label_length)` integer labels; entries past
            `target_length` are ignored.
        output: `(batch, max_steps, num_classes)` logits (not softmax-normalized).
        target_length: `(batch,)` label lengths.
        output_length: `(batch,)` numbers of valid steps of `output`.
        mask_index: the blank class.

    Returns:
        `(batch,)` losses, float32 (or float64 for float64 logits with x64 on).

    Example:
        >>> logits = np.zeros((1, 3, 3), "float32")  # uniform over 3 classes
        >>> ctc_loss([[1, 2]], logits, [2], [3])  # -log(5 / 27): 5 paths read "1 2"
    """
    target, output = _t(target), _float_inputs(output)
    if output.ndim != 3:
        raise ValueError(
            "ctc_loss: argument 'output' must have shape (batch, max_steps, num_classes), "
            f"got shape {tuple(output.shape)}"
        )
    batch, steps, num_classes = output.shape
    if target.ndim != 2 or target.shape[0] != batch:
        raise ValueError(
            f"ctc_loss: argument 'target' must have shape ({batch}, max_label_length) "
            f"(the batch of 'output'), got shape {tuple(target.shape)}"
        )
    target_length = _lengths("ctc_loss", "target_length", target_length, batch)
    output_length = _lengths("ctc_loss", "output_length", output_length, batch)
    blank = _class_index("ctc_loss", mask_index, num_classes)
    target = target.astype(jnp.int32)
    labels = target.shape[1]

    # Extended labels: blank, l1, blank, l2, ..., lN, blank.
    extended = jnp.full((batch, 2 * labels + 1), blank, jnp.int32).at[:, 1::2].set(target)
    logprobs = jax.nn.log_softmax(output, axis=-1)
    emit = jnp.take_along_axis(logprobs, extended[:, None, :], axis=2)  # (batch, steps, S)
    # A label may follow the previous label directly (skipping the blank between them)
    # unless the two are equal.
    state = jnp.arange(2 * labels + 1)
    skip = (state % 2 == 1) & (state >= 3)
    skip = skip & (extended != jnp.roll(extended, 2, axis=1))

    def step(alpha, inputs):
        emit_t, valid = inputs
        through = jnp.logaddexp(alpha, _shift(alpha, 1))
        through = jnp.logaddexp(through, jnp.where(skip, _shift(alpha, 2), _LOG_ZERO))
        return jnp.where(valid[:, None], through + emit_t, alpha), None

    # A virtual step before the first: all paths start in the first blank state, so
    # step 0 may emit that blank or the first label.
    start = jnp.full((batch, 2 * labels + 1), _LOG_ZERO, output.dtype).at[:, 0].set(0.0)
    valid = jnp.arange(steps)[:, None] < output_length[None, :]
    alpha, _ = jax.lax.scan(step, start, (jnp.swapaxes(emit, 0, 1), valid))

    # Paths end on the last label or the blank after it.
    n = jnp.clip(target_length, 0, labels)
    rows = jnp.arange(batch)
    final_blank = alpha[rows, 2 * n]
    final_label = jnp.where(n > 0, alpha[rows, jnp.maximum(2 * n - 1, 0)], _LOG_ZERO)
    return -jnp.logaddexp(final_blank, final_label)


def _greedy(inputs, lengths, merge_repeated, blank):
    batch, steps, _ = inputs.shape
    best = jnp.argmax(inputs, axis=-1).astype(jnp.int32)
    score = jnp.max(inputs, axis=-1)
    beyond = jnp.arange(steps)[None, :] >= lengths[:, None]
    best = jnp.where(beyond, blank, best)
    score = jnp.where(beyond, 0.0, score)
    if merge_repeated:
        repeated = jnp.pad(best[:, 1:] == best[:, :-1], ((0, 0), (1, 0)))
        best = jnp.where(repeated, blank, best)
    dropped = best == blank
    # Move the kept labels to the front, in order (a stable sort on "dropped").
    order = jnp.argsort(dropped, axis=1, stable=True)
    decoded = jnp.take_along_axis(jnp.where(dropped, _PAD, best), order, axis=1)
    return decoded[None], -jnp.sum(score, axis=1, keepdims=True)


def _group_logsumexp(values, groups, count):
    """log(sum(exp(values))) within each group (-inf for empty groups)."""
    top = jax.ops.segment_max(values, groups, count)
    top = jnp.where(jnp.isfinite(top), top, 0.0)
    total = jax.ops.segment_sum(jnp.exp(values - top[groups]), groups, count)
    return jnp.log(total) + top


def _merge(paths, size):
    unique, inverse = jnp.unique(paths, axis=0, return_inverse=True, size=size, fill_value=_PAD)
    return unique, inverse.reshape(-1)


def _beam_search_one(logprobs, active, beam_width, top_paths, blank):
    """Beam search of one sequence: logprobs (steps, K), active (steps,) bool."""
    steps, num_classes = logprobs.shape
    entries = 2 * beam_width  # each beam twice: ending in a label, ending in a blank
    candidates = entries * num_classes
    classes = jnp.arange(num_classes)

    first = jnp.argsort(logprobs[0])[-min(num_classes, beam_width) :]
    paths = jnp.full((entries, steps), _PAD, jnp.int32)
    paths = paths.at[: first.shape[0], 0].set(jnp.where(first == blank, _PAD, first))
    scores = jnp.full((entries,), -jnp.inf, logprobs.dtype)
    scores = scores.at[: first.shape[0]].set(logprobs[0, first])
    ends_blank = paths[:, 0] == _PAD

    def advance(paths, scores, ends_blank, logprob):
        free = jnp.argmax(paths == _PAD, axis=1)  # first empty slot of each prefix
        last = jnp.where(free > 0, paths[jnp.arange(entries), free - 1], _PAD)
        # A blank, or a label repeating the last one with no blank between, leaves
        # the prefix as it is; any other label is appended.
        repeat = ~ends_blank[:, None] & (last[:, None] == classes[None, :])
        keep = (classes == blank)[None, :] | repeat
        appended = jnp.where(keep, _PAD, classes[None, :]).reshape(-1)
        grown = jnp.repeat(paths, num_classes, axis=0)
        grown = grown.at[jnp.arange(candidates), jnp.repeat(free, num_classes)].set(appended)
        grown_scores = (scores[:, None] + logprob[None, :]).reshape(-1)
        grown_blank = jnp.tile(classes == blank, entries)

        unique, inverse = _merge(grown, candidates)
        on_label = _group_logsumexp(
            jnp.where(grown_blank, -jnp.inf, grown_scores), inverse, candidates
        )
        on_blank = _group_logsumexp(
            jnp.where(grown_blank, grown_scores, -jnp.inf), inverse, candidates
        )
        best = jnp.argsort(jnp.logaddexp(on_label, on_blank))[-beam_width:]
        return (
            jnp.tile(unique[best], (2, 1)),
            jnp.concatenate([on_label[best], on_blank[best]]),
            jnp.repeat(jnp.array([False, True]), beam_width),
        )

    def step(state, inputs):
        logprob, on = inputs
        new = advance(*state, logprob)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(on, a, b), new, state), None

    (paths, scores, _), _ = jax.lax.scan(
        step, (paths, scores, ends_blank), (logprobs[1:], active[1:])
    )
    unique, inverse = _merge(paths, candidates)
    totals = _group_logsumexp(scores, inverse, candidates)
    best = jnp.argsort(totals)[-top_paths:][::-1]
    return unique[best], totals[best]


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _beam_search(inputs, lengths, beam_width, top_paths, blank):
    # Compiled as a whole (cached per shape and settings): eagerly, its scan of
    # sort-heavy steps would otherwise be dispatched op by op on every call.
    num_classes = inputs.shape[-1]
    # Classes are handled in reverse order (class c as K - 1 - c), so that sorting
    # breaks ties between equal scores as Keras' JAX backend (and TensorFlow) does.
    logprobs = jnp.flip(jax.nn.log_softmax(inputs, axis=-1), axis=-1)
    active = jnp.arange(inputs.shape[1])[None, :] < lengths[:, None]
    paths, scores = jax.vmap(
        lambda lp, on: _beam_search_one(lp, on, beam_width, top_paths, num_classes - 1 - blank)
    )(logprobs, active)
    paths = jnp.where(paths == _PAD, _PAD, num_classes - 1 - paths)
    return jnp.swapaxes(paths, 0, 1), scores


@keras_op
def ctc_decode(
    inputs,
    sequence_lengths,
    strategy="greedy",
    beam_width=100,
    top_paths=1,
    merge_repeated=True,
    mask_index=0,
):
    """Decode CTC logits into label sequences.

    Args:
        inputs: `(batch, max_steps, num_classes)` logits (not softmax-normalized).
        sequence_lengths: `(batch,)` numbers of valid steps.
        strategy: "greedy" or "beam_search".
        beam_width: number of prefixes the beam search keeps.
        top_paths: number of decodings to return (beam search; greedy returns 1).
        merge_repeated: greedy only: merge repeated classes before dropping blanks.
        mask_index: the blank class; None means the last class.

    Returns:
        `(decoded, scores)`: `decoded` is `(top_paths, batch, max_steps)` int32, the
        labels first and `-1` after them; `scores` is `(batch, top_paths)`. Greedy
        scores are minus the sum of the chosen logits; beam-search scores are log
        probabilities, best first.

    Example:
        >>> logits = np.log(np.array([[[0.1, 0.9], [0.8, 0.2], [0.1, 0.9]]], "float32"))
        >>> ctc_decode(logits, [3])[0]  # classes 1 _ 1, blank 0
        Array([[[ 1,  1, -1]]], dtype=int32)
    """
    op = "ctc_decode"
    if strategy not in ("greedy", "beam_search"):
        raise ValueError(
            f"{op}: argument 'strategy' must be 'greedy' or 'beam_search', got {strategy!r}"
        )
    inputs = _float_inputs(inputs)
    if inputs.ndim != 3:
        raise ValueError(
            f"{op}: argument 'inputs' must have shape (batch, max_steps, num_classes), "
            f"got shape {tuple(inputs.shape)}"
        )
    lengths = _lengths(op, "sequence_lengths", sequence_lengths, inputs.shape[0])
    num_classes = inputs.shape[-1]
    blank = num_classes - 1 if mask_index is None else _class_index(op, mask_index, num_classes)
    if strategy == "greedy":
        return _greedy(inputs, lengths, merge_repeated, blank)
    if not is_int(beam_width) or beam_width < 1:
        raise ValueError(f"{op}: argument 'beam_width' must be an int >= 1, got {beam_width!r}")
    if not is_int(top_paths) or not 1 <= top_paths <= beam_width:
        raise ValueError(
            f"{op}: argument 'top_paths' must be an int in [1, beam_width={beam_width}], "
            f"got {top_paths!r}"
        )
    return _beam_search(inputs, lengths, int(beam_width), int(top_paths), blank)


__all__ = public_names(globals())
