"""Editions on Celery workers (MATBAA_BROKER_URL=redis://…), beyond one machine.

``matbaa worker`` runs these tasks; web processes enqueue ``start``.  Every worker
process keeps one warm Renderer and one Store (PostgreSQL when several machines
share the work: MATBAA_DATABASE_URL).  Tasks are acknowledged after they finish
and rejected when their worker process is lost, so the broker hands them out again.

A job's states, as the tasks below move it, in this order:

    queued      made by POST /editions; ``start`` selects its articles and cuts them
                into parts (one part, "whole", when it is archival or small)
    running     the front task makes the cover and contents and one task per part
                lays out its articles (kept in job_parts); a whole part is the
                edition, saved at once (→ done)
    assembling  claimed by the task that saved the last part, which enqueues the
                page-number tasks (the contents' numbers, the footers in shares; kept
                in job_overlays); the one that saves the last share claims the
                assembly (``assembly_queued``) and enqueues it
    done        the edition is in job_files, with its SHA-256 and page count
    failed      any step that failed, with its error

Every step is idempotent.  A task redelivered after its process was lost between a
claim and the enqueue that follows enqueues the next stage again (``_step``).

The database may restart under a job: the store's reads are tried again and its
pooled connections checked before use (service.store), and a step that loses its
connection is retried by Celery with backoff (``_retry_if_lost``) instead of failing
the edition.  Whatever is still lost (a failure that could not even be recorded, every
task of a stage gone with its machine) the reaper finds: each ``matbaa worker`` looks
at start and then every few minutes for jobs without progress for MATBAA_JOB_STALL
seconds, enqueues their next steps again, and fails a job found so three times.
"""

import json
import logging
import threading
from typing import NamedTuple

from celery import Celery

from ..errors import JobStalled, RenderFailed, StoreUnavailable
from ..store import Store
from .assemble import assemble, give_back_memory, page_count
from .jobs import Jobs
from .kept import StorePages, page_key, taken_one_by_one
from .plan import OVERLAY_FOOTER_SHARES, footer_shares, in_section_order, placement, plan_parts
from .spec import EditionSpec, chosen_articles

log = logging.getLogger(__name__)
_STATE = {}


def make_celery(settings):
    app = Celery("matbaa", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json", accept_content=["json"], task_default_queue="matbaa",
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_ignore_result=True, broker_connection_retry_on_startup=True,
        # A message a worker took and never acknowledged comes back after this long
        # (a whole machine lost); a lost worker *process* is rejected at once.
        broker_transport_options={"visibility_timeout": settings.edition_timeout + 60},
        worker_hijack_root_logger=False)
    app.matbaa_settings = settings

    @app.task(name="matbaa.edition.start", bind=True)
    def start(task, job_id):
        try:
            parts = plan_job(settings, _store(settings), job_id)
        except Exception as exc:            # nothing to lay out: the job says why
            _retry_if_lost(task, exc, job_id, "planning")
            _fail(settings, job_id, exc)
            return
        if len(parts) > 1:       # enqueued first, so it is done before the assembly
            _enqueue(front_task, job_id)
        for part in parts:
            _enqueue(part_task, job_id, part)

    def after_parts(job_id, shares):
        # The page-number pages in shares, on whichever processes are free; without a
        # front made beside the parts (no share), the assembly makes everything itself.
        if shares is None:
            return
        for share in range(shares):
            _enqueue(overlay_task, job_id, share)
        if not shares:
            _enqueue(assemble_task, job_id)

    @app.task(name="matbaa.edition.front", bind=True)
    def front_task(task, job_id):
        made = True
        try:
            make_front(settings, _store(settings), _renderer(settings), job_id)
        except Exception as exc:   # the assembly makes the front itself if it has none
            _retry_if_lost(task, exc, job_id, "the front")
            log.exception("edition %s: the front was not made beside the parts", job_id)
            made = False
        # The parts may all be laid out already (kept pages are only counted): then
        # the front hands on.
        after_parts(job_id, _step(task, settings, job_id, "the front",
                                  lambda store: made or front_failed(store, job_id),
                                  lambda _store, _job_id: True, hand_on))

    @app.task(name="matbaa.edition.part", bind=True)
    def part_task(task, job_id, part):
        after_parts(job_id, _step(task, settings, job_id, f"part {part}",
                                  lambda store: run_part(settings, store, _renderer(settings),
                                                         job_id, part),
                                  stalled_after_parts, hand_on))

    @app.task(name="matbaa.edition.overlay", bind=True)
    def overlay_task(task, job_id, share):
        if _step(task, settings, job_id, f"page numbers {share}",
                 lambda store: make_overlay(settings, store, _renderer(settings), job_id,
                                            share),
                 stalled_after_overlays, lambda _store, _job_id, again=False: True):
            _enqueue(assemble_task, job_id)

    @app.task(name="matbaa.edition.assemble", bind=True)
    def assemble_task(task, job_id):
        try:
            assemble_job(settings, _store(settings), _renderer(settings), job_id)
        except Exception as exc:
            _retry_if_lost(task, exc, job_id, "assembly")
            log.exception("edition %s assembly failed", job_id)
            _fail(settings, job_id, exc)
        finally:
            give_back_memory()

    app.matbaa_start = start
    app.matbaa_tasks = {"start": start, "front": front_task, "part": part_task,
                        "overlay": overlay_task, "assemble": assemble_task}
    return app


# -- the steps, in the order the tasks run them ------------------------------


def plan_job(settings, store, job_id):
    """Select the articles and cut them into parts; returns the part numbers."""
    jobs = Jobs(store)
    spec = EditionSpec.from_stored(jobs.get(job_id)["spec"])
    articles, errors = chosen_articles(store, spec)
    articles = in_section_order(articles)
    options = spec.render_options(settings)
    whole = options.archival == "1" or len(articles) <= settings.edition_part_articles
    count = 1 if whole else -(-len(articles) // settings.edition_part_articles)
    plan = [{"first": first, "ids": [a.id for a in part], "starts": starts, "whole": whole}
            for first, part, starts in plan_parts(articles, count)]
    jobs.update(job_id, status="running", total=len(articles), plan=json.dumps(plan),
                errors=errors)
    return list(range(len(plan)))


def make_front(settings, store, renderer, job_id):
    """Make the cover and contents beside the parts (without their page numbers), so
    that assembly only lays the numbers over them (as ``parallel_edition`` does)."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] not in ("running", "assembling") \
            or job["front_pages"] is not None or job["assembly_queued"] is not None:
        return
    spec = EditionSpec.from_stored(job["spec"])
    articles = store.find(ids=[i for entry in json.loads(job["plan"]) for i in entry["ids"]])
    jobs.save_front(job_id, renderer.edition_front(spec.title, articles,
                                                   spec.render_options(settings)))


def front_failed(store, job_id):
    """The front could not be made beside the parts: said so, for the last part to
    hand on to the assembly (which makes it) rather than wait for it.  True: hand on."""
    Jobs(store).update(job_id, front_failed=1)
    return True


def hand_on(store, job_id, again=False):
    """What follows the parts, once they are all laid out and the front made beside
    them: the number of page-number shares to enqueue, 0 for the assembly alone (the
    front failed: it makes everything), or None (not both there yet: the other hands
    on).  Called by the last part and by the front task, whichever comes last; the
    one that claims (a conditional UPDATE) hands on, or ``again`` a redelivered task
    whose process may have been lost after claiming."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] != "assembling":
        return None
    if job["front_pages"] is not None:
        return overlay_count(store, job_id) if again or jobs.claim_overlays(job_id) else None
    if job["front_failed"]:
        return 0 if again or jobs.claim_assembly(job_id) else None
    return None


def run_part(settings, store, renderer, job_id, part_no):
    """Lay out one part; returns True when every part of the job is done."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] not in ("running",):
        return False          # finished, failed or removed meanwhile: nothing to do
    spec = EditionSpec.from_stored(job["spec"])
    plan = json.loads(job["plan"])
    entry = plan[part_no]
    articles = store.find(ids=entry["ids"])
    options = spec.render_options(settings)
    if entry["whole"]:
        pdf = renderer.edition_pdf(spec.title, articles, options)
        if jobs.claim(job_id, "running", "assembling"):
            jobs.save_result(job_id, pdf, page_count(pdf))
        return False
    result = part_pages(settings, store, renderer, entry, articles, options)
    _done, parts_done = jobs.save_part(job_id, part_no, result, len(articles))
    return parts_done == len(plan) and jobs.claim(job_id, "running", "assembling")


def part_pages(settings, store, renderer, entry, articles, options, pdfs=False):
    """Make or find the kept pages of a part's articles (in the store, shared by every
    worker); returns the part's page count and where each article starts, and with
    ``pdfs`` the pages themselves (one PDF per article, made again if evicted since)."""
    kept = StorePages(store, settings.cache_max_bytes)
    keys = [page_key(renderer, a, options, index in entry["starts"])
            for index, a in enumerate(articles, entry["first"])]
    # Counted now; with ``pdfs``, each read as the edition takes it.
    found = [(None, count) if count is not None else None for count in kept.counts(keys)]
    missing = [i for i, one in enumerate(found) if one is None]

    def lay_out(indexes):
        return renderer.edition_pages(
            [articles[i] for i in indexes], options,
            [n for n, i in enumerate(indexes, 1) if entry["first"] + i in entry["starts"]])

    if missing:
        for i, (pdf, count) in zip(missing, lay_out(missing)):
            kept.put(keys[i], pdf, count)
            found[i] = (pdf if pdfs else None, count)
    starts, page = {}, 1
    for index, (_pdf, count) in enumerate(found, entry["first"]):
        starts[index], page = page, page + count
    result = {"pdf": b"", "pages": page - 1, "starts": starts}
    if pdfs:
        result["pdfs"] = taken_one_by_one(found, kept, keys, lambda i: lay_out([i])[0])
    return result


class OverlayPlan(NamedTuple):
    """A job's page-number pages, made by its overlay tasks: ``shares[0]`` is None (the
    contents' numbers, ``placed``), the others runs of footer pages."""

    front_pages: int
    total: int
    placed: dict
    shares: list


def overlay_plan(jobs, job_id, front=None):
    """The page-number pages a job's overlay tasks make, or None when its front was
    not made beside the parts (the assembly then makes it, and them, itself).
    ``front``: the job's front, when the caller has it already."""
    front = front or jobs.front(job_id, pdf=False)
    if front is None:
        return None
    total, _numbers, placed, first_footer = placement(front, jobs.part_layout(job_id))
    return OverlayPlan(front["pages"], total, placed,
                       [None, *footer_shares(first_footer, total, OVERLAY_FOOTER_SHARES)])


def overlay_count(store, job_id):
    """How many overlay tasks to enqueue once the last part is laid out (0: none,
    enqueue the assembly)."""
    plan = overlay_plan(Jobs(store), job_id)
    return 0 if plan is None else len(plan.shares)


def stalled_after_parts(store, job_id):
    """Whether the page-number stage may never have been enqueued: the job was claimed
    after its parts, and its assembly is not enqueued yet.  For a redelivered part
    task, whose process may have been lost between the claim and the enqueue."""
    job = Jobs(store).get(job_id)
    return job is not None and job["status"] == "assembling" and job["assembly_queued"] is None


def stalled_after_overlays(store, job_id):
    """Whether every page-number share is kept and the job not yet assembled: for a
    redelivered page-number task, as above (assembling again is harmless)."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] != "assembling":
        return False
    plan = overlay_plan(jobs, job_id)
    return plan is not None and jobs.overlay_count(job_id) == len(plan.shares)


def make_overlay(settings, store, renderer, job_id, share):
    """Make one share of the page-number pages; True for the one task that saved
    the last share and so enqueues the assembly."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    plan = overlay_plan(jobs, job_id) if job and job["status"] == "assembling" else None
    if plan is None:         # done (its front gone with its parts) or removed meanwhile
        return False
    options = EditionSpec.from_stored(job["spec"]).render_options(settings)
    if plan.shares[share] is None:
        pdf = renderer.edition_numbers(options, plan.front_pages, plan.placed)
    else:
        pdf = renderer.edition_footers(options, plan.total, *plan.shares[share])
    return (jobs.save_overlay(job_id, share, pdf) == len(plan.shares)
            and jobs.claim_assembly(job_id))


def assemble_job(settings, store, renderer, job_id):
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] != "assembling":
        return
    spec = EditionSpec.from_stored(job["spec"])
    ids = [i for entry in json.loads(job["plan"]) for i in entry["ids"]]
    articles = store.find(ids=ids)
    # A front not made yet (its task not run, or failed) is made here, and then
    # its page numbers too: time, not correctness.
    front, overlays = jobs.front(job_id), None
    if front is not None:
        made = jobs.overlays(job_id)
        overlays = made if len(made) == len(overlay_plan(jobs, job_id, front).shares) else None
    options = spec.render_options(settings)
    by_id = {a.id: a for a in articles}
    # Each part's kept pages counted, and read one by one as the edition is put together.
    parts = [part_pages(settings, store, renderer, entry, [by_id[i] for i in entry["ids"]],
                        options, pdfs=True) for entry in json.loads(job["plan"])]
    if [(p["pages"], p["starts"]) for p in parts] != [
            (p["pages"], p["starts"]) for p in jobs.part_layout(job_id)]:
        # An article stored again since its part was counted: the contents' numbers
        # would point elsewhere.
        raise RenderFailed("an article of the edition changed while it was made; "
                           "make the edition again")
    pdf = assemble(renderer, spec.title, articles, options, parts, front=front,
                   overlays=overlays, fonts=renderer.font_files)
    jobs.save_result(job_id, pdf, page_count(pdf))


# -- handing on ------------------------------------------------------------


def _step(task, settings, job_id, what, run, stalled, then):
    """Run one step of an edition job (``run(store)``: True when this task is the one
    to hand on to the next stage) and return ``then(store, job_id)`` if it hands on,
    else None.

    A redelivered task also hands on when ``stalled(store, job_id)``: its process may
    have been lost between claiming the next stage and enqueueing it, and the next
    stages are idempotent.  A failure fails the job, with its error.
    """
    try:
        # Opened here, inside the retry: a process's first task may find the database
        # restarting.
        store = _store(settings)
        if not run(store):
            # A retry (after a lost connection) may have claimed before it lost it.
            if not ((_redelivered(task) or task.request.retries) and stalled(store, job_id)):
                return None
            log.warning("edition %s: %s redelivered; its next stage enqueued again",
                        job_id, what)
            return then(store, job_id, again=True)
        return then(store, job_id)
    except Exception as exc:
        _retry_if_lost(task, exc, job_id, what)
        log.exception("edition %s %s failed", job_id, what)
        _fail(settings, job_id, exc)
        return None


def _fail(settings, job_id, exc):
    """Record a job's failure; when even that cannot be done (the store away for longer
    than the retries), the reaper finds the job without progress."""
    try:
        Jobs(_store(settings)).fail(job_id, exc)
    except StoreUnavailable:
        log.exception("edition %s: its failure could not be recorded", job_id)


# Retries of a step whose connection to the store was lost: 1, 2, 4 … 30 s apart,
# about five minutes in all, then the job fails with the store's error.
STORE_RETRIES = 14


def _retry_if_lost(task, exc, job_id, what):
    """Raise Celery's Retry for a step that lost the store's connection (PostgreSQL
    restarting): the step runs again later instead of failing the edition.  Every
    step is idempotent, so running it again is safe.  Returns for any other error."""
    if not (isinstance(exc, StoreUnavailable) and exc.transient):
        return
    if task.request.retries >= STORE_RETRIES:
        return
    countdown = min(2 ** task.request.retries, 30)
    log.warning("edition %s %s: the store's connection was lost (%s); again in %d s",
                job_id, what, exc.message_en, countdown)
    raise task.retry(countdown=countdown, max_retries=STORE_RETRIES)


def _redelivered(task):
    """Whether the broker handed this task out before (its worker process was lost, or
    its machine did not acknowledge it in time)."""
    return bool((task.request.delivery_info or {}).get("redelivered"))


# The broker may be away for a while (restarted): keep trying to hand on the next
# task rather than fail a job whose work is already done.
_RETRY = {"max_retries": 60, "interval_start": 1, "interval_step": 1, "interval_max": 5}


def _enqueue(task, *args):
    task.apply_async(args, retry=True, retry_policy=_RETRY)


def _store(settings):
    if "store" not in _STATE:
        _STATE["store"] = Store(settings.store_url)
    return _STATE["store"]


def _renderer(settings):
    if "renderer" not in _STATE:
        from ..render import build_renderer

        _STATE["renderer"] = build_renderer(settings)
    return _STATE["renderer"]


# Times a job is taken up again for want of progress before it is failed.
REAPS = 3


def reap(app, settings, store):
    """Jobs without progress for MATBAA_JOB_STALL seconds: their next steps enqueued
    again (each step is idempotent), or, the fourth time, the job failed.  Returns the
    ids of the jobs taken up."""
    jobs, tasks = Jobs(store), app.matbaa_tasks
    taken = []
    for job_id, status, updated_at, reaped in jobs.stalled(settings.job_stall):
        if not jobs.claim_stalled(job_id, updated_at):
            continue                    # another worker's reaper took it
        taken.append(job_id)
        if (reaped or 0) >= REAPS:
            log.error("edition %s: no progress, %d times; failed", job_id, REAPS)
            jobs.fail(job_id, JobStalled(settings.job_stall, REAPS))
            continue
        log.warning("edition %s: no progress for %d s while %s; its next steps enqueued "
                    "again", job_id, settings.job_stall, status)
        if status == "queued":
            _enqueue(tasks["start"], job_id)
        elif status == "running":
            job = jobs.get(job_id)
            plan = json.loads(job["plan"] or "[]")
            if len(plan) > 1 and job["front_pages"] is None:
                _enqueue(tasks["front"], job_id)
            for part in sorted(set(range(len(plan))) - jobs.saved_parts(job_id)):
                _enqueue(tasks["part"], job_id, part)
        else:                     # assembling: the assembly makes whatever is missing
            _enqueue(tasks["assemble"], job_id)
    return taken


def _reaper(app, settings, stop):
    """The reaper's loop, in the worker's main process: at start, then every few
    minutes (a quarter of MATBAA_JOB_STALL, between 5 s and 5 min)."""
    interval = max(5, min(300, settings.job_stall / 4))
    store = None
    while True:
        try:
            # Opened in the loop: the worker may start while the database is away.
            store = store or Store(settings.store_url)
            reap(app, settings, store)
        except Exception:         # the store away: try again at the next round
            log.exception("the edition reaper could not look for stalled jobs")
        if stop.wait(interval):
            return


def make_worker(settings):
    """The Celery app for ``matbaa worker``.

    Each worker process builds its Renderer and renders a small article as it
    starts, not when its first task comes: a job's first part on a cold process
    waited ~2 s for fonts, stylesheet and WeasyPrint's first use.
    """
    from celery.signals import worker_process_init, worker_ready, worker_shutdown

    app = make_celery(settings)
    # How long the parent waits for a new process to report; warming takes ~2 s.
    app.conf.worker_proc_alive_timeout = 60

    stop = threading.Event()

    @worker_ready.connect(weak=False)
    def start_reaper(**_kwargs):
        threading.Thread(target=_reaper, args=(app, settings, stop), name="reaper",
                         daemon=True).start()

    @worker_shutdown.connect(weak=False)
    def stop_reaper(**_kwargs):
        stop.set()

    @worker_process_init.connect(weak=False)
    def warm(**_kwargs):
        try:
            _renderer(settings).warm_up()
        except Exception:      # the process still starts: its tasks then fail the job
            log.exception("the worker process could not warm its renderer")

    return app
