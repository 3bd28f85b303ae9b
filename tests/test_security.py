"""The headers every answer carries (service/security.py), walked over the route table."""

import re

import pytest

from service.app import create_app
from service.security import page_policy
from service.settings import Settings, SettingsError

SEED = "kuwait-coalition-meeting"
# A value for each path variable of the route table.
VALUES = {"article_id": SEED, "slug": "x", "job_id": "0" * 32, "mount": "print",
          "filename": "print.css"}


def assert_headers(response, what):
    assert response.headers.get("X-Content-Type-Options") == "nosniff", what
    assert response.headers.get("Referrer-Policy") == "strict-origin-when-cross-origin", what
    policy = response.headers.get("Content-Security-Policy", "")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";") if d.strip())
    assert directives.get("frame-ancestors") == "'none'", (what, policy)
    assert directives.get("base-uri") == "'none'", (what, policy)
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, (what, policy)
    if response.mimetype == "text/html":
        assert directives["script-src"] == "'self'", (what, policy)
        assert directives["object-src"] == "'none'", (what, policy)
        assert directives["default-src"] == "'none'", (what, policy)
    else:
        assert directives["default-src"] == "'none'", (what, policy)
    return directives


def test_every_route_answers_with_the_headers(app, client, loaded_store):
    seen = set()
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            path = rule.rule
            for name in rule.arguments:
                path = re.sub(rf"<(?:\w+:)?{name}>", VALUES[name], path)
            response = client.open(path, method=method, json={} if method != "GET" else None)
            assert_headers(response, f"{method} {rule.rule} {response.status_code}")
            seen.add(response.mimetype)
            response.close()
    # Also an unknown route and a wrong method, answered by the error handler.
    assert_headers(client.get("/nowhere"), "404")
    assert_headers(client.delete("/health"), "405")
    assert {"text/html", "application/json", "application/pdf", "text/css"} <= seen


def test_answers_of_the_hot_path_carry_the_headers(client, loaded_store):
    first = client.get(f"/articles/{SEED}.pdf")
    again = client.get(f"/articles/{SEED}.pdf")
    assert again.headers["X-Matbaa-Cache"] == "hit" and "X-Request-Id" in again.headers
    assert_headers(again, "hot 200")
    not_modified = client.get(f"/articles/{SEED}.pdf",
                              headers={"If-None-Match": first.headers["ETag"]})
    assert not_modified.status_code == 304
    assert_headers(not_modified, "hot 304")


def test_print_view_allows_its_own_stylesheet_by_hash_and_no_inline_script(client,
                                                                            loaded_store):
    response = client.get(f"/articles/{SEED}/print")
    page = response.get_data(as_text=True)
    directives = assert_headers(response, "print view")
    assert "<script>" not in page and 'src="/assets/print/toolbar.js"' in page
    (style,) = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    assert "@page" in style and "@font-face" in style
    assert directives["style-src"].startswith("'self' 'sha256-")
    assert directives["img-src"] == "'self' data:"
    # Another stylesheet text would not be allowed.
    assert page_policy(client.application.extensions["matbaa.settings"],
                       page.replace("@page", "@page ")) != response.headers[
        "Content-Security-Policy"]


def test_print_view_allows_images_from_the_allowed_hosts(tmp_path, loaded_store):
    settings = Settings.from_env(data_dir=tmp_path / "d", image_hosts="img.example",
                                 wordpress_url="https://news.example")
    response = create_app(settings).test_client().get("/health")
    assert_headers(response, "health")
    from service.fetch import ImagePolicy

    sources = ImagePolicy(["img.example"], trusted_origins=["https://news.example"]).csp_sources()
    assert sources == ["https://img.example", "https://*.img.example", "http://img.example",
                       "http://*.img.example", "https://news.example"]


@pytest.mark.parametrize("value, ok", [
    ("'none'", True), ("'self'", True), ("'self' https://news.example", True),
    ("https://a.example https://*.b.example", True),
    ("*", False), ("'none' 'self'", False), ("https://a.example; script-src *", False),
    ("javascript:", False),
])
def test_frame_ancestors_setting(tmp_path, value, ok):
    if ok:
        settings = Settings.from_env(data_dir=tmp_path, frame_ancestors=value)
        assert f"frame-ancestors {value}" in page_policy(settings, "<head></head>")
    else:
        with pytest.raises(SettingsError, match="MATBAA_FRAME_ANCESTORS"):
            Settings.from_env(data_dir=tmp_path, frame_ancestors=value)
