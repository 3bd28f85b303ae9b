"""Edition speed: all corpus articles as one edition, one document vs assembled from kept
article pages (cold, warm, half kept).

    .venv/bin/python bench/edition.py [--processes 1 2]

Writes the "Editions" section of bench/RESULTS.md (seconds, pages, seconds per
article and per page, peak memory of the process and of each render process).
"""

import argparse
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


def main():
    from io import BytesIO

    from pypdf import PdfReader

    from service.editions import make_edition
    from service.editions.plan import in_section_order
    from service.pool import RenderPool
    from service.render import Renderer
    from service.settings import Settings

    parser = argparse.ArgumentParser()
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--celery", action="store_true",
                        help="also on `matbaa worker` processes (Redis, PostgreSQL started here)")
    args = parser.parse_args()
    settings = Settings.from_env(data_dir=Path(tempfile.mkdtemp()))
    articles = list(corpus(settings.shared_dir))
    renderer = Renderer(settings)
    options = renderer.default_options()
    rows = []
    start = time.perf_counter()
    pdf = renderer.edition_pdf("كل المقالات", in_section_order(articles), options)
    rows.append(("one document, this process", time.perf_counter() - start,
                 len(PdfReader(BytesIO(pdf)).pages), len(pdf),
                 [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))
    for count in args.processes:
        pool = RenderPool(settings, count)
        while pool.ready < count:
            time.sleep(0.1)
        # A cache folder of its own: the first edition finds nothing kept.
        run_settings = settings.replace(render_processes=max(count, 2),
                                        cache_dir=Path(tempfile.mkdtemp()))
        # Half the articles updated since: their kept pages are stale.
        half = [a.model_copy(update={"title": a.title + " ·"}) if i % 2 else a
                for i, a in enumerate(articles)]
        try:
            for name, chosen in (("cold (nothing kept)", articles), ("warm (all kept)", articles),
                                 ("half kept", half)):
                start = time.perf_counter()
                pdf = make_edition(run_settings, renderer, "كل المقالات", chosen, options,
                                   pool=pool)
                elapsed = time.perf_counter() - start
                peaks = [peak_mb(w.process.pid) for w in pool._idle]
                rows.append((f"{name}, {count} render process(es)", elapsed,
                             len(PdfReader(BytesIO(pdf)).pages), len(pdf),
                             [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                              *peaks]))
        finally:
            pool.close()
    if args.celery:
        rows += celery_rows(articles, args.processes)
    lines = ["## Editions: all 304 corpus articles in one PDF", "",
             f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
             f"`.venv/bin/python bench/edition.py --processes {' '.join(map(str, args.processes))}"
             f"{' --celery' if args.celery else ''}`",
             "- one document: WeasyPrint lays out cover, contents (target-counter) and every "
             "article at once; the others are assembled from kept article pages (README, "
             "Editions): cold with nothing kept, warm with every article kept, half kept "
             "with every other article updated since; peak memory of this process, then of "
             "each render process.", "",
             "| how | seconds | pages | s/article | s/page | PDF MB | peak MB per process |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, seconds, pages, size, peaks in rows:
        lines.append(f"| {name} | {seconds:.1f} | {pages} | {seconds / len(articles):.3f} | "
                     f"{seconds / pages:.3f} | {size / 1e6:.1f} | "
                     + ", ".join(f"{p:.0f}" for p in peaks) + " |")
    section = "\n".join(lines) + "\n"
    run.write_section("Editions", section)


def celery_rows(articles, counts):
    """The same edition as a job on Celery workers (real Redis and PostgreSQL, on
    127.0.0.1), timed from POST /editions to done, after a warm-up job."""
    import os
    import subprocess
    from io import BytesIO

    from pypdf import PdfReader

    from service.app import create_app
    from service.settings import Settings
    from service.store import Store
    from tests.services import Postgres, Redis, wait_until

    folder = Path(tempfile.mkdtemp(prefix="matbaa-bench-celery-"))
    redis, postgres = Redis(folder / "redis"), Postgres(folder / "pg")
    rows = []
    try:       # stopped even when the other one fails to start
        redis.start()
        postgres.start()
        store = Store(postgres.url)
        store.upsert_many(articles)
        store.close()
        env = {"MATBAA_BROKER_URL": redis.url, "MATBAA_DATABASE_URL": postgres.url,
               "MATBAA_DATA_DIR": str(folder / "data"), "MATBAA_LOG_LEVEL": "WARNING"}
        app = create_app(Settings.from_env(environ=env))
        client = app.test_client()
        for count in counts:
            worker = subprocess.Popen(
                [str(ROOT / ".venv/bin/matbaa"), "worker", "--concurrency", str(count)],
                env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                def run_job(body):
                    location = client.post("/editions", json=body).headers["Location"]
                    wait_until(lambda: client.get(location).get_json()["status"] in (
                        "done", "failed"), 900, "the edition")
                    return client.get(location).get_json()

                for _ in range(count):           # warm every worker process
                    run_job({"title": "warm", "articles": [articles[0].id]})
                start = time.perf_counter()
                status = run_job({"title": "كل المقالات", "filter": {}})
                elapsed = time.perf_counter() - start
                children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
                peaks = [peak_mb(int(pid)) for pid in children.read_text().split()]
                with client.get(status["pdf"]) as response:
                    pdf = response.data
            finally:
                os.killpg(worker.pid, 15)
                worker.wait(timeout=60)
            rows.append((f"Celery, 1 worker with {count} process(es)", elapsed,
                         len(PdfReader(BytesIO(pdf)).pages), len(pdf), peaks))
        app.extensions["matbaa.store"].close()
    finally:
        redis.stop()
        postgres.stop()
    return rows


if __name__ == "__main__":
    main()
