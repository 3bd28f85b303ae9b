"""Editions made in one process: as one document, or in parts on its render processes;
and the local job runner (MATBAA_JOB_PROCESSES) that makes them without a broker."""

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from ..errors import MatbaaError
from .assemble import assemble, give_back_memory, kept_body, page_count
from .jobs import Jobs
from .kept import FolderPages, page_key, taken_one_by_one
from .plan import footer_shares, in_section_order, section_openers
from .spec import EditionSpec, chosen_articles

log = logging.getLogger(__name__)


def run_edition(settings, store, renderer, job_id):
    """Make one edition job's PDF (in whichever process runs jobs): queued → running →
    done, or failed with its error."""
    jobs = Jobs(store)
    spec = EditionSpec.from_stored(jobs.get(job_id)["spec"])
    jobs.update(job_id, status="running")
    try:
        articles, errors = chosen_articles(store, spec)
        jobs.update(job_id, total=len(articles), errors=errors)

        def progress(stage, count):
            # "prepared" counts articles turned into HTML; "laid-out" gives the pages.
            if stage == "laid-out":
                jobs.update(job_id, done=len(articles), pages=count)
            elif count % 25 == 0:
                jobs.update(job_id, done=count)

        pdf = make_edition(settings, renderer, spec.title, articles,
                           spec.render_options(settings), progress=progress)
        jobs.save_result(job_id, pdf, page_count(pdf))
    except Exception as exc:
        if not isinstance(exc, MatbaaError):
            log.exception("edition job %s failed", job_id)
        jobs.fail(job_id, exc)


def make_edition(settings, renderer, title, articles, options, progress=None, pool=None,
                 kept=None):
    """The one way editions are made.  Archival editions are laid out as one document
    (PDF/A and its tags are kept whole).  Others are assembled from their articles'
    kept pages (``kept``, by default the PDF cache folder): those not kept yet are laid
    out first, in parts of about MATBAA_EDITION_PART_ARTICLES articles side by side on
    the render processes when there are several, and kept for the next edition; the
    cover and contents are made meanwhile, the page numbers after."""
    pool = pool or renderer.pool or _job_pool(settings)
    ordered = in_section_order(articles)
    if options.archival == "1":
        return renderer.edition_pdf(title, ordered, options, progress=progress)
    kept = kept or folder_pages(settings)
    opens = section_openers(ordered)
    keys = [page_key(renderer, a, options, i in opens) for i, a in enumerate(ordered, 1)]
    # Only their page counts now: each kept PDF is read as the edition takes it.
    pages = [(None, count) if count is not None else None for count in kept.counts(keys)]
    missing = [i for i, found in enumerate(pages) if found is None]
    workers = pool.size if pool is not None else 1
    chunks = [[missing[j] for j in range(k, min(k + size, len(missing)))]
              for k, size in _chunk_bounds(len(missing), settings.edition_part_articles,
                                           workers * 2)]
    lay_out = (pool or renderer).edition_pages
    done = [len(ordered) - len(missing)]

    def one(chunk):
        made = lay_out([ordered[i] for i in chunk], options,
                       [n for n, i in enumerate(chunk, 1) if i + 1 in opens])
        for i, (pdf, count) in zip(chunk, made):
            # Kept for the next edition, and read back from there when this one takes
            # it: not held meanwhile.  Held when it could not be written.
            pages[i] = (None, count) if kept.put(keys[i], pdf, count) else (pdf, count)
        done[0] += len(chunk)
        if progress is not None:
            progress("prepared", done[0])

    # One chunk waiting per render process, not all at once: they count against
    # MATBAA_RENDER_QUEUE as readers' renders do.
    with ThreadPoolExecutor(max_workers=workers + 2) as executor:
        # The cover and contents need only the articles: made meanwhile, their page
        # numbers laid over them once every article's pages are counted.
        front = executor.submit((pool or renderer).edition_front, title, ordered, options)
        list(executor.map(one, chunks))
        starts, first = {}, 1
        for index, (_pdf, count) in enumerate(pages, 1):
            starts[index], first = first, first + count

        def lay_out_one(index):
            return lay_out([ordered[index]], options, [1] if index + 1 in opens else [])[0]

        part = {"pdfs": taken_one_by_one(pages, kept, keys, lay_out_one),
                "pages": first - 1, "starts": starts}
        # The articles' pages put together here while the render processes make the
        # front and the page numbers.
        body = executor.submit(kept_body, [part], renderer.font_files)
        pdf = assemble(pool or renderer, title, ordered, options, [part],
                       _footers_on(pool) if pool is not None else None, front.result(),
                       body=body)
    if progress is not None:
        progress("laid-out", part["pages"])
    return pdf


def _chunk_bounds(count, size, most):
    """``count`` items in runs of about ``size`` (at least ``most`` runs when there are
    that many items, so every render process has one): [(first, length)]."""
    if count == 0:
        return []
    runs = max(min(most, count), -(-count // max(1, size)))
    bounds = [count * i // runs for i in range(runs + 1)]
    return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(runs)]


def _footers_on(pool):
    def render_footers(options, total, first, last):
        # The page-number pages in one share per render process, side by side.
        shares = footer_shares(first, last, pool.size)
        with ThreadPoolExecutor(max_workers=len(shares)) as executor:
            return list(executor.map(
                lambda share: pool.edition_footers(options, total, *share), shares))
    return render_footers


def folder_pages(settings):
    """Kept pages in this machine's PDF cache folder."""
    from ..cache import PdfCache

    return FolderPages(PdfCache(settings.pdf_cache_dir, settings.cache_max_bytes))


def _job_pool(settings):
    """Render processes for editions in this (job or CLI) process, started once."""
    if settings.render_processes < 2:
        return None
    if "pool" not in _PROCESS_STATE:
        from ..pool import RenderPool

        _PROCESS_STATE["pool"] = RenderPool(settings, settings.render_processes)
    return _PROCESS_STATE["pool"]


# -- the local job runner ------------------------------------------------------------


class LocalJobs:
    """Jobs run one at a time in a worker process of their own (spawned, warm on first use)."""

    def __init__(self, settings):
        self.settings = settings
        self.executor = ProcessPoolExecutor(
            max_workers=settings.job_processes, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, job_id):
        return self.executor.submit(_run_job, self.settings, job_id)

    def close(self):
        self.executor.shutdown(wait=False, cancel_futures=True)


_PROCESS_STATE = {}


def _run_job(settings, job_id):
    from ..render import build_renderer
    from ..store import Store

    # One store and renderer per job process, reused by the jobs it runs.
    if "renderer" not in _PROCESS_STATE:
        _PROCESS_STATE["store"] = Store(settings.store_url)
        # With render processes of its own, this process only assembles what they lay
        # out: WeasyPrint is not loaded here unless an edition needs it (archival).
        _PROCESS_STATE["renderer"] = build_renderer(
            settings, engine=settings.render_processes < 2)
    try:
        run_edition(settings, _PROCESS_STATE["store"], _PROCESS_STATE["renderer"], job_id)
    finally:
        give_back_memory()

