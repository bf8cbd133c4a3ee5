"""Reuters newswires labelled over 46 topics: 11,228 newswires as lists of word indices.

Words are ranked by frequency (index 1 = most frequent word before `index_from` is added).
`reuters.npz` stores these ragged lists as NumPy object arrays (a pickle stream); shoal reads
it with a data-only parser after checking the file's SHA-256 (`_npz.py`), never unpickling.
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

_SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"  # from Keras
_WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"  # Keras records an md5 for it

_LABEL_NAMES = (
    "cocoa grain veg-oil earn acq wheat copper housing money-supply coffee sugar trade "
    "reserves ship cotton carcass crude nat-gas cpi money-fx interest gnp meal-feed alum "
    "oilseed gold tin strategic-metal livestock retail ipi iron-steel rubber heat jobs lei "
    "bop zinc orange pet-chem dlr gas silver wpi hog lead"
).split()


def load_data(
    path="reuters.npz",
    num_words=None,
    skip_top=0,
    maxlen=None,
    test_split=0.2,
    seed=113,
    start_char=1,
    oov_char=2,
    index_from=3,
):
    """Loads the newswires as Keras does (same shuffle, indices and split).

    Args:
        path: the file's name in the cache (`$SHOAL_HOME/datasets`).
        num_words: keep only the `num_words` most frequent words (others become `oov_char`,
            or are dropped when `oov_char` is None); None keeps all.
        skip_top: also treat the `skip_top` most frequent words as out of vocabulary.
        maxlen: drop newswires with `maxlen` or more indices (after `start_char`).
        test_split: the fraction, in [0, 1), of the (shuffled) newswires kept for testing.
        seed: seed of the shuffle.
        start_char: index put at the start of every newswire (None: none).
        oov_char: index that replaces cut words (None: cut words are removed).
        index_from: offset added to every word index.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: 1-D object arrays of Python int lists, and
        int topic labels (names: `get_label_names()`).
    """
    owner = "reuters.load_data"
    check_maxlen(owner, maxlen)
    if not 0 <= test_split < 1:
        raise ValueError(f"{owner}: argument 'test_split' must be in [0, 1); got {test_split!r}")
    xs, labels = fetch_npz(path, _SHA256, ("x", "y"), KERAS_ORIGIN + "reuters.npz")
    order = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(order)
    seqs, labels = drop_long(
        owner, shifted([xs[i] for i in order], start_char, index_from), labels[order], maxlen
    )
    cut = vocabulary_cut(seqs, num_words, skip_top, oov_char)
    seqs = [cut(s) for s in seqs]
    n_train = int(len(seqs) * (1 - test_split))
    return (
        (object_array(seqs[:n_train]), np.array(labels[:n_train])),
        (object_array(seqs[n_train:]), np.array(labels[n_train:])),
    )


def get_word_index(path="reuters_word_index.json"):
    """The dict mapping each word to its frequency rank (add `index_from` to match data)."""
    file = fetch(path, _WORD_INDEX_MD5, KERAS_ORIGIN + "reuters_word_index.json")
    with open(file, encoding="utf-8") as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed by label."""
    return tuple(_LABEL_NAMES)
