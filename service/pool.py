"""Pool: renders run in warm worker processes that can be killed.

Under ``matbaa serve`` the web process answers requests on threads (cached PDFs,
print views, JSON) and hands every render to one of MATBAA_RENDER_PROCESSES
worker processes, each holding a warm Renderer (fonts, stylesheet, one
FontConfiguration).  This is what makes the limits hold:

- a render that runs past MATBAA_RENDER_TIMEOUT is stopped by the worker's own
  alarm; one stuck beyond that (in C code, out of reach of the alarm) is killed
  from here, answered with 503, and the worker replaced;
- renders waiting for a free worker are counted: past MATBAA_RENDER_QUEUE the
  answer is 429 with Retry-After at once, instead of a queue that grows until
  clients time out;
- a worker that dies (killed, out of memory) fails only its own render.

Workers are started with ``spawn``: the web process has threads, and forking a
threaded process can copy a held lock into the child.
"""

import logging
import multiprocessing
import threading
import time
from dataclasses import asdict

from .errors import MatbaaError, RenderBusy, RenderFailed, RenderTooLong

log = logging.getLogger(__name__)

# Seconds a worker may run past MATBAA_RENDER_TIMEOUT (its own alarm should fire
# first) before it is killed from outside.
KILL_GRACE = 5


class RenderPool:
    """A fixed number of render worker processes and a bounded wait for them."""

    def __init__(self, settings, size):
        self.settings = settings
        self.size = size
        self.max_waiting = settings.render_queue
        self.context = multiprocessing.get_context("spawn")
        self._idle = []
        self._cond = threading.Condition()
        self._waiting = 0
        self._running = 0
        self._closed = False
        self.stats = {"renders": 0, "refused": 0, "killed": 0, "lost": 0, "recycled": 0}
        # Started side by side, in the background: the web process answers at once,
        # and a render waits (up to MATBAA_RENDER_TIMEOUT) for the first ready worker.
        for _ in range(size):
            threading.Thread(target=self._start_worker, name="render-worker-start",
                             daemon=True).start()

    # -- public ---------------------------------------------------------------------

    def pdf(self, article, options, identifier):
        """Render in a worker; raises RenderBusy (429), RenderTooLong or RenderFailed (503)."""
        from .render import RenderResult

        pdf, missing = self._call("pdf", (article.to_json(), asdict(options), identifier),
                                  self.settings.render_timeout)
        return RenderResult(pdf=pdf, missing_glyphs=tuple(missing))

    def edition_part(self, title, articles, options, first_index, section_starts):
        """``Renderer.edition_part`` in a worker (editions made in parallel)."""
        return self._call("edition_part", (title, [a.to_json() for a in articles],
                                           asdict(options), first_index, list(section_starts)),
                          self.settings.edition_timeout)

    def edition_pages(self, articles, options, section_starts):
        """``Renderer.edition_pages`` in a worker: articles' pages to keep."""
        return self._call("edition_pages", ([a.to_json() for a in articles], asdict(options),
                                            list(section_starts)),
                          self.settings.edition_timeout)

    def edition_front(self, title, articles, options):
        """``Renderer.edition_front`` in a worker: an edition's cover and contents."""
        return self._call("edition_front", (title, [a.to_json() for a in articles],
                                            asdict(options)), self.settings.edition_timeout)

    def edition_numbers(self, options, pages, placed):
        """``Renderer.edition_numbers`` in a worker: the contents' page numbers."""
        return self._call("edition_numbers", (asdict(options), pages, placed),
                          self.settings.edition_timeout)

    def edition_footers(self, options, total_pages, first, last):
        """``Renderer.edition_footers`` in a worker: a share of an edition's page numbers."""
        return self._call("edition_footers", (asdict(options), total_pages, first, last),
                          self.settings.edition_timeout)

    def _call(self, method, args, timeout):
        worker = self._acquire()
        try:
            reply = self._ask(worker, method, args, timeout)
        except BaseException:
            self._replace(worker)
            raise
        self._release(worker)
        return _result(reply)

    @property
    def waiting(self):
        return self._waiting

    @property
    def running(self):
        return self._running

    @property
    def ready(self):
        """Workers started and warm (idle or rendering)."""
        return len(self._idle) + self._running

    def close(self):
        with self._cond:
            self._closed = True
            workers, self._idle = self._idle, []
            self._cond.notify_all()
        for worker in workers:
            worker.stop()

    # -- internals ------------------------------------------------------------------

    def _acquire(self):
        with self._cond:
            if self._waiting >= self.max_waiting and not self._idle:
                self.stats["refused"] += 1
                raise RenderBusy(
                    f"{self._waiting} renders are already waiting; raise MATBAA_RENDER_QUEUE "
                    "or MATBAA_RENDER_PROCESSES")
            self._waiting += 1
            try:
                deadline = time.monotonic() + self.settings.render_timeout
                while not self._idle:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._closed:
                        self.stats["refused"] += 1
                        raise RenderBusy(
                            f"no render worker was free within {self.settings.render_timeout} "
                            "s; raise MATBAA_RENDER_PROCESSES")
                    self._cond.wait(left)
                worker = self._idle.pop()
                self._running += 1
                return worker
            finally:
                self._waiting -= 1

    def _release(self, worker):
        retire = False
        with self._cond:
            self._running -= 1
            self.stats["renders"] += 1
            worker.renders += 1
            if self._closed:
                retire = True
            elif worker.retired:
                retire = True                    # its successor is already working
            else:
                if worker.renders >= self.settings.render_max_renders and not worker.retiring:
                    # WeasyPrint's memory grows a little with every document (~40 MB
                    # per 1,000 renders, measured): start a successor, then retire this
                    # one, so memory stays bounded and no render waits for it.
                    worker.retiring = True
                    threading.Thread(target=self._recycle, args=(worker,),
                                     name="render-worker-recycle", daemon=True).start()
                self._idle.append(worker)
                self._cond.notify()
        if retire:
            worker.stop()

    def _recycle(self, old):
        self._start_worker()
        with self._cond:
            old.retired = True
            idle = old in self._idle
            if idle:
                self._idle.remove(old)
        if idle:
            old.stop()
        self.stats["recycled"] += 1

    def _ask(self, worker, method, args, timeout):
        try:
            worker.conn.send((method, args))
            if not worker.conn.poll(timeout + KILL_GRACE):
                self.stats["killed"] += 1
                log.error("render worker %s stuck past the render timeout: killed",
                          worker.process.pid)
                setting = ("MATBAA_RENDER_TIMEOUT" if method == "pdf"
                           else "MATBAA_EDITION_TIMEOUT")
                raise RenderTooLong(f"the render took longer than {timeout} s; raise {setting}")
            return worker.conn.recv()
        except (EOFError, OSError):
            self.stats["lost"] += 1
            log.error("render worker %s died during a render (exit code %s)",
                      worker.process.pid, worker.process.exitcode)
            raise RenderFailed() from None

    def _replace(self, worker):
        """Kill a worker that failed or hung; start a new one in the background."""
        worker.stop(kill=True)
        with self._cond:
            self._running -= 1
            if self._closed:
                return
        threading.Thread(target=self._start_worker, name="render-worker-start",
                         daemon=True).start()

    def _start_worker(self, attempts=5):
        for attempt in range(attempts):
            if self._closed or self._try_start_worker():
                return
            time.sleep(min(2 ** attempt, 10))
        log.error("no render worker could be started after %s attempts", attempts)

    def _try_start_worker(self):
        parent, child = self.context.Pipe()
        process = self.context.Process(
            target=_serve, args=(self.settings, child), name="matbaa-render", daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        try:
            ready = parent.poll(120) and parent.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            log.error("render worker %s did not start", process.pid)
            worker.stop(kill=True)
            return False
        with self._cond:
            if self._closed:
                worker.stop()
                return True
            self._idle.append(worker)
            self._cond.notify()
        return True


class _Worker:
    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.renders = 0
        self.retiring = self.retired = False

    def stop(self, kill=False):
        if kill:
            self.process.kill()
        try:
            self.conn.close()
        except OSError:
            pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


def _serve(settings, conn):
    """A worker process: build a warm renderer, then render what arrives until EOF."""
    from .article import Article
    from .render import build_renderer
    from .template import RenderOptions

    renderer = build_renderer(settings)
    renderer.warm_up()
    conn.send("ready")
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            if method == "pdf":
                article_json, options, identifier = args
                result = renderer.pdf(Article.model_validate(article_json),
                                      RenderOptions(**options), identifier)
                reply = ("ok", (result.pdf, result.missing_glyphs))
            elif method == "edition_part":
                title, articles, options, first_index, starts = args
                reply = ("ok", renderer.edition_part(
                    title, [Article.model_validate(a) for a in articles],
                    RenderOptions(**options), first_index, starts))
            elif method == "edition_pages":
                articles, options, starts = args
                reply = ("ok", renderer.edition_pages(
                    [Article.model_validate(a) for a in articles], RenderOptions(**options),
                    starts))
            elif method == "edition_front":
                title, articles, options = args
                reply = ("ok", renderer.edition_front(
                    title, [Article.model_validate(a) for a in articles],
                    RenderOptions(**options)))
            elif method == "edition_numbers":
                options, pages, placed = args
                reply = ("ok", renderer.edition_numbers(RenderOptions(**options), pages,
                                                        placed))
            elif method == "edition_footers":
                options, total_pages, first, last = args
                reply = ("ok", renderer.edition_footers(RenderOptions(**options), total_pages,
                                                        first, last))
            else:
                raise ValueError(f"unknown method {method!r}")
        except MatbaaError as exc:
            reply = ("error", exc.to_dict())
        except Exception as exc:   # the cause stays in this process's log
            logging.getLogger(__name__).exception("render failed")
            reply = ("error", RenderFailed(
                f"the render failed ({exc.__class__.__name__}); try again").to_dict())
        conn.send(reply)


def _result(reply):
    if reply[0] == "ok":
        return reply[1]
    raise MatbaaError.from_dict(reply[1])
