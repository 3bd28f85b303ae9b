"""PDFs as readers get them: from the cache, else rendered once and kept.

One trip per request: the caller computes the ETag (from the article's revision, the
options and the assets) once, and the same value is the cache key, the answer's
ETag and the PDF's /ID.  The article itself is loaded only when the PDF must be made.

One render, however many ask: readers of the same ETag in this process wait for the
first one's render and share it; in other processes (and hosts sharing the cache
folder) a lock file beside the cache entry makes the later ones wait, then find the
PDF in the cache.  Waiting is bounded by MATBAA_RENDER_TIMEOUT and takes no place in
the render queue, since only the first asks for a render process.  A cache that
cannot be written costs the next reader a render, never this one its PDF.
"""

import threading
import time
from typing import NamedTuple

from . import errors


class Delivered(NamedTuple):
    pdf: bytes
    missing_glyphs: tuple
    file_stem: str
    hit: bool
    shared: bool = False        # another reader's render, waited for


class _Flight:
    def __init__(self):
        self.done = threading.Event()
        self.result = None
        self.error = None


_flights = {}
_flights_lock = threading.Lock()


def cached_pdf(cache, renderer, etag, options, load, before_render=None):
    """The PDF whose ETag is ``etag``: the cached file, else ``renderer.pdf(load(),
    options)`` kept under it.  ``before_render()`` is called on a miss, before the
    render (it may refuse, as the readers' rate limit does)."""
    found = _from_cache(cache, etag)
    if found is not None:
        return found
    timeout = renderer.settings.render_timeout
    deadline = time.monotonic() + timeout
    while True:
        key = (id(cache), etag)
        with _flights_lock:
            flight = _flights.get(key)
            leading = flight is None
            if leading:
                flight = _flights[key] = _Flight()
        if leading:
            break
        if not flight.done.wait(max(0.0, deadline - time.monotonic())):
            raise errors.RenderTooLong(
                f"the same PDF was being made for another reader and took over {timeout} s;"
                " raise MATBAA_RENDER_TIMEOUT")
        if flight.result is not None:
            return flight.result._replace(hit=False, shared=True)
        # The first reader's own refusal (its rate limit) is not this reader's: ask again.
        if not isinstance(flight.error, errors.RenderRateLimited):
            raise flight.error
    try:
        flight.result = _render_once(cache, renderer, etag, options, load, before_render,
                                     deadline, timeout)
        return flight.result
    except BaseException as exc:
        flight.error = exc
        raise
    finally:
        with _flights_lock:
            del _flights[key]
        flight.done.set()


def _render_once(cache, renderer, etag, options, load, before_render, deadline, timeout):
    with cache.lock(etag, deadline) as state:
        # Made by another process while this one waited for the lock?
        found = _from_cache(cache, etag) if state != "free" else None
        if found is not None:
            return found
        if state is None:
            raise errors.RenderTooLong(
                f"the same PDF was being made by another process and took over {timeout} s;"
                " raise MATBAA_RENDER_TIMEOUT")
        article = load()
        if before_render is not None:
            before_render()
        result = renderer.pdf(article, options, identifier=etag)
        cache.put(etag, result.pdf, {"missing_glyphs": list(result.missing_glyphs),
                                     "file_stem": article.file_stem})
        return Delivered(result.pdf, tuple(result.missing_glyphs), article.file_stem, False)


def _from_cache(cache, etag):
    cached = cache.get(etag)
    # The file name is kept with it, so a cached PDF is served without the article.
    if cached is not None and "file_stem" in cached[1]:
        pdf, facts = cached
        return Delivered(pdf, tuple(facts.get("missing_glyphs", ())), facts["file_stem"], True)
    return None
