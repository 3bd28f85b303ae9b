"""Observe: a request id on every answer and one structured log line per request."""

import json
import logging
import re
import time
import uuid

from flask import g, request

log = logging.getLogger("matbaa.request")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def init_app(app):
    @app.before_request
    def start():
        # Keep a caller's id (a proxy's X-Request-Id) when it is sane; else make one.
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish(response):
        request_id = getattr(g, "request_id", None) or uuid.uuid4().hex
        response.headers["X-Request-Id"] = request_id
        log.info(json.dumps({
            "request_id": request_id, "method": request.method, "path": request.path,
            "status": response.status_code,
            "ms": round((time.perf_counter() - getattr(g, "started", time.perf_counter()))
                        * 1000, 1),
            "cache": response.headers.get("X-Matbaa-Cache"),
            "bytes": response.calculate_content_length(),
        }))
        return response
