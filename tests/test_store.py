import pytest
from sqlalchemy import text

from service.article import parse_article
from service.errors import StoreUnavailable
from service.store import Store

from .conftest import sample


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
