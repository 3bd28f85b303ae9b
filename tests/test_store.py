import time

import pytest
from sqlalchemy import text

from service.article import parse_article
from service.errors import StoreUnavailable
from service.store import Store

from .conftest import sample, unavailable


def test_upsert_reports_what_changed(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    data = sample("kuwait-coalition-meeting")
    assert store.upsert(parse_article(data)) == "created"
    assert store.upsert(parse_article(data)) == "unchanged"
    assert store.upsert(parse_article({**data, "author": "كاتب آخر"})) == "updated"
    assert store.get(data["id"]).author == "كاتب آخر"


def test_revision_is_stored(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    article = parse_article(sample("kuwait-coalition-meeting"))
    store.upsert(article)
    with store.engine.connect() as connection:
        stored = connection.execute(text("select revision from articles")).scalar_one()
    assert stored == article.revision


def test_list_is_paginated_newest_first(loaded_store):
    page, total = loaded_store.list(page=1, per_page=2)
    assert total == 3
    assert [a.id for a in page] == ["nova-digital-archive-platform", "arabic-printing-history"]
    page2, _ = loaded_store.list(page=2, per_page=2)
    assert [a.id for a in page2] == ["kuwait-coalition-meeting"]


def test_unknown_id(store):
    assert store.get("nope") is None


def test_unwritable_store_is_a_503_error(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'a.sqlite3'}")
    store.upsert(parse_article(sample("kuwait-coalition-meeting")))
    readonly = Store(f"sqlite:///file:{tmp_path / 'a.sqlite3'}?mode=ro&uri=true")
    data = {**sample("kuwait-coalition-meeting"), "title": "عنوان جديد"}
    with pytest.raises(StoreUnavailable):
        readonly.upsert(parse_article(data))
    # Nothing changed, and the store still reads.
    assert readonly.get(data["id"]).title == sample("kuwait-coalition-meeting")["title"]


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    from .services import Postgres, missing_reason

    if reason := missing_reason():
        unavailable(reason)
    server = Postgres(tmp_path_factory.mktemp("postgres"))
    try:
        yield server.start().url
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, tmp_path):
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'race.sqlite3'}")
    else:
        store = Store(request.getfixturevalue("postgres_url"))
        with store.session() as session:
            session.execute(text("DELETE FROM articles"))
            session.commit()
    yield store
    store.close()


def test_writers_racing_on_a_new_id_create_it_once(any_store):
    """INSERT … ON CONFLICT: of 20 threads writing one new id at once, one creates it;
    before, two could both find no row and one failed on the primary key."""
    import threading

    store = any_store
    start = threading.Barrier(20)
    outcomes, failures = [], []

    def write(n):
        article = parse_article({"id": "new", "title": f"عنوان {n % 3}", "paragraphs": ["نص"]})
        start.wait()
        try:
            outcomes.append(store.upsert(article))
        except Exception as exc:        # noqa: BLE001 - any failure is the finding
            failures.append(repr(exc))

    threads = [threading.Thread(target=write, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert outcomes.count("created") == 1
    assert set(outcomes) <= {"created", "updated", "unchanged"} and len(outcomes) == 20


def test_a_conditional_write_of_a_changed_article_is_refused(any_store):
    from service.errors import RevisionMismatch

    data = sample("kuwait-coalition-meeting")
    first = parse_article(data)
    assert any_store.upsert(first) == "created"
    second = parse_article({**data, "author": "كاتب آخر"})
    assert any_store.upsert(second, if_match=first.revision) == "updated"
    with pytest.raises(RevisionMismatch) as stale:       # read at the first revision
        any_store.upsert(parse_article({**data, "author": "ثالث"}), if_match=first.revision)
    assert stale.value.details["current"] == second.revision
    assert any_store.get(data["id"]).author == "كاتب آخر"   # nothing changed
    with pytest.raises(RevisionMismatch):
        any_store.upsert(parse_article({**data, "id": "other"}), if_match="*")
    assert any_store.get("other") is None


def test_a_connection_dropped_by_a_restart_is_a_transient_store_error(postgres_url):
    """Closing a session rolls back; on a connection PostgreSQL terminated that raised a
    bare OperationalError, which failed a Celery edition instead of retrying it (seen in
    CI: `pg_ctl restart` mid-edition)."""
    from sqlalchemy import text as sql

    store, other = Store(postgres_url), Store(postgres_url)
    try:
        with pytest.raises(StoreUnavailable) as lost:
            with store.session() as session:
                pid = session.execute(sql("SELECT pg_backend_pid()")).scalar()
                with other.session() as killer:
                    killer.execute(sql("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                time.sleep(0.2)
                # The work is done; only the close's rollback meets the dead connection.
        assert lost.value.transient
        with store.session() as session:           # and the pool recovers at once
            assert session.execute(sql("SELECT 1")).scalar() == 1
    finally:
        store.close()
        other.close()
