"""Observe: a request id on every answer, one structured log line per request, metrics.

``/metrics`` gives Prometheus text: requests by route and status with their
durations, renders by outcome with their durations, cache hits and misses,
refusals by error code, the render queue (waiting and running) and WordPress
loads by outcome.  Each app has its own registry (tests build many apps); the
one web process of ``matbaa serve`` holds every count.
"""

import json
import logging
import re
import time
import uuid

from flask import Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest)

log = logging.getLogger("matbaa.request")

# Seconds: a cached PDF takes milliseconds, a long uncached one seconds.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("matbaa_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=r)
        self.request_seconds = Histogram("matbaa_http_request_seconds",
                                         "Time to answer a request", ["route"],
                                         buckets=_BUCKETS, registry=r)
        self.renders = Counter("matbaa_renders", "PDF renders by outcome", ["outcome"],
                               registry=r)
        self.render_seconds = Histogram("matbaa_render_seconds", "Time of one PDF render",
                                        buckets=_BUCKETS, registry=r)
        self.cache = Counter("matbaa_cache_requests", "PDF cache look-ups", ["result"],
                             registry=r)
        self.refusals = Counter("matbaa_refusals", "Requests answered with an error",
                                ["status", "code"], registry=r)
        self.source_loads = Counter("matbaa_source_loads", "WordPress post loads by outcome",
                                    ["outcome"], registry=r)
        self.prerenders_skipped = Counter(
            "matbaa_prerenders_skipped", "Pre-renders left to the first reader: queue full",
            registry=r)
        self.cache_faults = Counter(
            "matbaa_cache_faults", "PDF cache faults: write_failed (the PDF was served "
            "without being kept), corrupt (an entry that did not match its SHA-256)",
            ["kind"], registry=r)
        self.queue_waiting = Gauge("matbaa_render_queue_waiting",
                                   "Renders waiting for a free render process", registry=r)
        self.queue_running = Gauge("matbaa_render_queue_running",
                                   "Renders running in render processes", registry=r)

    def watch_pool(self, pool):
        self.queue_waiting.set_function(lambda: pool.waiting)
        self.queue_running.set_function(lambda: pool.running)

    def render_done(self, outcome, seconds):
        self.renders.labels(outcome).inc()
        self.render_seconds.observe(seconds)


def metrics(app=None):
    return (app or current_app).extensions["matbaa.metrics"]


_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class Observer:
    """What every answer goes through, from Flask or from the hot path (hot.py)."""

    def __init__(self, recorder):
        self.metrics = recorder

    @staticmethod
    def request_id(given):
        # Keep a caller's id (a proxy's X-Request-Id) when it is sane; else make one.
        return given if _SAFE_ID.match(given) else uuid.uuid4().hex

    def answered(self, request_id, method, path, route, status, seconds, cache=None, size=None):
        self.metrics.requests.labels(method, route, str(status)).inc()
        self.metrics.request_seconds.labels(route).observe(seconds)
        # Built only when written: the JSON line costs as much as a hot answer.
        if log.isEnabledFor(logging.INFO):
            log.info(json.dumps({
                "request_id": request_id, "method": method, "path": path, "status": status,
                "ms": round(seconds * 1000, 1), "cache": cache, "bytes": size,
            }))


def init_app(app):
    app.extensions["matbaa.metrics"] = recorder = Metrics()
    app.extensions["matbaa.observer"] = observe = Observer(recorder)
    pool = app.extensions["matbaa.renderer"].pool
    if pool is not None:
        recorder.watch_pool(pool)
    app.extensions["matbaa.renderer"].on_render = recorder.render_done
    if "matbaa.cache" in app.extensions:
        app.extensions["matbaa.cache"].on_fault = \
            lambda kind: recorder.cache_faults.labels(kind).inc()

    @app.get("/metrics")
    def prometheus_metrics():
        return Response(generate_latest(recorder.registry), mimetype=CONTENT_TYPE_LATEST)

    @app.before_request
    def start():
        g.request_id = observe.request_id(request.headers.get("X-Request-Id", ""))
        g.started = time.perf_counter()

    @app.after_request
    def finish(response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-Id"] = request_id
        seconds = time.perf_counter() - getattr(g, "started", time.perf_counter())
        route = request.url_rule.rule if request.url_rule else "(none)"
        if response.status_code >= 400 and response.is_json:
            code = ((response.get_json(silent=True) or {}).get("error") or {}).get("code", "")
            recorder.refusals.labels(str(response.status_code), code).inc()
        observe.answered(request_id, request.method, request.path, route,
                         response.status_code, seconds,
                         cache=response.headers.get("X-Matbaa-Cache"),
                         size=response.calculate_content_length())
        return response
