"""Access rules and the limits that keep one request from taking the service down."""

import pytest

from service.app import create_app
from service.cli import main

from .conftest import sample


def make_client(settings, **changes):
    return create_app(settings.replace(**changes)).test_client()


def test_without_keys_only_loopback_may_render(settings):
    client = make_client(settings)
    outside = client.post("/render", json=sample("kuwait-coalition-meeting"),
                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert outside.status_code == 403
    assert "MATBAA_API_KEYS" in outside.get_json()["error"]["message_en"]
    inside = client.post("/render", json=sample("kuwait-coalition-meeting"))
    assert inside.status_code == 200


@pytest.mark.parametrize("header, status", [
    (None, 401), ("Bearer wrong", 401), ("Basic c2VjcmV0", 401), ("Bearer s3cret-2", 200),
    ("bearer  s3cret-1 ", 200),
])
def test_api_keys(settings, header, status):
    client = make_client(settings, api_keys="s3cret-1, s3cret-2")
    headers = {"Authorization": header} if header else {}
    response = client.post("/render", json=sample("kuwait-coalition-meeting"), headers=headers,
                           environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_published_articles_stay_public(settings, loaded_store):
    client = make_client(settings, api_keys="s3cret")
    response = client.get("/articles/kuwait-coalition-meeting.pdf",
                          environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert response.status_code == 200


def test_page_limit_names_the_setting(settings):
    client = make_client(settings, max_pages=2)
    response = client.post("/render", json=sample("arabic-printing-history"))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "too_many_pages" and "MATBAA_MAX_PAGES" in error["message_en"]


def test_slow_render_is_stopped_and_the_next_one_works(settings):
    client = make_client(settings, render_timeout=1)
    article = sample("arabic-printing-history")
    article["body_html"] *= 8          # tens of pages: well over a second here
    response = client.post("/render", json=article)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "MATBAA_RENDER_TIMEOUT" in response.get_json()["error"]["message_en"]
    assert client.post("/render", json=sample("kuwait-coalition-meeting")).status_code == 200
    assert client.get("/health").get_json()["ok"]


def test_serve_refuses_public_bind_without_keys(runner):
    result = runner.invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2 and "MATBAA_API_KEYS" in result.output
