"""The one way datasets reach the disk: `fetch` = `get_file` with a recorded hash.

Every dataset names its file, its origin and the digest it must have. Files land in
`$SHOAL_HOME/datasets` (default `~/.shoal/datasets`); a verified copy that Keras already
downloaded to `~/.keras/datasets` is used in place. Offline, the error names the URL and the
exact path where the file can be put by hand.
"""

from __future__ import annotations

import os

from shoal.datasets._npz import load_npz
from shoal.utils.file_utils import get_file

# Keras' own mirror (keras/src/datasets/*.py) for the files that have no other public home.
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def fetch(fname: str, file_hash: str, origin: str | None = None, subdir: str = "", extract=False):
    """Path of the verified file (or of its extraction folder), downloading it if needed."""
    return get_file(
        fname,
        origin or KERAS_ORIGIN + fname,
        file_hash=file_hash,
        cache_subdir=os.path.join("datasets", subdir) if subdir else "datasets",
        extract=extract,
    )


def fetch_npz(fname: str, file_hash: str, keys, origin: str | None = None):
    """The named members of a verified `.npz` file (Keras' mirror by default), in order."""
    arrays = load_npz(fetch(fname, file_hash, origin))
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"{fname}: members {missing} missing; the file has {sorted(arrays)}")
    return [arrays[k] for k in keys]
