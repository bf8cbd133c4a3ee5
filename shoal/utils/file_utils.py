"""`get_file`: download once into a cache, verify a hash, optionally extract.

The cache root is `$SHOAL_HOME` (default `~/.shoal`); files go under `cache_subdir`
("datasets" by default), as in Keras. A file that Keras already downloaded (under
`$KERAS_HOME` or `~/.keras`, same sub-directory and name) is used in place when it passes
the hash check, so nothing is fetched twice. Downloads are written to a `.part` file and
renamed only after the hash matched, so an interrupted or tampered download never poisons
the cache. When the network is unreachable the error says where to put the file by hand.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile


class DownloadError(OSError):
    """A file could not be fetched; the message says where to place it by hand."""


def shoal_home() -> str:
    return os.path.expanduser(os.environ.get("SHOAL_HOME", os.path.join("~", ".shoal")))


def _keras_home() -> str:
    return os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))


def _hasher(algorithm: str, file_hash: str | None):
    if algorithm == "auto":
        algorithm = "sha256" if file_hash is None or len(file_hash) == 64 else "md5"
    if algorithm not in ("sha256", "md5"):
        raise ValueError(
            f"get_file: argument 'hash_algorithm' must be 'auto', 'sha256' or 'md5'; "
            f"got {algorithm!r}"
        )
    return hashlib.new(algorithm)


def hash_file(fpath, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """The hex digest of a file ('sha256', 'md5', or 'auto' = sha256)."""
    hasher = _hasher(algorithm, None)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath, file_hash: str, algorithm: str = "auto", chunk_size: int = 1 << 20):
    """Whether the file's digest equals `file_hash` ('auto' picks sha256 for 64 hex digits)."""
    hasher = _hasher(algorithm, file_hash)
    return hash_file(fpath, hasher.name, chunk_size) == str(file_hash).lower()


def get_file(
    fname=None,
    origin=None,
    untar=False,
    md5_hash=None,
    file_hash=None,
    cache_subdir="datasets",
    hash_algorithm="auto",
    extract=False,
    archive_format="auto",
    cache_dir=None,
    force_download=False,
):
    """Downloads `origin` into the cache unless a verified copy is already there.

    Args:
        fname: name of the file in the cache (default: the last part of `origin`). With
            `extract=True`, a name with a dot is the archive's name and the files go to
            `<stem>_extracted/`; a name without a dot is the extraction folder.
        origin: URL of the file (`https://`, `http://` or `file://`).
        untar, md5_hash: deprecated Keras spellings of `extract=True` and `file_hash`.
        file_hash: expected sha256 (64 hex digits) or md5 digest of the downloaded file.
        cache_subdir: sub-directory of the cache (an absolute path is used as is).
        hash_algorithm: 'auto', 'sha256' or 'md5'.
        extract: extract a tar or zip archive and return the extraction folder.
        archive_format: 'auto' (tar then zip), 'tar', 'zip', or a list of those.
        cache_dir: cache root; default `$SHOAL_HOME` or `~/.shoal`.
        force_download: fetch even when a verified copy is cached.

    Returns:
        The path of the file, or of the extraction folder when `extract` is true.

    Raises:
        DownloadError: the file could not be fetched (offline, HTTP error); the message
            names the URL and the path where to put the file by hand.
        ValueError: the downloaded file does not match `file_hash`.
    """
    if origin is None:
        raise ValueError("get_file: argument 'origin' (the URL of the file) is required; got None")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    extract = extract or untar
    fname = os.fspath(fname) if fname else os.path.basename(urllib.parse.urlsplit(origin).path)
    if not fname or os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(
            f"get_file: argument 'fname' must be a plain file name (use 'cache_dir' for the "
            f"folder); got {fname!r} for origin {origin!r}"
        )
    datadir = os.path.join(os.path.expanduser(cache_dir or shoal_home()), cache_subdir)
    target, extraction_dir = _targets(datadir, fname, extract)

    downloaded = False
    if force_download or not _is_valid(target, file_hash, hash_algorithm):
        keras_copy = None
        if cache_dir is None and not force_download:
            keras_copy = os.path.join(_keras_home(), cache_subdir, os.path.basename(target))
        if keras_copy and _is_valid(keras_copy, file_hash, hash_algorithm):
            target = keras_copy
        else:
            _download(origin, target, file_hash, hash_algorithm)
            downloaded = True
    if not extract:
        return target
    if downloaded or not os.path.isdir(extraction_dir):
        extract_archive(target, extraction_dir, archive_format)
    return extraction_dir


def _targets(datadir: str, fname: str, extract: bool):
    if not extract:
        return os.path.join(datadir, fname), None
    if "." in fname:
        return os.path.join(datadir, fname), os.path.join(
            datadir, fname.split(".")[0] + "_extracted"
        )
    return os.path.join(datadir, fname + "_archive"), os.path.join(datadir, fname)


def _is_valid(path: str, file_hash, algorithm) -> bool:
    if not os.path.isfile(path):
        return False
    return file_hash is None or validate_file(path, file_hash, algorithm)


def _download(origin: str, target: str, file_hash, algorithm) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = f"{target}.{os.getpid()}.part"  # per process: hosts of one job may race
    print(f"Downloading data from {origin}", file=sys.stderr)
    try:
        with urllib.request.urlopen(origin) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as err:
        _remove(partial)
        reason = getattr(err, "reason", None) or err
        existing = ""
        if os.path.isfile(target):
            existing = f" The file already at {target} does not match the expected hash."
        raise DownloadError(
            f"Could not download '{os.path.basename(target)}' from {origin} ({reason}).{existing} "
            f"If this machine is offline, fetch that URL elsewhere and put the file at "
            f"{target} (it is checked against the {_algo_name(file_hash, algorithm)} hash "
            f"{file_hash or '<none recorded>'} before use)."
        ) from err
    if file_hash is not None and not validate_file(partial, file_hash, algorithm):
        got = hash_file(partial, _algo_name(file_hash, algorithm))
        _remove(partial)
        raise ValueError(
            f"Downloaded file '{os.path.basename(target)}' from {origin} is corrupted or not "
            f"the expected file: its {_algo_name(file_hash, algorithm)} hash is {got}, "
            f"expected {file_hash}. Nothing was written to {target}."
        )
    os.replace(partial, target)


def _algo_name(file_hash, algorithm) -> str:
    return _hasher(algorithm, file_hash).name


def _remove(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)


def extract_archive(file_path, path=".", archive_format="auto") -> bool:
    """Extracts a tar or zip archive into `path`, refusing members that escape it.

    Extraction goes to a temporary sibling folder that is renamed at the end, so `path`
    exists only once extraction completed. Returns whether a matching format was found.
    """
    formats = ["tar", "zip"] if archive_format == "auto" else archive_format or []
    formats = [formats] if isinstance(formats, str) else formats
    for fmt in formats:
        if fmt not in ("tar", "zip"):
            raise ValueError(
                f"extract_archive: argument 'archive_format' must be 'auto', 'tar', 'zip' or "
                f"a list of those; got {archive_format!r}"
            )
        is_fmt = tarfile.is_tarfile if fmt == "tar" else zipfile.is_zipfile
        if not is_fmt(file_path):
            continue
        staging = f"{os.fspath(path)}.{os.getpid()}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if fmt == "tar":
                with tarfile.open(file_path) as archive:
                    _extract_tar(archive, staging)
            else:
                with zipfile.ZipFile(file_path) as archive:
                    archive.extractall(staging)  # zipfile drops '..' and absolute parts
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(path, ignore_errors=True)
        try:
            os.replace(staging, path)
        except OSError:
            if not os.path.isdir(path):
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process just finished it
        return True
    return False


def _extract_tar(archive: tarfile.TarFile, dest: str) -> None:
    if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: rejects escapes and links out
        archive.extractall(dest, filter="data")
        return
    root = os.path.realpath(dest)
    safe = [
        m
        for m in archive.getmembers()
        if (m.isfile() or m.isdir())
        and os.path.commonpath([root, os.path.realpath(os.path.join(root, m.name))]) == root
    ]
    archive.extractall(dest, members=safe)
