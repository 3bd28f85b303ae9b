"""Edition speed: all corpus articles as one edition, one document vs assembled from kept
article pages (cold, warm, half kept).

    .venv/bin/python bench/edition.py [--processes 1 2]

Writes the "Editions" section of bench/RESULTS.md (seconds, pages, seconds per
article and per page, peak memory of the process and of each render process).
"""

import argparse
import itertools
import os
import re
import resource
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402  (bench helpers)


def corpus(shared):
    from tests.test_corpus import corpus_articles   # the corpus as the tests read it

    return corpus_articles(shared)


def peak_mb(pid):
    try:
        text = Path(f"/proc/{pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", text)[1]) / 1024
    except (OSError, TypeError):
        return 0


def descendants(pid):
    """The processes under ``pid`` (the job process and its render processes)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        found += [int(child), *descendants(int(child))]
    return found


def more_articles(articles, count):
    """``count`` articles: the corpus again under other ids, as an archive's years."""
    made = []
    while len(made) < count:
        copy = len(made) // len(articles)
        made += [a if copy == 0 else a.model_copy(update={"id": f"{a.id}-{copy}"})
                 for a in articles[:count - len(made)]]
    return made


def run_job(client, body, timeout=1800):
    """POST /editions, then its status until done: seconds, pages, the PDF."""
    from tests.services import wait_until

    start = time.perf_counter()
    response = client.post("/editions", json=body)
    assert response.status_code == 202, response.get_json()
    location = response.headers["Location"]
    wait_until(lambda: client.get(location).get_json()["status"] in ("done", "failed"),
               timeout, "the edition")
    status = client.get(location).get_json()
    assert status["status"] == "done", status
    with client.get(status["pdf"]) as answer:
        elapsed = time.perf_counter() - start
        return elapsed, status["pages"], answer.data


UPDATES = itertools.count(1)


def three_runs(client, store, articles, label, peaks):
    """Cold, warm (another title) and half kept (every other article stored again)."""
    rows = []
    for name in ("cold (nothing kept)", "warm (all kept)", "half kept"):
        if name == "half kept":
            mark = " ·" * next(UPDATES)
            store.upsert_many([a.model_copy(update={"title": a.title + mark})
                               for a in articles[::2]])
        seconds, pages, pdf = run_job(client, {"title": f"كل المقالات، {name}", "filter": {}})
        rows.append((f"{name}, {label}", seconds, pages, len(pdf), peaks()))
        print(*rows[-1], flush=True)
    return rows


def main():
    from io import BytesIO

    from pypdf import PdfReader

    from service.app import create_app
    from service.editions.plan import in_section_order
    from service.render import Renderer
    from service.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--articles", type=int, default=0,
                        help="this many articles (the corpus again under other ids), "
                             "local only, no one-document row; default: the corpus")
    parser.add_argument("--celery", action="store_true",
                        help="also on `matbaa worker` processes (Redis, PostgreSQL started here)")
    args = parser.parse_args()
    settings = Settings.from_env(data_dir=Path(tempfile.mkdtemp()))
    articles = list(corpus(settings.shared_dir))
    if args.articles:
        articles = more_articles(articles, args.articles)
    rows = []
    if not args.articles:
        renderer = Renderer(settings)
        start = time.perf_counter()
        pdf = renderer.edition_pdf("كل المقالات", in_section_order(articles),
                                   renderer.default_options())
        rows.append(("one document, this process", time.perf_counter() - start,
                     len(PdfReader(BytesIO(pdf)).pages), len(pdf),
                     [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
    for count in args.processes:
        # A data folder of its own: SQLite store, cache folder, nothing kept yet; the
        # articles stored directly (no background keeping), one job process.
        env = {"MATBAA_DATA_DIR": tempfile.mkdtemp(prefix="matbaa-bench-"),
               "MATBAA_RENDER_PROCESSES": str(count), "MATBAA_JOB_PROCESSES": "1",
               "MATBAA_KEEP_EDITION_PAGES": "0", "MATBAA_LOG_LEVEL": "WARNING"}
        app = create_app(Settings.from_env(environ=env))
        store = app.extensions["matbaa.store"]
        store.upsert_many(articles)
        client = app.test_client()
        # The job process and its render processes started and warm, on one article
        # stored again afterwards (so that the cold run finds nothing kept).
        run_job(client, {"title": "تحمية", "articles": [articles[0].id]})
        store.upsert_many([articles[0].model_copy(update={"title": articles[0].title + " "})])
        try:
            rows += three_runs(client, store, articles, f"{count} render process(es)",
                               lambda: [peak_mb(os.getpid())] + [
                                   peak_mb(p) for p in descendants(os.getpid())])
        finally:
            if "matbaa.job_runner" in app.extensions:
                app.extensions["matbaa.job_runner"].executor.shutdown(wait=True)
            store.close()
    if args.celery:
        rows += celery_rows(articles, args.processes)
    lines = [f"## Editions: {len(articles)} articles in one PDF", "",
             f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
             f"`.venv/bin/python bench/edition.py --processes {' '.join(map(str, args.processes))}"
             f"{f' --articles {args.articles}' if args.articles else ''}"
             f"{' --celery' if args.celery else ''}`",
             "- one document: WeasyPrint lays out cover, contents (target-counter) and every "
             "article at once, in this process; the others are jobs through `POST /editions`, "
             "timed to the PDF downloaded, assembled from kept article pages (README, "
             "Editions): cold with nothing kept, warm with every article kept (another "
             "title), half kept with every other article stored again since; peak memory of "
             "the process that posts (and, locally, runs the web app), then of each job and "
             "render process.", "",
             "| how | seconds | pages | s/article | s/page | PDF MB | peak MB per process |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, seconds, pages, size, peaks in rows:
        lines.append(f"| {name} | {seconds:.1f} | {pages} | {seconds / len(articles):.3f} | "
                     f"{seconds / pages:.3f} | {size / 1e6:.1f} | "
                     + ", ".join(f"{p:.0f}" for p in peaks) + " |")
    section = "\n".join(lines) + "\n"
    run.write_section(f"Editions: {len(articles)} articles", section)


def celery_rows(articles, counts):
    """The same editions as jobs on Celery workers (real Redis and PostgreSQL, on
    127.0.0.1), kept pages in the store, after a warm-up job."""
    import subprocess

    from sqlalchemy import text

    from service.app import create_app
    from service.editions.kept import StorePages
    from service.settings import Settings
    from tests.services import Postgres, Redis

    folder = Path(tempfile.mkdtemp(prefix="matbaa-bench-celery-"))
    redis, postgres = Redis(folder / "redis"), Postgres(folder / "pg")
    rows = []
    try:       # stopped even when the other one fails to start
        redis.start()
        postgres.start()
        env = {"MATBAA_BROKER_URL": redis.url, "MATBAA_DATABASE_URL": postgres.url,
               "MATBAA_DATA_DIR": str(folder / "data"), "MATBAA_LOG_LEVEL": "WARNING",
               "MATBAA_KEEP_EDITION_PAGES": "0"}
        app = create_app(Settings.from_env(environ=env))
        store = app.extensions["matbaa.store"]
        store.upsert_many(articles)
        client = app.test_client()
        for count in counts:
            worker = subprocess.Popen(
                [str(ROOT / ".venv/bin/matbaa"), "worker", "--concurrency", str(count)],
                env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                for _ in range(count):           # warm every worker process
                    run_job(client, {"title": "تحمية", "articles": [articles[0].id]})
                StorePages(store, 0)                # nothing kept for the cold run
                with store.engine.begin() as connection:
                    connection.execute(text("DELETE FROM kept_pages"))
                rows += three_runs(client, store, articles,
                                   f"Celery, 1 worker with {count} process(es)",
                                   lambda: [peak_mb(p) for p in descendants(worker.pid)])
            finally:
                os.killpg(worker.pid, 15)
                worker.wait(timeout=60)
        store.close()
    finally:
        redis.stop()
        postgres.stop()
    return rows


if __name__ == "__main__":
    main()
