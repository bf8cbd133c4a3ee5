"""What the word-index datasets (IMDB, Reuters) share: shifting indices, dropping long
sequences, cutting the vocabulary, and ragged object arrays, each as Keras does it."""

from __future__ import annotations

import numpy as np


def check_maxlen(owner, maxlen):
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
    ):
        raise ValueError(
            f"{owner}: argument 'maxlen' must be a positive integer or None; got {maxlen!r}"
        )


def shifted(seqs, start_char, index_from):
    """Each sequence's indices plus `index_from`, after `start_char` (None: no start)."""
    head = [start_char] if start_char is not None else []
    return [head + [w + index_from for w in seq] for seq in seqs]


def drop_long(owner, seqs, labels, maxlen):
    """Only the sequences shorter than `maxlen` (None: all), with their labels."""
    if not maxlen:
        return seqs, labels
    keep = [i for i, seq in enumerate(seqs) if len(seq) < maxlen]
    if not keep:
        raise ValueError(f"{owner}: no sequence is shorter than maxlen={maxlen}; increase 'maxlen'")
    return [seqs[i] for i in keep], labels[keep]


def vocabulary_cut(all_seqs, num_words, skip_top, oov_char):
    """A function limiting a sequence to indices in [skip_top, num_words): others become
    `oov_char`, or are removed when it is None. num_words None: the largest index + 1."""
    if not num_words:
        num_words = max(max(seq) for seq in all_seqs if seq)

    def cut(seq):
        if oov_char is not None:
            return [w if skip_top <= w < num_words else oov_char for w in seq]
        return [w for w in seq if skip_top <= w < num_words]

    return cut


def object_array(seqs):
    """A 1-D object array of lists (np.array would make a 2-D array of equal lengths)."""
    out = np.empty(len(seqs), dtype=object)
    for i, seq in enumerate(seqs):
        out[i] = seq
    return out
