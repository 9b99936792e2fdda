"""Keras-style file cache: find a dataset file locally, or download it once.

The layout matches Keras 3 (``$KERAS_HOME`` or ``~/.keras``, then
``datasets/<fname>``) so files Keras already downloaded are reused, and files
a user copies by hand go where Keras would look for them. Offline, the error
says exactly which file to put where.
"""

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request

DOWNLOAD_TIMEOUT_S = 60
_CHUNK_BYTES = 1 << 20


class DatasetNotAvailableError(FileNotFoundError):
    """A needed file is neither cached nor downloadable.

    ``missing`` lists ``(path, url)`` pairs: put the file from ``url`` at
    ``path``. Callers needing several files merge these into one message.
    """

    def __init__(self, missing, reason="", hint=""):
        self.missing = list(missing)
        self.reason = reason
        lines = ["Dataset file(s) not found locally and could not be downloaded"]
        if reason:
            lines[0] += f" ({reason})"
        lines[0] += "."
        lines.append("Download them on a machine with internet access and put them at:")
        for path, url in self.missing:
            lines.append(f"  {path}\n    <- {url}")
        if hint:
            lines.append(hint)
        super().__init__("\n".join(lines))


def _is_writable(path):
    """True when files can be created in ``path`` (split out so tests can fake it)."""
    return os.access(path, os.W_OK)


def _preferred_root(cache_dir=None):
    """The cache dir Keras asks for: argument, else $KERAS_HOME, else ~/.keras."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return os.path.expanduser(os.fspath(cache_dir))


def _fallback_root():
    """Where Keras caches when the preferred dir cannot be written."""
    tmp = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
    return os.path.join(tmp, ".keras")


def cache_root(cache_dir=None):
    """The writable Keras cache dir.

    ``cache_dir`` if given, else ``$KERAS_HOME``, else ``~/.keras``; like
    Keras, falls back to ``/tmp/.keras`` when that dir cannot be written.
    """
    root = _preferred_root(cache_dir)
    try:
        os.makedirs(root, exist_ok=True)
    except OSError:
        pass
    if os.path.isdir(root) and _is_writable(root):
        return root
    return _fallback_root()


def _candidate_roots(cache_dir=None):
    """Roots to search for an existing file: the preferred one even if read-only."""
    roots = [_preferred_root(cache_dir), cache_root(cache_dir)]
    return list(dict.fromkeys(roots))


def cache_path(fname, cache_subdir="datasets", cache_dir=None):
    """Path of ``fname`` in the cache: where it is if present, else where it goes."""
    candidates = [os.path.join(root, cache_subdir, fname) for root in _candidate_roots(cache_dir)]
    for path in candidates:
        if os.path.exists(path):
            return path
    return candidates[-1]


def _checked_fname(fname, origin):
    """Keras 3 rule: a bare file name, defaulting to the URL's last component."""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Cannot infer a file name from origin {origin!r}; pass fname.")
    fname = os.fspath(fname)
    if os.sep in fname or (os.altsep and os.altsep in fname):
        raise ValueError(
            "fname must be a file name, not a path; use cache_dir/cache_subdir "
            f"to choose the folder. Received fname={fname!r}"
        )
    return fname


def _archive_and_extraction_names(fname):
    """Keras 3 naming: 'name' -> ('name_archive', 'name'); 'a.tar.gz' -> ('a.tar.gz', 'a_extracted')."""
    if "." in fname:
        return fname, fname[: fname.find(".")] + "_extracted"
    return fname + "_archive", fname


def hash_matches(path, file_hash):
    """Compare a file against a sha256 (64 hex chars) or md5 (32) digest."""
    hasher = hashlib.sha256() if len(file_hash) == 64 else hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_BYTES), b""):
            hasher.update(chunk)
    return hasher.hexdigest() == file_hash.lower()


def _download(origin, target, file_hash=None):
    """Fetch ``origin`` to ``target`` via a temp file, so failures leave nothing behind.

    Network failures become DatasetNotAvailableError; a hash mismatch is a
    ValueError (the server sent something else).
    """
    directory = os.path.dirname(target)
    os.makedirs(directory, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(target) + ".", suffix=".part")
    try:
        try:
            print(f"Downloading data from {origin}")
            with os.fdopen(fd, "wb") as out:
                with urllib.request.urlopen(origin, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    shutil.copyfileobj(response, out, _CHUNK_BYTES)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise DatasetNotAvailableError([(target, origin)], reason=f"{type(exc).__name__}: {exc}") from exc
        if file_hash is not None and not hash_matches(partial, file_hash):
            raise ValueError(f"Downloaded {origin} does not match the expected hash {file_hash}; not saved.")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def _unsafe_member_reason(member):
    """Why a tar member could write outside the extraction dir, or None if it is safe."""
    name = member.name
    if os.path.isabs(name) or name.startswith(("/", "\\")):
        return "absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "'..' in path"
    if not (member.isfile() or member.isdir()):
        return "not a regular file or directory"
    return None


def extract_tar_safely(archive_path, destination):
    """Extract a tar archive into ``destination``, all or nothing.

    Members with absolute paths, ``..`` components, links or device files
    raise ValueError before anything is written. Extraction goes to a temp
    dir renamed into place, so an interrupted run leaves no half-filled folder.
    """
    try:
        archive = tarfile.open(archive_path, "r:*")
    except tarfile.TarError as exc:
        raise ValueError(f"{archive_path} is not a readable tar archive: {exc}") from exc
    parent = os.path.dirname(os.path.abspath(destination))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix="." + os.path.basename(destination) + ".")
    try:
        with archive:
            members = archive.getmembers()
            for member in members:
                reason = _unsafe_member_reason(member)
                if reason:
                    raise ValueError(f"Refusing to extract {archive_path}: member {member.name!r} has {reason}.")
            if hasattr(tarfile, "data_filter"):
                archive.extractall(staging, members=members, filter="data")
            else:
                archive.extractall(staging, members=members)
        if os.path.isdir(destination) and not os.listdir(destination):
            os.rmdir(destination)
        os.replace(staging, destination)
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging)
    return destination


def get_file(fname, origin, cache_subdir="datasets", extract=False, file_hash=None, cache_dir=None):
    """Return the local path of ``fname``, downloading ``origin`` into the cache if needed.

    Mirrors ``keras.utils.get_file``: the file lives at
    ``<cache>/<cache_subdir>/<fname>``. With ``extract=True`` the archive is
    kept as ``<fname>_archive`` and unpacked (tar only) into ``<fname>/``,
    whose path is returned. ``file_hash`` (sha256 or md5) checks fresh
    downloads; files already in the cache are trusted, so hand-copied files
    work offline.
    """
    if not origin:
        raise ValueError("get_file needs an origin URL.")
    fname = _checked_fname(fname, origin)
    if extract:
        archive_name, extraction_name = _archive_and_extraction_names(fname)
        extraction_dir = cache_path(extraction_name, cache_subdir, cache_dir)
        if os.path.isdir(extraction_dir) and os.listdir(extraction_dir):
            return extraction_dir
        archive = get_file(archive_name, origin, cache_subdir, False, file_hash, cache_dir)
        destination = os.path.join(cache_root(cache_dir), cache_subdir, extraction_name)
        return extract_tar_safely(archive, destination)
    target = cache_path(fname, cache_subdir, cache_dir)
    if not os.path.exists(target):
        _download(origin, target, file_hash)
    return target
