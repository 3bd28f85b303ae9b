import io
import json
from urllib.parse import unquote

import pytest
from pypdf import PdfReader

from .conftest import sample

SEED = "kuwait-coalition-meeting"


def assert_error(response, status, code):
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message_ar"] and error["message_en"]
    assert "Traceback" not in response.get_data(as_text=True)
    return error


def test_route_table(app):
    routes = sorted((rule.rule, ",".join(sorted(rule.methods - {"HEAD", "OPTIONS"})))
                    for rule in app.url_map.iter_rules())
    assert routes == [
        ("/", "GET"),
        ("/articles", "GET"),
        ("/articles/<article_id>", "GET"),
        ("/articles/<article_id>", "PUT"),
        ("/articles/<article_id>.pdf", "GET"),
        ("/articles/<article_id>/print", "GET"),
        ("/articles/by-slug/<path:slug>.pdf", "GET"),
        ("/articles/import", "POST"),
        ("/assets/<mount>/<path:filename>", "GET"),
        ("/desk", "GET"),
        ("/desk/editions", "POST"),
        ("/desk/editions/<job_id>", "GET"),
        ("/desk/sign-in", "POST"),
        ("/desk/sign-out", "POST"),
        ("/editions", "POST"),
        ("/editions/<job_id>", "GET"),
        ("/editions/<job_id>.pdf", "GET"),
        ("/health", "GET"),
        ("/hooks/wordpress", "POST"),
        ("/metrics", "GET"),
        ("/openapi.json", "GET"),
        ("/render", "POST"),
        ("/version", "GET"),
    ]


def test_article_pdf(client, loaded_store):
    response = client.get(f"/articles/{SEED}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert "filename*=UTF-8''kuwait-coalition-meeting.pdf" in response.headers["Content-Disposition"]
    assert response.headers["ETag"]
    assert len(PdfReader(io.BytesIO(response.data)).pages) >= 1


def test_download_and_arabic_file_name(client, store):
    from service.article import parse_article

    store.upsert(parse_article({"id": "a1", "title": "عنوان عربي", "body_html": "<p>نص</p>"}))
    response = client.get("/articles/a1.pdf?download=1")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "عنوان-عربي.pdf"
    assert 'filename="article.pdf"' in disposition


def test_etag_gives_304_and_changes_with_the_article(client, loaded_store):
    from service.article import parse_article

    etag = client.get(f"/articles/{SEED}.pdf").headers["ETag"]
    again = client.get(f"/articles/{SEED}.pdf", headers={"If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    assert client.get(f"/articles/{SEED}.pdf?digits=latn").headers["ETag"] != etag
    loaded_store.upsert(parse_article({**sample(SEED), "title": "عنوان محدث"}))
    changed = client.get(f"/articles/{SEED}.pdf", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_print_view_is_the_same_template_as_html(client, loaded_store):
    response = client.get(f"/articles/{SEED}/print")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert 'dir="rtl"' in html and "الوطن العربي" in html
    for asset in ("/assets/print/print.css", "/assets/fonts/MatbaaNaskh-Regular.ttf"):
        with client.get(asset) as response:
            assert response.status_code == 200 and response.data


@pytest.mark.parametrize("path", ["/assets/fonts/manifest.json", "/assets/fonts/../../pyproject.toml",
                                  "/assets/etc/passwd", "/assets/print/article.html"])
def test_assets_serve_only_fonts_and_stylesheet(client, path):
    assert client.get(path).status_code == 404


def test_render_posted_article_stores_nothing(client, store):
    response = client.post("/render", json=sample(SEED))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert PdfReader(io.BytesIO(response.data)).pages
    assert store.list()[1] == 0


def test_unknown_article_is_404(client):
    assert_error(client.get("/articles/nope.pdf"), 404, "article_not_found")
    assert_error(client.get("/articles/nope/print"), 404, "article_not_found")


def test_unknown_route_is_json_404(client):
    assert_error(client.get("/nothing/here"), 404, "not_found")


def test_malformed_json_is_400(client, store):
    assert_error(client.post("/render", data="{not json", content_type="application/json"),
                 400, "malformed_json")


def test_wrong_content_type_is_415(client):
    assert_error(client.post("/render", data=json.dumps(sample(SEED)), content_type="text/plain"),
                 415, "unsupported_media_type")


def test_body_over_limit_is_413_naming_the_setting(app, client):
    limit = app.extensions["matbaa.settings"].max_body_bytes
    big = {"id": "big", "title": "عنوان", "body_html": "<p>" + "ا" * limit + "</p>"}
    error = assert_error(client.post("/render", json=big), 413, "body_too_large")
    assert "MATBAA_MAX_BODY_BYTES" in error["message_en"]


def test_invalid_article_is_422_naming_the_field(client, store):
    error = assert_error(client.post("/render", json={"id": "x", "body_html": "<p>نص</p>"}),
                         422, "invalid_article")
    assert error["field"] == "title"
    assert store.list()[1] == 0


def test_invalid_option_is_422_naming_allowed_values(client, loaded_store):
    error = assert_error(client.get(f"/articles/{SEED}.pdf?paper=a3"), 422, "invalid_option")
    assert error["allowed"] == ["a4", "a5", "letter"]


def test_list_articles_paginated(client, loaded_store):
    data = client.get("/articles?per_page=2").get_json()
    assert data["total"] == 3 and len(data["items"]) == 2
    assert data["items"][0]["pdf"] == "/articles/nova-digital-archive-platform.pdf"
    assert_error(client.get("/articles?page=0"), 422, "invalid_option")


def test_health_and_version(client):
    health = client.get("/health").get_json()
    assert health["ok"] and set(health["checks"]) == {"store", "fonts", "templates", "cache",
                                                      "engine", "importers"}
    version = client.get("/version").get_json()
    assert version["matbaa"] and version["weasyprint"] == "70.0"
    assert version["mends"] and all(m["active"] for m in version["mends"])


def test_health_is_not_ok_when_the_importer_cannot_load(client, monkeypatch):
    """jusText needs lxml_html_clean; where pip left it out, every import was a 500
    while /health said ok."""
    import sys

    loaded = ("service.source", "service.feeds", "trafilatura", "justext", "lxml_html_clean",
              "lxml.html.clean")
    for name in [n for n in sys.modules if n.startswith(loaded)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "lxml_html_clean", None)   # as if not installed
    health = client.get("/health")
    assert health.status_code == 503
    importers = health.get_json()["checks"]["importers"]
    assert importers["ok"] is False and "lxml_html_clean" in str(importers["errors"])
    assert health.get_json()["checks"]["store"]["ok"]            # the rest still serves
    assert_error(client.post("/articles/import", data=b"<html></html>",
                             content_type="text/html"), 503, "importer_unavailable")


def test_article_json_has_its_revision_and_a_stale_if_match_is_412(client, store):
    data = {"title": "عنوان", "paragraphs": ["نص"]}
    created = client.put("/articles/m1", json=data)
    assert created.status_code == 201
    read = client.get("/articles/m1")
    assert read.status_code == 200 and read.get_json()["title"] == "عنوان"
    revision = read.headers["ETag"].strip('"')
    assert revision == created.headers["ETag"].strip('"') == store.revision("m1")
    # Two editors read it; the first saves, the second's save is stale.
    first = client.put("/articles/m1", json={**data, "author": "الأول"},
                       headers={"If-Match": f'"{revision}"'})
    assert first.status_code == 200 and first.get_json()["outcome"] == "updated"
    stale = assert_error(client.put("/articles/m1", json={**data, "author": "الثاني"},
                                    headers={"If-Match": f'"{revision}"'}),
                         412, "revision_mismatch")
    assert stale["current"] == store.revision("m1") != revision
    assert store.get("m1").author == "الأول"
    assert_error(client.put("/articles/absent", json=data, headers={"If-Match": "*"}),
                 412, "revision_mismatch")
    assert store.get("absent") is None
    assert_error(client.get("/articles/absent"), 404, "article_not_found")


def test_home_lists_articles(client, loaded_store):
    html = client.get("/").get_data(as_text=True)
    assert "/articles/kuwait-coalition-meeting/print" in html


def test_internal_errors_hide_details(app, client, monkeypatch):
    renderer = app.extensions["matbaa.renderer"]
    monkeypatch.setattr(renderer, "pdf", lambda *a, **k: 1 / 0)
    response = client.post("/render", json=sample(SEED))
    error = assert_error(response, 500, "internal_error")
    assert "ZeroDivision" not in json.dumps(error)


def test_request_id_is_echoed_and_logged(client, caplog):
    import logging

    caplog.set_level(logging.INFO, logger="matbaa.request")
    given = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = client.get("/health", headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["X-Request-Id"] != "bad id with spaces"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "matbaa.request"]
    assert lines[0]["request_id"] == "abc-123" and lines[0]["status"] == 200
    assert lines[0]["path"] == "/health"


def test_openapi_describes_exactly_the_route_table(app, client):
    import re

    paths = client.get("/openapi.json").get_json()["paths"]
    described = {(path, method.upper()) for path, item in paths.items() for method in item}
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert described == routes


@pytest.mark.parametrize("query", ["page=9223372036854775807", "per_page=0", "page=x"])
def test_out_of_range_list_paging_is_422(client, query):
    # schemathesis found page=2**63-1 overflowing SQLite's integers (a 500 before).
    assert_error(client.get(f"/articles?{query}"), 422, "invalid_option")
