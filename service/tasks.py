"""Tasks: the same jobs on Celery workers (MATBAA_BROKER_URL=redis://…), beyond one machine.

``matbaa worker`` runs these; web processes enqueue them.  Every worker process
keeps one warm Renderer and one Store (PostgreSQL when several machines share
the work: MATBAA_DATABASE_URL).  Tasks are acknowledged after they finish and
rejected when their worker process is lost, so the broker hands them out again.
"""

import logging

from celery import Celery


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
        from .edition import fail_job, plan_job

        store = _store(settings)
        try:
            parts = plan_job(settings, store, job_id)
        except Exception as exc:            # nothing to lay out: the job says why
            fail_job(store, job_id, exc)
            return
        if len(parts) > 1:       # enqueued first, so it is done before the assembly
            _enqueue(front_task, job_id)
        for part in parts:
            _enqueue(part_task, job_id, part)

    @app.task(name="matbaa.edition.front", bind=True)
    def front_task(task, job_id):
        from .edition import make_front

        try:
            make_front(settings, _store(settings), _renderer(settings), job_id)
        except Exception:       # the assembly makes the front itself if it has none
            log.exception("edition %s: the front was not made beside the parts", job_id)

    @app.task(name="matbaa.edition.part", bind=True)
    def part_task(task, job_id, part):
        from .edition import overlay_count, run_part, stalled_after_parts

        store = _store(settings)
        # The page-number pages in shares, on whichever processes are free; without a
        # front made beside the parts (no share), the assembly makes everything itself.
        shares = _step(task, store, job_id, f"part {part}",
                       lambda: run_part(settings, store, _renderer(settings), job_id, part),
                       stalled_after_parts, lambda: overlay_count(store, job_id))
        if shares is None:
            return
        for share in range(shares):
            _enqueue(overlay_task, job_id, share)
        if not shares:
            _enqueue(assemble_task, job_id)

    @app.task(name="matbaa.edition.overlay", bind=True)
    def overlay_task(task, job_id, share):
        from .edition import make_overlay, stalled_after_overlays

        store = _store(settings)
        if _step(task, store, job_id, f"page numbers {share}",
                 lambda: make_overlay(settings, store, _renderer(settings), job_id, share),
                 stalled_after_overlays, lambda: True):
            _enqueue(assemble_task, job_id)

    @app.task(name="matbaa.edition.assemble", bind=True)
    def assemble_task(task, job_id):
        from .edition import assemble_job, fail_job

        store = _store(settings)
        try:
            assemble_job(settings, store, _renderer(settings), job_id)
        except Exception as exc:
            log.exception("edition %s assembly failed", job_id)
            fail_job(store, job_id, exc)

    app.matbaa_start = start
    return app


def _step(task, store, job_id, what, run, stalled, then):
    """Run one step of an edition job (``run()``: True when this task is the one to
    hand on to the next stage) and return ``then()`` if it hands on, else None.

    A redelivered task also hands on when ``stalled(store, job_id)``: its process may
    have been lost between claiming the next stage and enqueueing it, and the next
    stages are idempotent.  A failure fails the job, with its error.
    """
    from .edition import fail_job

    try:
        if not run():
            if not (_redelivered(task) and stalled(store, job_id)):
                return None
            log.warning("edition %s: %s redelivered; its next stage enqueued again",
                        job_id, what)
        return then()
    except Exception as exc:
        log.exception("edition %s %s failed", job_id, what)
        fail_job(store, job_id, exc)
        return None


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
        from .store import Store

        _STATE["store"] = Store(settings.store_url)
    return _STATE["store"]


def _renderer(settings):
    if "renderer" not in _STATE:
        from .render import Renderer

        logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
        _STATE["renderer"] = Renderer(settings)
    return _STATE["renderer"]


def make_worker(settings):
    """The Celery app for ``matbaa worker``.

    Each worker process builds its Renderer and renders a small article as it
    starts, not when its first task comes: a job's first part on a cold process
    waited ~2 s for fonts, stylesheet and WeasyPrint's first use.
    """
    from celery.signals import worker_process_init

    app = make_celery(settings)
    # How long the parent waits for a new process to report; warming takes ~2 s.
    app.conf.worker_proc_alive_timeout = 60

    @worker_process_init.connect(weak=False)
    def warm(**_kwargs):
        try:
            _renderer(settings).warm_up()
        except Exception:      # the process still starts: its tasks then fail the job
            log.exception("the worker process could not warm its renderer")

    return app
