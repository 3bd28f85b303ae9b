"""Hot: the readers' path — a stored article's PDF answered from memory, before Flask.

Most requests a print service gets are the same few PDFs, already rendered.  Going
through Flask for each costs about a millisecond of Python (request context, routing,
the revision query, reading the cache file, building headers): most of what one web
process can give.  This WSGI middleware keeps the last complete answers of
``GET /articles/<id>.pdf`` for stored articles in memory and answers them again while
the store has not changed since.

"Not changed" is the store's ``generation()``: it changes at once when this process
commits, and within CHANGE_POLL (50 ms) when another process does — the CLI's import,
a Celery worker, another web process (SQLite's ``PRAGMA data_version``, watched by a
thread).  It is read *before* Flask runs, so an answer is never kept under a
generation older than the data it was made from; any commit at all empties the path
for everything (a few misses after each write cost less than tracking which article
changed).  Where the store cannot tell cheaply (PostgreSQL) the path stays off and
Flask answers every request.

Only answers the view marks as keepable are kept (stored articles, never WordPress
posts, which have a freshness window of their own), and only 200s; conditional
requests are answered 304 from the kept ETag.  What is kept is bounded by
MATBAA_HOT_CACHE_BYTES per web process.
"""

import re
import threading
import time
from collections import OrderedDict

from werkzeug.http import parse_etags, unquote_etag

# Set by the view on answers that may be kept.
KEEP = "matbaa.hot.keep"

_PATH = re.compile(r"^/articles/[^/]+\.pdf$")
_ROUTE = "/articles/<article_id>.pdf"
# Headers made per request, not kept: ours (request id, cache) and the server's.
_PER_REQUEST = {"x-request-id", "x-matbaa-cache", "date", "server"}
_NOT_MODIFIED = {"etag", "cache-control"}


class _Kept:
    __slots__ = ("generation", "etag", "headers", "body")

    def __init__(self, generation, etag, headers, body):
        self.generation, self.etag, self.headers, self.body = generation, etag, headers, body


class HotPath:
    """WSGI middleware around the Flask app; ``observe`` counts and logs what it answers."""

    def __init__(self, app, store, max_bytes, observe):
        self.app = app
        self.store = store
        self.max_bytes = max_bytes
        self.observe = observe
        self._kept = OrderedDict()   # (path, query) -> _Kept, least recently used first
        self._bytes = 0
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if (self.max_bytes <= 0 or environ.get("REQUEST_METHOD") != "GET"
                or not _PATH.match(environ.get("PATH_INFO", ""))):
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            generation = self.store.generation()
        except Exception:   # the store's trouble is Flask's to answer (a JSON 503)
            generation = None
        if generation is None:
            return self.app(environ, start_response)
        key = (environ["PATH_INFO"], environ.get("QUERY_STRING", ""))
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                if kept.generation == generation:
                    self._kept.move_to_end(key)
                else:
                    kept = None
                    self._clear()
        if kept is not None:
            return self._answer(kept, environ, start_response, started)
        return self._pass(key, generation, environ, start_response)

    def _pass(self, key, generation, environ, start_response):
        """Let Flask answer, and keep the answer when the view allows it."""
        seen = {}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        answer = self.app(environ, capture)
        if not environ.get(KEEP) or not seen.get("status", "").startswith("200 "):
            return answer
        try:
            body = b"".join(answer)
        finally:
            if hasattr(answer, "close"):
                answer.close()
        headers = [(name, value) for name, value in seen["headers"]
                   if name.lower() not in _PER_REQUEST]
        etag = next((value for name, value in headers if name.lower() == "etag"), None)
        if etag is not None and len(body) <= self.max_bytes:
            self._keep(key, _Kept(generation, etag, headers, body))
        return [body]

    def _keep(self, key, kept):
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._kept[key] = kept
            self._bytes += len(kept.body)
            while self._bytes > self.max_bytes:
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= len(dropped.body)

    def _clear(self):
        self._kept.clear()
        self._bytes = 0

    def _answer(self, kept, environ, start_response, started):
        request_id = self.observe.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        given = environ.get("HTTP_IF_NONE_MATCH")
        # If-None-Match compares weakly (RFC 9110 13.1.2), as the view does.
        if given and parse_etags(given).contains_weak(unquote_etag(kept.etag)[0]):
            status, body = "304 NOT MODIFIED", b""
            headers = [(n, v) for n, v in kept.headers if n.lower() in _NOT_MODIFIED]
        else:
            status, body = "200 OK", kept.body
            headers = list(kept.headers)
            headers.append(("X-Matbaa-Cache", "hit"))
        headers.append(("X-Request-Id", request_id))
        start_response(status, headers)
        if body:
            self.observe.metrics.cache.labels("hit").inc()
        self.observe.answered(request_id, "GET", environ["PATH_INFO"], _ROUTE,
                              int(status[:3]), time.perf_counter() - started,
                              cache="hit" if body else None, size=len(body))
        return [body]

    @property
    def kept_bytes(self):
        return self._bytes
