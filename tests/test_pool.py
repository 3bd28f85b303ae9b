"""Render worker processes: the queue cap (429), a hung worker killed (503), replacement."""

import os
import signal
import threading
import time

import pytest

from service.app import create_app
from service.settings import Settings

from .conftest import sample
from .test_http import assert_error


@pytest.fixture
def pooled_app(tmp_path):
    """Make an app with one render process; every pool made is closed after the test."""
    pools = []

    def make(**overrides):
        settings = Settings.from_env(data_dir=tmp_path / "data", render_processes=1,
                                     **overrides)
        app = create_app(settings, render_pool=True)
        pools.append(app.extensions["matbaa.renderer"].pool)
        return app, pools[-1]

    yield make
    for pool in pools:
        pool.close()


def wait_until(check, timeout=60):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def slow_article():
    article = sample("arabic-printing-history")
    article["body_html"] *= 6
    return article


@pytest.fixture
def busy_pool(pooled_app):
    app, pool = pooled_app(render_queue=1)
    wait_until(lambda: pool.ready == 1)
    return app, pool


def test_over_the_queue_cap_is_429_at_once(busy_pool):
    app, pool = busy_pool
    client = app.test_client()
    results = []

    def render(article):
        results.append(client.post("/render", json=article).status_code)

    first = threading.Thread(target=render, args=(slow_article(),))
    first.start()
    wait_until(lambda: pool.running == 1)
    second = threading.Thread(target=render, args=(sample("kuwait-coalition-meeting"),))
    second.start()
    wait_until(lambda: pool.waiting == 1)

    started = time.monotonic()
    response = client.post("/render", json=sample("kuwait-coalition-meeting"))
    error = assert_error(response, 429, "render_busy")
    assert time.monotonic() - started < 1
    assert response.headers["Retry-After"]
    assert "MATBAA_RENDER_QUEUE" in error["message_en"]
    # Cached and non-render answers do not queue behind renders.
    assert client.get("/health").status_code == 200

    first.join(60)
    second.join(60)
    assert results == [200, 200]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'matbaa_refusals_total{code="render_busy",status="429"} 1.0' in metrics
    assert 'matbaa_renders_total{outcome="ok"} 2.0' in metrics
    assert "matbaa_render_queue_waiting 0.0" in metrics


def test_hung_worker_is_killed_answered_503_and_replaced(pooled_app):
    app, pool = pooled_app(render_timeout=2)
    wait_until(lambda: pool.ready == 1)
    (worker,) = pool._idle
    client = app.test_client()
    outcome = {}

    def render():
        outcome["response"] = client.post("/render", json=slow_article())

    thread = threading.Thread(target=render)
    thread.start()
    wait_until(lambda: pool.running == 1)
    # Frozen, as if stuck in C code: its own alarm cannot fire.
    os.kill(worker.process.pid, signal.SIGSTOP)
    thread.join(30)
    error = assert_error(outcome["response"], 503, "render_timeout")
    assert "MATBAA_RENDER_TIMEOUT" in error["message_en"]
    assert not worker.process.is_alive()
    wait_until(lambda: pool.ready == 1)
    assert client.post("/render", json=sample("kuwait-coalition-meeting")).status_code == 200


def test_render_errors_come_back_from_the_worker_as_they_are(pooled_app):
    app, pool = pooled_app(max_pages=1)
    error = assert_error(app.test_client().post("/render", json=slow_article()), 422,
                         "too_many_pages")
    assert "MATBAA_MAX_PAGES" in error["message_en"]
    assert pool.ready == 1            # a refused render keeps its worker


def test_render_process_is_recycled_after_its_share_of_renders(pooled_app):
    app, pool = pooled_app(render_max_renders=3)
    wait_until(lambda: pool.ready == 1)
    (first,) = pool._idle
    client = app.test_client()
    for _ in range(6):
        assert client.post("/render", json=sample("kuwait-coalition-meeting")).status_code \
            == 200
    wait_until(lambda: pool.stats["recycled"] >= 1 and pool.ready == 1)
    assert first.retired and not first.process.is_alive()
    assert pool._idle[0] is not first


def test_an_unexpected_error_in_a_render_process_is_a_503_render_failed(pooled_app):
    """Errors cross processes as errors.to_dict()/from_dict(): an unknown one in the render
    process comes back as RenderFailed (503), not a 500."""
    from service.errors import RenderFailed

    _app, pool = pooled_app()
    with pytest.raises(RenderFailed) as caught:
        pool._call("no-such-method", (), 30)
    assert caught.value.status == 503 and caught.value.code == "render_failed"
    assert "ValueError" in caught.value.message_en
    assert pool.ready == 1


def test_errors_keep_their_class_and_status_across_processes():
    from service import errors

    for error in (errors.TooManyPages("over MATBAA_MAX_PAGES", pages=3),
                  errors.RenderRateLimited("2/minute", 17), errors.ArticleInvalid("title", "x"),
                  errors.RenderFailed()):
        again = errors.MatbaaError.from_dict(error.to_dict())
        assert type(again) is type(error)
        assert (again.status, again.code, again.message_en, again.message_ar,
                again.details) == (error.status, error.code, error.message_en,
                                   error.message_ar, error.details)
    assert errors.MatbaaError.from_dict(errors.RenderRateLimited("2/minute", 17).to_dict()) \
        .retry_after == 17
