"""Editions made in one process: as one document, or in parts on its render processes;
and the local job runner (MATBAA_JOB_PROCESSES) that makes them without a broker."""

import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

from ..errors import MatbaaError
from .assemble import assemble, page_count
from .jobs import Jobs
from .plan import footer_shares, in_section_order, plan_parts
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


def make_edition(settings, renderer, title, articles, options, progress=None, pool=None):
    """The one way editions are made: in parallel parts on render processes when it pays
    (MATBAA_RENDER_PROCESSES > 1, more than MATBAA_EDITION_PART_ARTICLES articles, not
    archival), else as one document."""
    pool = pool or renderer.pool or _job_pool(settings)
    if (pool is None or options.archival == "1"
            or len(articles) <= settings.edition_part_articles):
        return renderer.edition_pdf(title, in_section_order(articles), options,
                                    progress=progress)
    parts = min(pool.size * 2, -(-len(articles) // settings.edition_part_articles))

    def render_part(first, part_articles, starts):
        return pool.edition_part(title, part_articles, options, first, starts)

    def render_footers(options, total, first, last):
        # The page-number pages in one share per render process, side by side.
        shares = footer_shares(first, last, pool.size)
        with ThreadPoolExecutor(max_workers=len(shares)) as executor:
            return list(executor.map(
                lambda share: pool.edition_footers(options, total, *share), shares))

    return parallel_edition(renderer, title, articles, options, render_part, parts,
                            progress=progress, render_footers=render_footers)


def _job_pool(settings):
    """Render processes for editions in this (job or CLI) process, started once."""
    if settings.render_processes < 2:
        return None
    if "pool" not in _PROCESS_STATE:
        from ..pool import RenderPool

        _PROCESS_STATE["pool"] = RenderPool(settings, settings.render_processes)
    return _PROCESS_STATE["pool"]


def parallel_edition(renderer, title, articles, options, render_part, parts, progress=None,
                     render_footers=None):
    """Lay out the parts with ``render_part(first, articles, starts)`` (called from threads,
    so it can hand each part to a render process), then assemble them."""
    ordered = in_section_order(articles)
    plan = plan_parts(ordered, parts)
    done = [0]

    def one(entry):
        result = render_part(*entry)
        done[0] += len(entry[1])
        if progress is not None:
            progress("prepared", done[0])
        return result

    with ThreadPoolExecutor(max_workers=len(plan) + 1) as executor:
        # The cover and contents need only the articles: made here meanwhile, their
        # page numbers laid over them once the parts are done.
        front = executor.submit(renderer.edition_front, title, ordered, options)
        results = list(executor.map(one, plan))
        front = front.result()
    pdf = assemble(renderer, title, ordered, options, results, render_footers, front)
    if progress is not None:
        progress("laid-out", sum(r["pages"] for r in results))
    return pdf


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
        _PROCESS_STATE["renderer"] = build_renderer(settings)
    run_edition(settings, _PROCESS_STATE["store"], _PROCESS_STATE["renderer"], job_id)
