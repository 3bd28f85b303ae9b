"""Cache: rendered PDFs kept on disk, addressed by what they were made from.

The key is the ETag (article revision, options, templates, fonts, version),
so an updated article, template or font never meets an old PDF: new content
gets a new key and the old file ages out.  Files are written atomically
(``files.write_atomic``), so readers in other worker processes never see half a
PDF.  It knows nothing of how PDFs are made (``pdfs.cached_pdf`` does).  When the folder grows past its cap the least recently used
files go first.
"""

import json
import logging
import os
import threading
from pathlib import Path

from .files import write_atomic

log = logging.getLogger(__name__)


class PdfCache:
    """A folder of ``<key>.pdf`` files, with a ``<key>.json`` of facts beside each."""

    def __init__(self, folder, max_bytes):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size = None   # measured lazily; kept up to date by this process

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
        try:
            os.utime(path)   # recently used: evicted last
        except OSError:
            pass
        return pdf, facts

    def put(self, key, pdf, facts):
        path = self._path(key, ".pdf")
        path.parent.mkdir(exist_ok=True)
        self._write(self._path(key, ".json"), json.dumps(facts).encode())
        self._write(path, pdf)
        with self._lock:
            if self._size is not None:
                self._size += len(pdf)
            if self._current_size() > self.max_bytes:
                self._evict()

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
