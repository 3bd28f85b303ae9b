"""Files written whole or not at all, and the SHA-256 kept beside the ones archives keep."""

import hashlib
import os
import tempfile
from pathlib import Path


def write_atomic(path, data, *, check=None):
    """Write ``data`` to ``path`` through a temporary file in the same folder, flushed to
    disk before it is renamed over ``path``: a reader in another process, or after a
    crash, finds the old file or the new one, never part of one.

    ``check(temporary path)`` may look at the file first and refuse it (False): then
    ``path`` is left as it was.  Returns whether the file was written.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if check is not None and not check(tmp):
            return False
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def write_with_sha256(path, data, *, check=None):
    """Write ``data`` to ``path`` (as ``write_atomic``) and ``path.sha256`` beside it, in
    the form ``sha256sum -c`` reads.  Returns the hex digest, or None when ``check``
    refused the file."""
    path = Path(path)
    if not write_atomic(path, data, check=check):
        return None
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(sha256_path(path), f"{digest}  {path.name}\n".encode("utf-8"))
    return digest


def sha256_path(path):
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path):
    """The digest written beside ``path``, or None."""
    try:
        return sha256_path(path).read_text(encoding="utf-8").split()[0]
    except (OSError, IndexError):
        return None


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
