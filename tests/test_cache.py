import hashlib
import os
import time

import pytest

from service.cache import PdfCache

from .conftest import sample

SEED = "kuwait-coalition-meeting"


def test_put_get_roundtrip(tmp_path):
    cache = PdfCache(tmp_path, max_bytes=10_000)
    assert cache.get("ab" * 16) is None
    cache.put("ab" * 16, b"%PDF-1.7 x", {"missing_glyphs": ["ሰ"]})
    pdf, facts = cache.get("ab" * 16)
    assert (pdf, facts["missing_glyphs"]) == (b"%PDF-1.7 x", ["ሰ"])
    assert (facts["size"], facts["sha256"]) == (10, hashlib.sha256(pdf).hexdigest())
    assert not list(tmp_path.glob("*/.*"))       # no temporary file left


@pytest.mark.parametrize("damage", ["truncated", "flipped", "facts of another"])
def test_an_entry_that_does_not_match_its_sha256_is_deleted_never_served(tmp_path, damage):
    cache = PdfCache(tmp_path, max_bytes=100_000)
    faults = []
    cache.on_fault = faults.append
    key = "cd" * 16
    cache.put(key, b"%PDF-1.7 " + b"x" * 1000 + b" %%EOF", {"file_stem": "a"})
    path = tmp_path / key[:2] / f"{key}.pdf"
    if damage == "truncated":                      # a crash or a full disk, mid-write
        os.truncate(path, 500)
    elif damage == "flipped":
        data = bytearray(path.read_bytes())
        data[600] ^= 1
        path.write_bytes(bytes(data))
    else:
        path.write_bytes(b"%PDF-1.7 another " + b"y" * 993 + b" %%EOF")
    assert cache.get(key) is None
    assert not path.exists() and not path.with_suffix(".json").exists()
    assert faults == ["corrupt"]


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
