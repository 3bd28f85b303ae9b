"""One trip per request: a reader's PDF computes its ETag once, reads the cache once,
renders at most once, and the one ETag is the cache key, the answer's and the PDF's /ID."""

import io

import pikepdf
import pytest

from service.app import create_app
from service.article import parse_article
from service.cache import PdfCache
from service.render import Renderer

from .conftest import sample

SEED = "kuwait-coalition-meeting"


def counted(monkeypatch, owner, name):
    calls = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


@pytest.fixture
def flask_only(settings):
    """Every request answered by Flask: the hot path (hot.py) answers repeats before it."""
    app = create_app(settings.replace(hot_cache_bytes=0))
    app.extensions["matbaa.store"].upsert(parse_article(sample(SEED)))
    return app.test_client()


def test_a_cache_miss_computes_the_etag_once(flask_only, monkeypatch):
    client = flask_only
    etags = counted(monkeypatch, Renderer, "etag_for")
    reads = counted(monkeypatch, PdfCache, "get")
    renders = counted(monkeypatch, Renderer, "_pdf")
    puts = counted(monkeypatch, PdfCache, "put")
    miss = client.get(f"/articles/{SEED}.pdf")
    assert miss.status_code == 200 and miss.headers["X-Matbaa-Cache"] == "miss"
    assert (len(etags), len(reads), len(renders), len(puts)) == (1, 1, 1, 1)
    etag = miss.headers["ETag"].strip('"')
    assert puts[0][1] == etag                                   # the cache key
    with pikepdf.open(io.BytesIO(miss.data)) as pdf:            # the PDF's /ID
        assert bytes(pdf.trailer.ID[0]) == etag.encode()

    hit = client.get(f"/articles/{SEED}.pdf")
    assert hit.headers["X-Matbaa-Cache"] == "hit" and hit.data == miss.data
    assert (len(etags), len(reads), len(renders)) == (2, 2, 1)
    unchanged = client.get(f"/articles/{SEED}.pdf", headers={"If-None-Match": f'"{etag}"'})
    assert unchanged.status_code == 304
    assert (len(etags), len(reads), len(renders)) == (3, 2, 1)  # no cache read for a 304


def test_an_article_changed_while_it_is_rendered_is_answered_as_it_is_now(
        client, loaded_store, monkeypatch):
    """Its revision was read, then it changed before it was loaded: the answer is the
    new revision's PDF under the new revision's ETag, never the new text under the old."""
    from service.article import Article

    article = loaded_store.get(SEED)
    changed = Article.model_validate({**article.to_json(), "title": "عنوان جديد"})
    original = type(loaded_store).get_with_revision
    swapped = []

    def update_first(store, article_id):
        if not swapped:
            swapped.append(store.upsert(changed))
        return original(store, article_id)

    monkeypatch.setattr(type(loaded_store), "get_with_revision", update_first)
    answer = client.get(f"/articles/{SEED}.pdf")
    assert swapped == ["updated"] and answer.status_code == 200
    renderer = client.application.extensions["matbaa.renderer"]
    assert answer.headers["ETag"].strip('"') == renderer.etag(changed,
                                                              renderer.default_options())
