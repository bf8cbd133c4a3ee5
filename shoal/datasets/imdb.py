"""IMDB movie reviews labelled by sentiment: 25,000 training and 25,000 test reviews.

Reviews are lists of word indices, words ranked by frequency (index 1 = most frequent word
before `index_from` is added). `imdb.npz` stores these ragged lists as NumPy object arrays,
i.e. as a pickle stream; shoal reads that stream with a data-only parser after checking the
file's SHA-256 (see `_npz.py`), so loading it never unpickles.
"""

from __future__ import annotations

import json

import numpy as np

from shoal.datasets._fetch import KERAS_ORIGIN, fetch, fetch_npz

_SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"  # from Keras
# Keras records only an md5 for the word index (JSON, no pickle involved).
_WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(
    path="imdb.npz",
    num_words=None,
    skip_top=0,
    maxlen=None,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Loads the IMDB reviews as Keras does (same shuffle, same indices).

    Args:
        path: the file's name in the cache (`$SHOAL_HOME/datasets`).
        num_words: keep only the `num_words` most frequent words (others become `oov_char`,
            or are dropped when `oov_char` is None); None keeps all.
        skip_top: also treat the `skip_top` most frequent words as out of vocabulary.
        maxlen: drop reviews with `maxlen` or more indices (after `start_char` is added).
        seed: seed of the shuffle.
        start_char: index put at the start of every review (None: none).
        oov_char: index that replaces cut words (None: cut words are removed).
        index_from: offset added to every word index.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: 1-D object arrays of Python int lists, and
        int labels (1 positive, 0 negative).
    """
    if maxlen is not None and (
        isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1
    ):
        raise ValueError(
            f"imdb.load_data: argument 'maxlen' must be a positive integer or None; got {maxlen!r}"
        )
    x_train, y_train, x_test, y_test = fetch_npz(
        path, _SHA256, ("x_train", "y_train", "x_test", "y_test"), KERAS_ORIGIN + "imdb.npz"
    )
    rng = np.random.RandomState(seed)  # one stream for both shuffles, as Keras
    splits = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        order = np.arange(len(x))
        rng.shuffle(order)
        head = [start_char] if start_char is not None else []
        seqs = [head + [w + index_from for w in x[i]] for i in order]
        labels = y[order]
        if maxlen:
            keep = [i for i, s in enumerate(seqs) if len(s) < maxlen]
            seqs, labels = [seqs[i] for i in keep], labels[keep]
            if not seqs:
                raise ValueError(
                    f"imdb.load_data: no review is shorter than maxlen={maxlen}; increase 'maxlen'"
                )
        splits.append((seqs, labels))
    if not num_words:
        num_words = max(max(s) for seqs, _ in splits for s in seqs if s)

    def cut(seq):
        if oov_char is not None:
            return [w if skip_top <= w < num_words else oov_char for w in seq]
        return [w for w in seq if skip_top <= w < num_words]

    return tuple((_object_array([cut(s) for s in seqs]), labels) for seqs, labels in splits)


def _object_array(seqs):
    # np.array(list_of_lists) would make a 2-D array if all lists had one length.
    out = np.empty(len(seqs), dtype=object)
    for i, s in enumerate(seqs):
        out[i] = s
    return out


def get_word_index(path="imdb_word_index.json"):
    """The dict mapping each word to its frequency rank (add `index_from` to match reviews)."""
    file = fetch(path, _WORD_INDEX_MD5, KERAS_ORIGIN + "imdb_word_index.json")
    with open(file, encoding="utf-8") as f:
        return json.load(f)
