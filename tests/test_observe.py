"""Request ids, the log line per request, and /metrics."""

import json
import logging

from .test_http import SEED


def test_request_id_is_echoed_and_logged(client, loaded_store, caplog):
    caplog.set_level(logging.INFO, logger="matbaa.request")
    response = client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    line = json.loads([r for r in caplog.records if r.name == "matbaa.request"][-1].getMessage())
    assert line["request_id"] == "abc-123" and line["path"] == "/health"
    # An unsafe id from a client is replaced, not echoed.
    assert client.get("/health", headers={"X-Request-Id": "a b;c"}).headers[
        "X-Request-Id"] != "a b;c"


def test_metrics_count_requests_renders_cache_and_refusals(client, loaded_store):
    client.get(f"/articles/{SEED}.pdf")
    client.get(f"/articles/{SEED}.pdf")
    client.get("/articles/nothing-here.pdf")
    client.get(f"/articles/{SEED}.pdf?paper=b5")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for line in (
            'matbaa_cache_requests_total{result="miss"} 1.0',
            'matbaa_cache_requests_total{result="hit"} 1.0',
            'matbaa_renders_total{outcome="ok"} 1.0',
            'matbaa_render_seconds_count 1.0',
            'matbaa_refusals_total{code="article_not_found",status="404"} 1.0',
            'matbaa_refusals_total{code="invalid_option",status="422"} 1.0',
            'matbaa_http_requests_total{method="GET",route="/articles/<article_id>.pdf",'
            'status="200"} 2.0'):
        assert line in text, line
