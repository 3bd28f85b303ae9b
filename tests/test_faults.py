"""Faults: a worker killed mid-render, a locked database.  Real gunicorn, real SQLite."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import sample

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "MATBAA_DATA_DIR": str(tmp_path), "MATBAA_LOG_LEVEL": "WARNING"}
    matbaa = str(Path(sys.executable).with_name("matbaa"))
    subprocess.run([matbaa, "import", "--samples"], env=env, check=True, capture_output=True)
    process = subprocess.Popen([matbaa, "serve", "--port", str(port), "--workers", "1"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    yield base, process, tmp_path
    process.terminate()
    process.wait(timeout=10)


def post(base, article, timeout=60):
    request = urllib.request.Request(f"{base}/render", data=json.dumps(article).encode(),
                                     headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=timeout)


def children_of(pid):
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def render_processes(master, base=None):
    """gunicorn master → its web worker → the render worker processes (warm, if base given)."""
    for _ in range(400):
        if base and not json.loads(urllib.request.urlopen(f"{base}/health").read())[
                "checks"]["render_processes"]["ready"]:
            time.sleep(0.05)
            continue
        (web,) = children_of(master)
        renders = [pid for pid in children_of(web)
                   if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        if renders:
            return web, renders
        time.sleep(0.05)
    raise AssertionError("no render process started")


def wait_until_rendering(base):
    """Until a render process is at work (then a little more: into the layout)."""
    for _ in range(200):
        health = json.loads(urllib.request.urlopen(f"{base}/health").read())
        if health["checks"]["render_processes"]["running"]:
            time.sleep(0.3)
            return
        time.sleep(0.02)
    raise AssertionError("the slow render did not start")


def slow_render(base, outcome):
    slow = sample("arabic-printing-history")
    slow["body_html"] *= 12         # dozens of pages: a few seconds here
    try:
        outcome["status"] = post(base, slow).status
    except urllib.error.HTTPError as exc:
        outcome["status"], outcome["body"] = exc.code, json.loads(exc.read())
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        outcome["error"] = exc


def test_render_process_killed_mid_render(server):
    base, process, _ = server
    _web, (worker,) = render_processes(process.pid, base)
    outcome = {}
    thread = threading.Thread(target=slow_render, args=(base, outcome))
    thread.start()
    wait_until_rendering(base)
    os.kill(worker, signal.SIGKILL)
    thread.join(30)
    # That request fails cleanly: a JSON 503, not a dropped connection.
    assert outcome["status"] == 503, outcome
    assert outcome["body"]["error"]["code"] == "render_failed"
    # The next one succeeds, on a new render process.
    response = post(base, sample("kuwait-coalition-meeting"))
    assert response.status == 200 and response.read().startswith(b"%PDF")
    assert render_processes(process.pid)[1] != [worker]
    metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
    assert 'matbaa_renders_total{outcome="render_failed"} 1.0' in metrics


def test_web_worker_killed_mid_render(server):
    base, process, _ = server
    web, _renders = render_processes(process.pid, base)
    outcome = {}
    thread = threading.Thread(target=slow_render, args=(base, outcome))
    thread.start()
    wait_until_rendering(base)
    os.kill(web, signal.SIGKILL)
    thread.join(30)
    assert "error" in outcome or outcome.get("status", 200) >= 500   # failed, visibly
    for _ in range(100):   # gunicorn boots a new web worker
        try:
            response = post(base, sample("kuwait-coalition-meeting"))
            break
        except OSError:
            time.sleep(0.1)
    assert response.status == 200 and response.read().startswith(b"%PDF")
    assert render_processes(process.pid)[0] != web


def test_locked_database_answers_503_and_loses_nothing(server):
    base, _process, data = server
    page = b"<html><head><title>t</title></head><body><article><p>" + (
        "نص المقال الطويل ".encode() * 40) + b"</p></article></body></html>"
    holder = sqlite3.connect(data / "matbaa.sqlite3", timeout=1)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        request = urllib.request.Request(f"{base}/articles/import?url=https://x.example/a/one",
                                         data=page, headers={"Content-Type": "text/html"})
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=30)
        assert error.value.code == 503
        body = json.loads(error.value.read())
        assert body["error"]["code"] == "store_unavailable"
        assert error.value.headers["Retry-After"]
    finally:
        holder.rollback()
        holder.close()
    # Nothing lost: the samples are all there, and the same import now works.
    listed = json.loads(urllib.request.urlopen(f"{base}/articles").read())
    assert listed["total"] == 3
    assert urllib.request.urlopen(request, timeout=30).status == 201
    assert json.loads(urllib.request.urlopen(f"{base}/health").read())["ok"]


def test_kept_answers_under_gunicorn_follow_an_import_from_the_command_line(server, tmp_path):
    """The hot path (hot.py) in the real server: a kept answer is whole (keep-alive,
    Content-Length), and an article changed by `matbaa import` — another process — is
    printed anew within moments."""
    base, _process, data_dir = server
    url = f"{base}/articles/kuwait-coalition-meeting.pdf"
    first = urllib.request.urlopen(url)
    old = first.read()
    second = urllib.request.urlopen(url)
    kept = second.read()
    assert second.headers["X-Matbaa-Cache"] == "hit" and kept == old
    assert int(second.headers["Content-Length"]) == len(kept)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**sample("kuwait-coalition-meeting"),
                                   "author": "كاتب من سطر الأوامر"}, ensure_ascii=False),
                       encoding="utf-8")
    matbaa = str(Path(sys.executable).with_name("matbaa"))
    subprocess.run([matbaa, "import", str(changed)], check=True, capture_output=True,
                   env={**os.environ, "MATBAA_DATA_DIR": str(data_dir)})
    for _ in range(100):   # seen within the store's CHANGE_POLL (50 ms), with margin
        third = urllib.request.urlopen(url)
        new = third.read()
        if new != old:
            break
        time.sleep(0.01)
    assert third.headers["X-Matbaa-Cache"] == "miss" and new != old
    assert third.headers["ETag"] != second.headers["ETag"]
