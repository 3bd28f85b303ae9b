"""The hot path: kept answers of stored articles' PDFs, dropped on any write to the store."""

import json
import logging
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import event

from service.app import create_app
from service.article import parse_article
from service.settings import Settings

from .conftest import sample

SEED = "kuwait-coalition-meeting"
URL = f"/articles/{SEED}.pdf"


@pytest.fixture
def statements(store):
    """SQL statements run through the store's engine while a test runs."""
    seen = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def hot(app):
    return app.extensions["matbaa.hot"]


def test_kept_answer_is_the_flask_answer_without_touching_the_store(
        app, client, loaded_store, statements):
    first = client.get(URL)
    assert first.headers["X-Matbaa-Cache"] == "miss"
    statements.clear()
    again = client.get(URL, headers={"X-Request-Id": "reader-7"})
    assert statements == []   # no revision query, no cache file: answered from memory
    assert again.status_code == 200 and again.data == first.data
    assert again.headers["X-Matbaa-Cache"] == "hit"
    assert again.headers["X-Request-Id"] == "reader-7"
    per_request = {"X-Request-Id", "X-Matbaa-Cache"}
    assert ({k: v for k, v in again.headers.items() if k not in per_request}
            == {k: v for k, v in first.headers.items() if k not in per_request})
    assert hot(app).kept_bytes == len(first.data)


def test_query_is_part_of_the_key(client, loaded_store):
    inline = client.get(URL)
    client.get(f"{URL}?download=1")
    download = client.get(f"{URL}?download=1")
    assert download.headers["X-Matbaa-Cache"] == "hit"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert client.get(URL).headers["Content-Disposition"] == inline.headers["Content-Disposition"]


def test_conditional_request_gets_304_from_the_kept_etag(client, loaded_store, statements):
    etag = client.get(URL).headers["ETag"]
    statements.clear()
    for given in (etag, f'W/{etag}', f'"other", {etag}', "*"):
        answer = client.get(URL, headers={"If-None-Match": given})
        assert answer.status_code == 304 and answer.data == b"", given
        assert answer.headers["ETag"] == etag and "max-age" in answer.headers["Cache-Control"]
    assert statements == []
    assert client.get(URL, headers={"If-None-Match": '"other"'}).status_code == 200


def test_a_write_in_this_process_is_seen_at_once(client, loaded_store):
    old = client.get(URL)
    client.get(URL)
    loaded_store.upsert(parse_article({**sample(SEED), "author": "كاتب جديد"}))
    new = client.get(URL)
    assert new.headers["X-Matbaa-Cache"] == "miss" and new.data != old.data
    assert new.headers["ETag"] != old.headers["ETag"]


def fresh_within(client, old, seconds=5):
    """The first answer that differs from ``old``, asked every 10 ms, and how long it took."""
    started = time.monotonic()
    while True:
        answer = client.get(URL)
        if answer.data != old.data or time.monotonic() - started > seconds:
            return answer, time.monotonic() - started
        time.sleep(0.01)


def test_a_write_by_another_process_is_seen_within_moments(client, loaded_store, settings):
    old = client.get(URL)
    assert client.get(URL).headers["X-Matbaa-Cache"] == "hit"
    # As `matbaa import` or a Celery worker would: another process, its own connection.
    changed = {**sample(SEED), "author": "كاتب من عملية أخرى"}
    code = ("import json, sys\n"
            "from service.store import Store\n"
            "from service.article import parse_article\n"
            "print(Store(sys.argv[1]).upsert(parse_article(json.loads(sys.stdin.read()))))\n")
    done = subprocess.run([sys.executable, "-c", code, settings.store_url],
                          input=json.dumps(changed), capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "updated"
    new, waited = fresh_within(client, old)
    assert new.headers["X-Matbaa-Cache"] == "miss" and new.data != old.data
    # Seen by the store's watcher within CHANGE_POLL (50 ms); a loaded machine may
    # delay its thread, hence the margin.
    assert waited < 1, waited


def test_a_deleted_article_is_gone_at_once(client, loaded_store):
    client.get(URL)
    assert client.get(URL).status_code == 200
    loaded_store.delete(SEED)
    gone = client.get(URL)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "article_not_found"


def test_kept_answers_are_bounded(tmp_path):
    app = create_app(Settings.from_env(data_dir=tmp_path / "small", hot_cache_bytes=60_000))
    store = app.extensions["matbaa.store"]
    for name in (SEED, "nova-digital-archive-platform"):
        store.upsert(parse_article(sample(name)))
    client = app.test_client()
    sizes = [len(client.get(f"/articles/{name}.pdf").data)
             for name in (SEED, "nova-digital-archive-platform")]
    assert all(size < 60_000 for size in sizes) and sum(sizes) > 60_000
    assert 0 < hot(app).kept_bytes <= 60_000
    seen = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    client.get("/articles/nova-digital-archive-platform.pdf")
    assert seen == []   # the newest is kept
    client.get(URL)
    assert seen != []   # the oldest was dropped: Flask asked the store
    off = create_app(Settings.from_env(data_dir=tmp_path / "small", hot_cache_bytes=0))
    off.test_client().get(URL)
    assert hot(off).kept_bytes == 0


def test_errors_and_other_routes_are_not_kept(app, client, loaded_store):
    assert client.get("/articles/nothing-here.pdf").status_code == 404
    assert client.get(f"{URL}?paper=b5").status_code == 422
    assert client.get(f"/articles/{SEED}/print").status_code == 200
    assert hot(app).kept_bytes == 0


def test_hot_answers_are_counted_and_logged(client, loaded_store, caplog):
    caplog.set_level(logging.INFO, logger="matbaa.request")
    client.get(URL)
    client.get(URL, headers={"X-Request-Id": "hot-1"})
    client.get(URL, headers={"If-None-Match": client.get(URL).headers["ETag"]})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "matbaa.request"]
    assert [(line["status"], line["cache"]) for line in lines] == [
        (200, "miss"), (200, "hit"), (200, "hit"), (304, None)]
    assert lines[1]["request_id"] == "hot-1" and lines[1]["bytes"] == lines[0]["bytes"]
    text = client.get("/metrics").get_data(as_text=True)
    for line in ('matbaa_cache_requests_total{result="hit"} 2.0',
                 'matbaa_http_requests_total{method="GET",route="/articles/<article_id>.pdf",'
                 'status="200"} 3.0',
                 'matbaa_http_requests_total{method="GET",route="/articles/<article_id>.pdf",'
                 'status="304"} 1.0'):
        assert line in text, line


def test_the_store_watcher_ends_with_its_store(tmp_path):
    from service.store import Store

    def watchers():
        return sum(t.name == "matbaa-store-watcher" for t in threading.enumerate())

    before = watchers()
    store = Store(f"sqlite:///{tmp_path / 'watched.sqlite3'}")
    assert store.generation() == store.generation()
    assert watchers() == before + 1
    store.close()
    deadline = time.monotonic() + 2
    while watchers() > before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watchers() == before
