import os
import time

from service.cache import PdfCache

from .conftest import sample

SEED = "kuwait-coalition-meeting"


def test_put_get_roundtrip(tmp_path):
    cache = PdfCache(tmp_path, max_bytes=10_000)
    assert cache.get("ab" * 16) is None
    cache.put("ab" * 16, b"%PDF-1.7 x", {"missing_glyphs": ["ሰ"]})
    assert cache.get("ab" * 16) == (b"%PDF-1.7 x", {"missing_glyphs": ["ሰ"]})
    assert not list(tmp_path.glob("*/.*"))       # no temporary file left


def test_least_recently_used_files_are_evicted(tmp_path):
    cache = PdfCache(tmp_path, max_bytes=3500)
    now = time.time()
    for n in range(3):
        key = f"{n:02d}" * 16
        cache.put(key, b"x" * 1000, {})
        # Unambiguous ages, oldest first, whatever the clock's resolution.
        os.utime(tmp_path / key[:2] / f"{key}.pdf", (now - 100 + n, now - 100 + n))
    cache.get("00" * 16)   # used again: now the most recent
    cache.put("03" * 16, b"x" * 1000, {})
    kept = {p.stem[:2] for p in tmp_path.glob("*/*.pdf")}
    assert kept == {"00", "02", "03"}
    assert cache.stats()["bytes"] <= 3500


def test_second_request_is_served_from_cache(client, loaded_store):
    first = client.get(f"/articles/{SEED}.pdf")
    second = client.get(f"/articles/{SEED}.pdf")
    assert first.headers["X-Matbaa-Cache"] == "miss"
    assert second.headers["X-Matbaa-Cache"] == "hit"
    assert second.data == first.data and second.headers["ETag"] == first.headers["ETag"]
    assert "public" in second.headers["Cache-Control"] and "max-age=300" in second.headers[
        "Cache-Control"]


def test_update_is_never_served_stale(client, loaded_store):
    from service.article import parse_article

    old = client.get(f"/articles/{SEED}.pdf")
    loaded_store.upsert(parse_article({**sample(SEED), "author": "كاتب جديد"}))
    new = client.get(f"/articles/{SEED}.pdf")
    assert new.headers["X-Matbaa-Cache"] == "miss" and new.data != old.data


def test_options_are_part_of_the_key(client, loaded_store):
    client.get(f"/articles/{SEED}.pdf")
    latn = client.get(f"/articles/{SEED}.pdf?digits=latn")
    assert latn.headers["X-Matbaa-Cache"] == "miss"


def test_put_article_prerenders_for_the_first_reader(app, client, store):
    data = sample(SEED)
    response = client.put(f"/articles/{SEED}", json=data)
    assert response.status_code == 201 and response.get_json()["outcome"] == "created"
    assert response.headers["Location"] == f"/articles/{SEED}.pdf"
    app.extensions["matbaa.prerenders"].join()
    first = client.get(f"/articles/{SEED}.pdf")
    assert first.headers["X-Matbaa-Cache"] == "hit"
    again = client.put(f"/articles/{SEED}", json=data)
    assert again.status_code == 200 and again.get_json()["outcome"] == "unchanged"


def test_put_article_checks_the_id(client, store):
    response = client.put("/articles/other-id", json=sample(SEED))
    assert response.status_code == 422 and response.get_json()["error"]["field"] == "id"
    assert store.list()[1] == 0
