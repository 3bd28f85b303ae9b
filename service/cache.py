"""Cache: rendered PDFs kept on disk, addressed by what they were made from.

The key is the ETag (article revision, options, templates, fonts, version),
so an updated article, template or font never meets an old PDF: new content
gets a new key and the old file ages out.  Files are written atomically and
fsynced (``files.write_atomic``), so readers in other worker processes never see
half a PDF; each entry's facts record its size and SHA-256, and a file that does
not match them (cut short by a crash, a full disk, a bad block) is deleted and made
again, never served.  It knows nothing of how PDFs are made (``pdfs.cached_pdf``
does).  When the folder grows past its cap the least recently used files go first.

A cache that cannot be written (disk full, read-only, permissions) is a fault, not
an error: the PDF just made is served anyway, the fault is counted and logged once a
minute, and /health says the cache is not writable.
"""

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

from .files import write_atomic

log = logging.getLogger(__name__)
FAULT_LOG_SECONDS = 60


class PdfCache:
    """A folder of ``<key>.pdf`` files, with a ``<key>.json`` of facts beside each."""

    def __init__(self, folder, max_bytes):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size = None   # measured lazily; kept up to date by this process
        self.write_error = None          # why the last write failed, until one succeeds
        self._logged_fault = 0.0
        self.on_fault = None             # on_fault(kind): "write_failed", "corrupt"

    def _path(self, key, suffix):
        return self.folder / key[:2] / f"{key}{suffix}"

    def get(self, key):
        """Return (pdf bytes, facts dict) or None."""
        path = self._path(key, ".pdf")
        try:
            pdf = path.read_bytes()
            facts = json.loads(self._path(key, ".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if "sha256" not in facts:        # kept by a version that recorded none
            self._delete(key)
            return None
        if len(pdf) != facts.get("size") or \
                hashlib.sha256(pdf).hexdigest() != facts.get("sha256"):
            self._fault("corrupt", f"cache entry {key} does not match its size and "
                        "SHA-256; deleted, to be made again")
            self._delete(key)
            return None
        try:
            os.utime(path)   # recently used: evicted last
        except OSError:
            pass
        return pdf, facts

    def facts(self, key):
        """The facts of an entry whose PDF is there, without reading the PDF (``get``
        checks it when it is read); or None."""
        try:
            facts = json.loads(self._path(key, ".json").read_text(encoding="utf-8"))
            size = self._path(key, ".pdf").stat().st_size
        except (OSError, ValueError):
            return None
        return facts if "sha256" in facts and facts.get("size") == size else None

    def put(self, key, pdf, facts):
        """Keep ``pdf``; returns False (and counts the fault) when it cannot be written."""
        path = self._path(key, ".pdf")
        facts = {**facts, "size": len(pdf), "sha256": hashlib.sha256(pdf).hexdigest()}
        try:
            path.parent.mkdir(exist_ok=True)
            # The PDF first: its facts, written last, are what make an entry.
            self._write(path, pdf)
            self._write(self._path(key, ".json"), json.dumps(facts).encode())
        except OSError as exc:
            self.write_error = f"{exc.__class__.__name__}: {exc.strerror or exc}"
            self._fault("write_failed", f"the PDF cache in {self.folder} cannot be written "
                        f"({self.write_error}); PDFs are served without being kept")
            self._delete(key)
            return False
        self.write_error = None
        with self._lock:
            if self._size is not None:
                self._size += len(pdf)
            if self._current_size() > self.max_bytes:
                self._evict()
        return True

    @contextlib.contextmanager
    def lock(self, key, deadline):
        """Hold the entry's lock file (flock: across processes, and hosts sharing the
        folder where the file system keeps such locks) until ``deadline`` (monotonic);
        yields "free" (had at once), "waited" (had after another process let it go) or
        None (not had by the deadline).  A folder where no lock file can be made yields
        "free": the render goes on, uncoalesced across processes."""
        path = self._path(key, ".lock")
        try:
            path.parent.mkdir(exist_ok=True)
            handle = open(path, "a+b")
        except OSError:
            yield "free"
            return
        with handle:
            state = "free"
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        yield None
                        return
                    state = "waited"
                    time.sleep(0.05)
            try:
                yield state
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def writable(self):
        """(ok, why not): the folder is there, writable, and the last write succeeded."""
        if not self.folder.is_dir():
            return False, f"{self.folder} is not a folder"
        if not os.access(self.folder, os.W_OK | os.X_OK):
            return False, f"{self.folder} is not writable"
        if self.write_error:
            return False, self.write_error
        return True, None

    def _fault(self, kind, message):
        if self.on_fault is not None:
            self.on_fault(kind)
        now = time.monotonic()
        if kind == "corrupt" or now - self._logged_fault >= FAULT_LOG_SECONDS:
            if kind != "corrupt":
                self._logged_fault = now
            log.warning(message)

    def _delete(self, key):
        for suffix in (".json", ".pdf"):
            try:
                self._path(key, suffix).unlink(missing_ok=True)
            except OSError:
                pass

    @staticmethod
    def _write(path, data):
        write_atomic(path, data)

    def _files(self):
        return [p for p in self.folder.glob("*/*.pdf")]

    def _current_size(self):
        if self._size is None:
            self._size = sum(_size(p) for p in self._files())
        return self._size

    def _evict(self):
        """Delete least recently used PDFs until the folder is back under 90% of its cap."""
        files = sorted(self._files(), key=_mtime)
        total = sum(_size(p) for p in files)
        target = self.max_bytes * 0.9
        for path in files:
            if total <= target:
                break
            total -= _size(path)
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            path.with_suffix(".lock").unlink(missing_ok=True)
        self._size = total
        log.info("cache evicted down to %d bytes", total)

    def stats(self):
        files = self._files()
        return {"files": len(files), "bytes": sum(_size(p) for p in files),
                "max_bytes": self.max_bytes}


def _size(path):
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path):
    try:
        return path.stat().st_mtime
    except OSError:
        return 0
