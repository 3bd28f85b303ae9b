"""Pre-render: an article's default PDF made in the background once it is stored.

After ``PUT /articles/<id>`` or the WordPress hook the first reader should find the
PDF already in the cache.  The work goes through one bounded queue and one thread
per web process, so a client that stores articles faster than they can be printed
costs a queue slot each, never a thread each: past MATBAA_PRERENDER_QUEUE waiting,
an article is left for its first reader to render, and that is counted and logged.
"""

import logging
import queue
import threading

from .errors import MatbaaError

log = logging.getLogger(__name__)
# A thread with nothing to do for this long ends (an app made and dropped, as tests do,
# leaves no thread behind for long).
IDLE_SECONDS = 5


class Prerenders:
    """A bounded queue of (article, options) and the thread that renders them."""

    def __init__(self, render, size, on_skipped=None):
        self.render = render              # (article, options) -> anything; the cache's trip
        self._queue = queue.Queue(maxsize=size) if size > 0 else None
        self._waiting = set()             # (id, revision, options) queued, so once each
        self._lock = threading.Lock()
        self._thread = None
        self.on_skipped = on_skipped

    def submit(self, article, options):
        """Queue ``article``'s PDF; False when the queue is full or off."""
        if self._queue is None:
            return False
        key = (article.id, article.revision, options.key)
        with self._lock:
            if key in self._waiting:
                return True
            try:
                self._queue.put_nowait((key, article, options))
            except queue.Full:
                log.warning("pre-render of %s left to its first reader: %d already waiting "
                            "(MATBAA_PRERENDER_QUEUE)", article.id, self._queue.maxsize)
                if self.on_skipped is not None:
                    self.on_skipped()
                return False
            self._waiting.add(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="prerender",
                                                daemon=True)
                self._thread.start()
        return True

    @property
    def waiting(self):
        return self._queue.qsize() if self._queue is not None else 0

    def join(self):
        """Wait until every queued article has been rendered (or failed)."""
        if self._queue is not None:
            self._queue.join()

    def _work(self):
        while True:
            try:
                key, article, options = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:          # idle: the thread ends; the next submit starts one
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            try:
                self.render(article, options)
            except MatbaaError as exc:   # busy, too long: the first reader waits
                log.warning("pre-render of %s not done: %s", article.id, exc.message_en)
            except Exception:
                log.exception("pre-render of %s failed", article.id)
            finally:
                with self._lock:
                    self._waiting.discard(key)
                self._queue.task_done()
