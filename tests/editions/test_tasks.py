"""Editions on Celery workers: real Redis, real PostgreSQL, real `matbaa worker` processes;
a worker process killed mid-job, Redis stopped and restarted mid-job."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from service.app import create_app
from service.editions import EditionSpec, Jobs, select_articles
from service.editions.plan import in_section_order
from service.settings import Settings

from ..conftest import unavailable
from ..services import Postgres, Redis, missing_reason, wait_until
from ..test_corpus import corpus_articles
from .test_edition import check_edition, same_pages
from ..test_http import assert_error


@pytest.fixture(scope="module")
def backends(tmp_path_factory):
    reason = missing_reason()
    if reason:
        unavailable(reason)
    redis = Redis(tmp_path_factory.mktemp("redis"))
    postgres = Postgres(tmp_path_factory.mktemp("postgres"))
    try:       # stopped even when the other one fails to start
        redis.start()
        postgres.start()
        yield redis, postgres
    finally:
        redis.stop()
        postgres.stop()


@pytest.fixture(scope="module")
def corpus_in_postgres(backends, shared_dir_module):
    _redis, postgres = backends
    from service.store import Store

    store = Store(postgres.url)
    articles = list(corpus_articles(shared_dir_module))
    store.upsert_many(articles)
    store.close()
    return articles


@pytest.fixture(scope="module")
def shared_dir_module():
    folder = Settings.from_env().shared_dir
    if not folder.is_dir():
        unavailable(f"corpus folder {folder} is absent (set MATBAA_SHARED_DIR)")
    return folder


def env_for(backends, data_dir):
    redis, postgres = backends
    return {"MATBAA_BROKER_URL": redis.url, "MATBAA_DATABASE_URL": postgres.url,
            "MATBAA_DATA_DIR": str(data_dir), "MATBAA_EDITION_PART_ARTICLES": "8",
            "MATBAA_EDITION_TIMEOUT": "120", "MATBAA_LOG_LEVEL": "INFO"}


class Worker:
    def __init__(self, env, folder, concurrency):
        matbaa = str(Path(sys.executable).with_name("matbaa"))
        self.log = open(folder / f"worker-{time.monotonic_ns()}.log", "ab")
        self.process = subprocess.Popen(
            [matbaa, "worker", "--concurrency", str(concurrency)],
            env={**os.environ, **env}, stdout=self.log, stderr=self.log,
            start_new_session=True)

    def children(self):
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(c) for c in path.read_text().split()] if path.exists() else []

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture
def web(backends, corpus_in_postgres, tmp_path):
    env = env_for(backends, tmp_path / "data")
    settings = Settings.from_env(environ=env)
    app = create_app(settings)
    yield settings, env, app
    app.extensions["matbaa.store"].close()


def post_edition(client, section, title):
    response = client.post("/editions", json={"title": title, "filter": {"section": section}})
    assert response.status_code == 202, response.data[:300]
    return response.headers["Location"]


def forget_kept_pages(store):
    from service.editions.kept import KeptPageRow

    with store.engine.begin() as connection:
        KeptPageRow.__table__.create(connection, checkfirst=True)
        connection.execute(KeptPageRow.__table__.delete())


def finished(client, location, seen=None):
    status = client.get(location).get_json()
    if seen is not None:
        seen.append((status["status"], status["done"]))
    return status["status"] in ("done", "failed")


def test_edition_on_workers_visible_from_any_web_process(web, tmp_path, corpus_in_postgres):
    settings, env, app = web
    worker = Worker(env, tmp_path, 2)
    try:
        client = app.test_client()
        location = post_edition(client, "culture", "ثقافة")
        seen = []
        # Asked every 10 ms: five parts on two processes take seconds, so some answer
        # falls between two parts.
        deadline = time.monotonic() + 240
        while not finished(client, location, seen):
            assert time.monotonic() < deadline, "the edition not finished within 240 s"
            time.sleep(0.01)
        # Another web process (another app on the same database) sees the same job.
        other_app = create_app(Settings.from_env(environ=env))
        other = other_app.test_client()
        status = other.get(location).get_json()
        assert status["status"] == "done", status
        assert status["done"] == status["total"] == 35
        # Progress showed part by part.
        assert any(state == "running" and 0 < done < 35 for state, done in seen), seen
        with other.get(status["pdf"]) as response:
            pdf = response.data
        assert len(PdfReader(io.BytesIO(pdf)).pages) == status["pages"]
        culture = [a for a in corpus_in_postgres if a.section == "culture"]
        check_edition(pdf, culture, tmp_path)
        # Page for page what the same edition made as one document looks like.
        store = other_app.extensions["matbaa.store"]
        job = Jobs(store).get(location.rsplit("/", 1)[1])
        chosen = in_section_order(select_articles(store, EditionSpec.from_stored(job["spec"])))
        renderer = other_app.extensions["matbaa.renderer"]
        assert same_pages(pdf, renderer.edition_pdf("ثقافة", chosen, renderer.default_options()),
                          tmp_path)
        # The front was made by its own task, beside the parts: the cover and contents
        # end where the first article (the first section's bookmark) begins.
        reader = PdfReader(io.BytesIO(pdf))
        first_article = reader.get_destination_page_number(reader.outline[1])
        job = Jobs(other_app.extensions["matbaa.store"]).get(location.rsplit("/", 1)[1])
        assert job["front_pages"] == first_article >= 2, (job["front_pages"], first_article)
        # The page-number pages were made by tasks of their own (the contents' numbers
        # and the footers), not in the assembly.
        log = Path(worker.log.name).read_text(encoding="utf-8", errors="replace")
        assert log.count("matbaa.edition.overlay[") and re.search(
            r"Task matbaa\.edition\.overlay\[[^]]+\] succeeded", log), log[-2000:]
        assert job["assembly_queued"] == 1
        # Again under another title, every article's pages kept: the parts are only
        # counted, done before the front is; the front then hands on to the page-number
        # tasks (the assembly made the front and every number itself, one after another).
        overlays = re.compile(r"Task matbaa\.edition\.overlay\[[^]]+\] succeeded")
        before = len(overlays.findall(log))
        again = post_edition(client, "culture", "ثقافة، مرة أخرى")
        wait_until(lambda: finished(client, again), 120, "the edition made again")
        status = client.get(again).get_json()
        assert status["status"] == "done", status
        with client.get(status["pdf"]) as response:
            check_edition(response.data, culture, tmp_path)
        log = Path(worker.log.name).read_text(encoding="utf-8", errors="replace")
        assert len(overlays.findall(log)) > before, log[-2000:]
        job = Jobs(other_app.extensions["matbaa.store"]).get(again.rsplit("/", 1)[1])
        assert job["overlays_queued"] == 1 and job["front_pages"] >= 2, job
        other_app.extensions["matbaa.store"].close()
    finally:
        worker.stop()


def test_worker_processes_are_warm_before_their_first_task(web, tmp_path):
    """A worker process loads fonts and WeasyPrint as it starts, not in a job's time."""
    settings, env, _app = web
    worker = Worker(env, tmp_path, 1)
    try:
        fonts = str(settings.fonts_dir.resolve())

        def warm():
            # No task was sent: only the warm-up can have opened our font files.  (Read
            # afresh each time: under load Celery may replace a process that was slow
            # to report, and its /proc entry goes with it.)
            for child in worker.children():
                try:
                    if fonts in Path(f"/proc/{child}/maps").read_text():
                        return True
                except FileNotFoundError:
                    continue
            return False

        wait_until(warm, 60, "our fonts mapped in the worker's process")
    finally:
        worker.stop()


def test_lost_worker_process_gives_its_task_to_another(web, backends, tmp_path,
                                                       corpus_in_postgres):
    """A worker process killed inside a part's task.  Held there with a lock, not timing
    (a part can take less than a second): the job's row is locked, so the first part to
    finish waits to count itself; the process is killed there and the row let go."""
    from sqlalchemy import create_engine, text

    settings, env, app = web
    _redis, postgres = backends
    worker = Worker(env, tmp_path, 1)
    engine = create_engine(postgres.url)
    try:
        client = app.test_client()
        wait_until(lambda: worker.children(), 60, "the worker's process")
        location = post_edition(client, "sport", "رياضة")
        job_id = location.rsplit("/", 1)[1]
        with engine.connect() as row:
            row.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
            wait_until(lambda: waiting_on_the_job(engine), 60, "a part waiting to count itself")
            (child,) = worker.children()
            os.kill(child, signal.SIGKILL)         # inside the part's task, for certain
            row.rollback()
        wait_until(lambda: finished(client, location), 240, "the edition")
        status = client.get(location).get_json()
        assert status["status"] == "done", status
        assert worker.children() and worker.children() != [child]   # a new process took over
        with client.get(status["pdf"]) as response:
            pdf = response.data
        check_edition(pdf, [a for a in corpus_in_postgres if a.section == "sport"], tmp_path)
    finally:
        engine.dispose()
        worker.stop()


def test_redis_stopped_and_restarted_mid_job(web, backends, tmp_path, corpus_in_postgres):
    settings, env, app = web
    redis, _postgres = backends
    worker = Worker(env, tmp_path, 2)
    try:
        client = app.test_client()
        location = post_edition(client, "economy", "اقتصاد")
        wait_until(lambda: client.get(location).get_json()["status"] == "running", 60,
                   "the job running")
        redis.stop()
        try:
            jobs_before = app.extensions["matbaa.jobs"].unfinished()
            response = client.post("/editions", json={"title": "t", "articles": ["x"]})
            error = assert_error(response, 503, "queue_unavailable")
            assert response.headers["Retry-After"]
            assert "MATBAA_BROKER_URL" in error["message_en"] or "queue" in error["message_en"]
            assert app.extensions["matbaa.jobs"].unfinished() == jobs_before   # no job made
            time.sleep(3)
        finally:
            redis.start()
        wait_until(lambda: finished(client, location), 300, "the edition after the restart")
        status = client.get(location).get_json()
        assert status["status"] == "done", status
        with client.get(status["pdf"]) as response:
            pdf = response.data
        check_edition(pdf, [a for a in corpus_in_postgres if a.section == "economy"], tmp_path)
    finally:
        worker.stop()


def waiting_on_the_job(engine):
    """Whether a worker's UPDATE of the jobs table waits on a lock."""
    from sqlalchemy import text

    with engine.connect() as connection:
        return connection.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND query LIKE 'UPDATE jobs%'")).scalar() == 1


def kill_inside_the_window(redis, row, worker, claimed, what, not_handed_on):
    """Stop Redis and let the job's row go (``row``, a connection holding its lock): the
    claim goes through and the enqueue after it keeps retrying.  Once ``claimed()``,
    check ``not_handed_on()`` and kill the worker process there; Redis starts again."""
    redis.stop()
    try:
        row.rollback()
        wait_until(claimed, 30, what)
        time.sleep(1)
        (child,) = worker.children()
        assert not_handed_on()
        os.kill(child, signal.SIGKILL)          # inside the window, for certain
    finally:
        redis.start()


def finishes_after_the_loss(client, location, worker, stage, articles, tmp_path):
    """The job finishes though a process was killed inside a claim-then-enqueue window:
    its ``stage`` task came back redelivered and enqueued the next stage again."""
    wait_until(lambda: finished(client, location), 300, "the edition after the loss")
    status = client.get(location).get_json()
    assert status["status"] == "done", status
    log = Path(worker.log.name).read_text(encoding="utf-8", errors="replace")
    assert re.search(rf"{stage} \d+ redelivered; its next stage enqueued again", log), \
        log[-3000:]
    with client.get(status["pdf"]) as response:
        check_edition(response.data, articles, tmp_path)


def test_worker_lost_between_claiming_the_next_stage_and_enqueueing_it(
        web, backends, tmp_path, corpus_in_postgres):
    """The last part's process claims the job for the page-number stage, then dies
    before that stage is enqueued.  Held in that window with a lock, not timing: the
    job's row is locked once every other part is done, so the last part waits to
    count itself; Redis is stopped and the row let go, so the claim goes through and
    the enqueue after it keeps retrying; the process is killed there.  The part comes
    back redelivered, finds the job claimed with nothing enqueued, and enqueues the
    next stage again."""
    from sqlalchemy import create_engine, text

    settings, env, app = web
    redis, postgres = backends
    # The message of a process lost while the broker was away comes back after the
    # visibility timeout (MATBAA_EDITION_TIMEOUT + 60 s): kept short here.
    env = {**env, "MATBAA_EDITION_TIMEOUT": "20"}
    worker = Worker(env, tmp_path, 1)
    jobs = app.extensions["matbaa.jobs"]
    engine = create_engine(postgres.url)
    try:
        client = app.test_client()
        wait_until(lambda: worker.children(), 60, "the worker's process")
        location = post_edition(client, "politic", "سياسة")
        job_id = location.rsplit("/", 1)[1]
        wait_until(lambda: jobs.get(job_id)["plan"], 60, "the job planned")
        job = jobs.get(job_id)
        assert len(json.loads(job["plan"])) > 1
        last = len(json.loads(job["plan"])[-1]["ids"])
        wait_until(lambda: jobs.get(job_id)["done"] == job["total"] - last, 120,
                   "every part but the last laid out")
        with engine.connect() as row:
            row.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
            wait_until(lambda: waiting_on_the_job(engine), 60,
                       "the last part waiting to count itself")
            kill_inside_the_window(         # the part counts itself, claims
                redis, row, worker,
                lambda: jobs.get(job_id)["status"] == "assembling",
                "the job claimed after its last part",
                lambda: jobs.get(job_id)["assembly_queued"] is None
                and not jobs.overlay_count(job_id))
        finishes_after_the_loss(client, location, worker, "part",
                                [a for a in corpus_in_postgres if a.section == "politic"],
                                tmp_path)
    finally:
        engine.dispose()
        worker.stop()


def test_worker_lost_between_claiming_the_assembly_and_enqueueing_it(
        web, backends, tmp_path, corpus_in_postgres):
    """The same for the last page-number task: it saves the last share, claims the
    assembly, and dies before enqueueing it.  Held there with locks, not timing: the
    page-number tables are locked until the parts are done, then the job's row until
    every share is saved (the claim waits on it); Redis is stopped and the row let go,
    so the claim goes through and the enqueue keeps retrying; the process is killed."""
    from sqlalchemy import create_engine, text

    from service.editions.tasks import overlay_plan

    settings, env, app = web
    redis, postgres = backends
    env = {**env, "MATBAA_EDITION_TIMEOUT": "20"}     # see the test above
    worker = Worker(env, tmp_path, 1)
    jobs = app.extensions["matbaa.jobs"]
    engine = create_engine(postgres.url)

    try:
        client = app.test_client()
        wait_until(lambda: worker.children(), 60, "the worker's process")
        with engine.connect() as tables, engine.connect() as row:
            tables.execute(text("LOCK TABLE job_overlays IN EXCLUSIVE MODE"))
            location = post_edition(client, "technology", "تقنية")
            job_id = location.rsplit("/", 1)[1]
            wait_until(lambda: jobs.get(job_id)["status"] == "assembling", 120,
                       "every part laid out")
            row.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
            tables.commit()                          # the page-number tasks go on
            shares = len(overlay_plan(jobs, job_id).shares)
            assert shares >= 2
            wait_until(lambda: jobs.overlay_count(job_id) == shares, 60, "every share saved")
            wait_until(lambda: waiting_on_the_job(engine), 30,
                       "the assembly's claim waiting on the job")
            kill_inside_the_window(         # the claim goes through
                redis, row, worker,
                lambda: jobs.get(job_id)["assembly_queued"] == 1, "the assembly claimed",
                lambda: jobs.get(job_id)["status"] == "assembling")   # not assembled
        finishes_after_the_loss(client, location, worker, "page numbers",
                                [a for a in corpus_in_postgres if a.section == "technology"],
                                tmp_path)
    finally:
        engine.dispose()
        worker.stop()


def test_on_postgresql_every_reader_request_asks_the_store(web):
    """PostgreSQL gives no cheap change counter: the hot path (hot.py) stays off, so an
    update made elsewhere is seen at once."""
    _settings, env, app = web
    store = app.extensions["matbaa.store"]
    assert store.generation() is None
    article = store.list(per_page=1)[0][0]
    client = app.test_client()
    first = client.get(f"/articles/{article.id}.pdf")
    assert client.get(f"/articles/{article.id}.pdf").headers["X-Matbaa-Cache"] == "hit"
    from service.store import Store

    elsewhere = Store(env["MATBAA_DATABASE_URL"])
    elsewhere.upsert(article.model_copy(update={"author": "كاتب آخر"}))
    elsewhere.close()
    again = client.get(f"/articles/{article.id}.pdf")
    assert again.headers["X-Matbaa-Cache"] == "miss" and again.data != first.data
    assert app.extensions["matbaa.hot"].kept_bytes == 0


def test_the_last_two_parts_saved_at_once_still_lead_to_assembly(backends):
    """Two workers saving the last two parts at the same moment: one of them must see
    every part done (and enqueue the assembly), or the job waits forever."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from service.editions import EditionSpec
    from service.editions.jobs import JobPartRow
    from service.store import Store

    _redis, postgres = backends
    store = Store(postgres.url)
    jobs = Jobs(store)
    job_id = jobs.create(EditionSpec.from_json(
        {"title": "أجزاء", "articles": ["a"]}, Settings.from_env()))
    part = {"pdf": b"%PDF-1.7", "pages": 1, "starts": {}}
    for number in range(3):
        jobs.save_part(job_id, number, part, 1)
    # Each save holds its part unwritten until the other has written its own.
    barrier = threading.Barrier(2, timeout=20)

    def both_written(session, _context):
        if any(isinstance(instance, JobPartRow) for instance in session.new):
            barrier.wait()

    event.listen(Session, "after_flush", both_written)
    try:
        with ThreadPoolExecutor(2) as executor:
            saved = list(executor.map(lambda n: jobs.save_part(job_id, n, part, 1), [3, 4]))
    finally:
        event.remove(Session, "after_flush", both_written)
        store.close()
    assert max(parts for _done, parts in saved) == 5, saved
    assert max(done for done, _parts in saved) == 5


def test_postgresql_restarted_mid_edition(web, backends, tmp_path, corpus_in_postgres):
    """`pg_ctl restart` while a 35-article edition is laid out on two worker processes:
    every pooled connection is dropped, and for a moment none is taken.  The steps that
    lost theirs run again (Celery retries, backoff); the edition completes."""
    settings, env, app = web
    _redis, postgres = backends
    # Laid out from nothing: with the pages an earlier test kept, the job is over
    # before the restart.
    forget_kept_pages(app.extensions["matbaa.store"])
    worker = Worker(env, tmp_path, 2)
    try:
        client = app.test_client()
        location = post_edition(client, "culture", "ثقافة بعد إعادة التشغيل")
        wait_until(lambda: 0 < client.get(location).get_json()["done"] < 35, 120,
                   "the first part laid out")
        postgres.restart()
        wait_until(lambda: finished(client, location), 300, "the edition after the restart")
        status = client.get(location).get_json()
        assert status["status"] == "done", status
        assert status["done"] == status["total"] == 35
        with client.get(status["pdf"]) as response:
            check_edition(response.data, [a for a in corpus_in_postgres
                                          if a.section == "culture"], tmp_path)
        log = Path(worker.log.name).read_text(encoding="utf-8", errors="replace")
        print("\n".join(line for line in log.splitlines() if "connection was lost" in line))
    finally:
        worker.stop()


def test_worker_started_while_postgresql_is_down(web, backends, tmp_path, corpus_in_postgres):
    """A job queued, then PostgreSQL stopped before any worker process has opened the
    store: the first task's refused connection is retried like a lost one, and the job
    completes once PostgreSQL is back (it used to stay queued, its task dropped)."""
    settings, env, app = web
    _redis, postgres = backends
    client = app.test_client()
    location = post_edition(client, "sport", "رياضة بعد توقف القاعدة")
    postgres.down()
    worker = Worker(env, tmp_path, 1)
    try:
        log_path = Path(worker.log.name)
        wait_until(lambda: "connection was lost" in log_path.read_text(errors="replace"),
                   90, "a retry of the first task")
        postgres.up()
        wait_until(lambda: finished(client, location), 180, "the edition after PostgreSQL")
        status = client.get(location).get_json()
        assert status["status"] == "done", status
        sport = [a for a in corpus_in_postgres if a.section == "sport"]
        assert status["done"] == status["total"] == len(sport)
    finally:
        worker.stop()
        if not postgres.ping():
            postgres.up()


def test_the_reaper_takes_up_jobs_whose_next_steps_were_lost(web, tmp_path, corpus_in_postgres):
    """Jobs left queued (their start task lost) and running (their part tasks lost, or
    their failure not recorded): a worker finds them within MATBAA_JOB_STALL and they
    finish."""
    from service.editions.tasks import plan_job

    settings, env, app = web
    store = app.extensions["matbaa.store"]
    jobs = Jobs(store)
    queued = jobs.create(EditionSpec(title="ضائعة", section="sport"))
    running = jobs.create(EditionSpec(title="عالقة", section="culture"))
    plan_job(settings, store, running)          # running, with parts no task will make
    assert {jobs.get(queued)["status"], jobs.get(running)["status"]} == {"queued", "running"}
    worker = Worker({**env, "MATBAA_JOB_STALL": "2"}, tmp_path, 2)
    try:
        client = app.test_client()
        for job_id in (queued, running):
            wait_until(lambda: finished(client, f"/editions/{job_id}"), 300,
                       f"job {job_id} taken up by the reaper")
            status = client.get(f"/editions/{job_id}").get_json()
            assert status["status"] == "done", status
        assert jobs.get(running)["reaped"] >= 1
        log = Path(worker.log.name).read_text(encoding="utf-8", errors="replace")
        assert "its next steps enqueued again" in log
    finally:
        worker.stop()


def test_a_job_that_never_progresses_is_failed_by_the_reaper(web, backends):
    from service.editions.tasks import REAPS, make_celery, reap

    settings, _env, app = web
    store = app.extensions["matbaa.store"]
    jobs = Jobs(store)
    job_id = jobs.create(EditionSpec(title="لن تكتمل", section="sport"))
    quick = settings.replace(job_stall=1)
    celery = make_celery(quick)
    for attempt in range(REAPS):                 # no worker: nothing it enqueues runs
        time.sleep(1.2)
        assert job_id in reap(celery, quick, store)
        assert jobs.get(job_id)["status"] == "queued"
        assert job_id not in reap(celery, quick, store)     # its clock restarted
    time.sleep(1.2)
    reap(celery, quick, store)
    job = jobs.get(job_id)
    assert job["status"] == "failed" and job["errors"][0]["code"] == "job_stalled"
    # What was enqueued for it finds a failed job and does nothing.
    import redis as redis_client
    redis_client.Redis.from_url(settings.broker_url).delete("matbaa")
