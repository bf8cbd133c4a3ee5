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
from shoal.datasets._word_sequences import (
    check_maxlen,
    drop_long,
    object_array,
    shifted,
    vocabulary_cut,
)

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
    owner = "imdb.load_data"
    check_maxlen(owner, maxlen)
    x_train, y_train, x_test, y_test = fetch_npz(
        path, _SHA256, ("x_train", "y_train", "x_test", "y_test"), KERAS_ORIGIN + "imdb.npz"
    )
    rng = np.random.RandomState(seed)  # one stream for both shuffles, as Keras
    splits = []
    for x, y in ((x_train, y_train), (x_test, y_test)):
        order = np.arange(len(x))
        rng.shuffle(order)
        seqs = shifted([x[i] for i in order], start_char, index_from)
        splits.append(drop_long(owner, seqs, y[order], maxlen))
    cut = vocabulary_cut([s for seqs, _ in splits for s in seqs], num_words, skip_top, oov_char)
    return tuple((object_array([cut(s) for s in seqs]), labels) for seqs, labels in splits)


def get_word_index(path="imdb_word_index.json"):
    """The dict mapping each word to its frequency rank (add `index_from` to match reviews)."""
    file = fetch(path, _WORD_INDEX_MD5, KERAS_ORIGIN + "imdb_word_index.json")
    with open(file, encoding="utf-8") as f:
        return json.load(f)
