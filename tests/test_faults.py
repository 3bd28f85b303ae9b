"""Faults: a worker killed mid-render, a locked database, a stampede of readers, a full
disk.  Real gunicorn, real SQLite, a real tmpfs."""

import io
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
from pypdf import PdfReader

from .conftest import sample, unavailable

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MATBAA = str(Path(sys.executable).with_name("matbaa"))


def start_server(data_dir, workers=1, **env):
    """`matbaa serve` on a free port over ``data_dir`` (samples imported): (base, process)."""
    port = free_port()
    env = {**os.environ, "MATBAA_DATA_DIR": str(data_dir), "MATBAA_LOG_LEVEL": "WARNING", **env}
    subprocess.run([MATBAA, "import", "--samples"], env=env, check=True, capture_output=True)
    process = subprocess.Popen([MATBAA, "serve", "--port", str(port), "--workers", str(workers)],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1).read()
            break
        except urllib.error.HTTPError:
            break                    # answering (a 503 health is for the test to read)
        except OSError:
            time.sleep(0.05)
    return base, process


def stop_server(process, timeout=10):
    process.terminate()
    started = time.monotonic()
    process.wait(timeout=timeout)
    return time.monotonic() - started


@pytest.fixture
def server(tmp_path):
    base, process = start_server(tmp_path)
    yield base, process, tmp_path
    stop_server(process)


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


def renders_ok(base):
    metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
    found = [line for line in metrics.splitlines()
             if line.startswith('matbaa_renders_total{outcome="ok"}')]
    return float(found[0].split()[-1]) if found else 0.0


def stampede(urls, readers):
    """``readers`` readers at once, spread over ``urls``: [(status, body)]."""
    start = threading.Barrier(readers)
    answers = [None] * readers

    def read(n):
        start.wait()
        try:
            with urllib.request.urlopen(urls[n % len(urls)], timeout=60) as response:
                answers[n] = (response.status, response.read())
        except urllib.error.HTTPError as exc:
            answers[n] = (exc.code, exc.read())

    threads = [threading.Thread(target=read, args=(n,)) for n in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    return answers


# A variant no one has asked for yet (nothing pre-renders it): a shared link in
# breaking news.
FRESH = "/articles/arabic-printing-history.pdf?paper=a5&size=l"


def test_forty_readers_of_one_new_pdf_share_one_render(tmp_path):
    base, process = start_server(tmp_path, workers=2)
    try:
        before = renders_ok(base)
        answers = stampede([base + FRESH], 40)
        assert [status for status, _ in answers] == [200] * 40, \
            [(s, b[:200]) for s, b in answers if s != 200][:3]
        assert len({body for _, body in answers}) == 1 and answers[0][1].startswith(b"%PDF")
        assert renders_ok(base) == before + 1
        metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert 'matbaa_cache_requests_total{result="miss"} 1.0' in metrics
    finally:
        stop_server(process)


def test_readers_in_two_servers_over_one_cache_share_one_render(tmp_path):
    """Two `matbaa serve` over one data folder (as hosts sharing the cache folder): the
    lock file beside the cache entry makes the later server wait for the first's PDF."""
    first, one = start_server(tmp_path, workers=1)
    second, two = start_server(tmp_path, workers=1)
    try:
        before = renders_ok(first) + renders_ok(second)
        answers = stampede([first + FRESH, second + FRESH], 20)
        assert [status for status, _ in answers] == [200] * 20
        assert len({body for _, body in answers}) == 1
        assert renders_ok(first) + renders_ok(second) == before + 1
    finally:
        stop_server(one)
        stop_server(two)


@pytest.fixture
def full_disk(tmp_path):
    """A real 64 KB tmpfs: room for a PDF's facts, not for many PDFs."""
    if os.geteuid() != 0:
        unavailable("mounting a tmpfs needs root (CI runs as root)")
    folder = tmp_path / "tiny"
    folder.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], check=True)
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_cache_disk_serves_every_pdf_and_health_says_so(tmp_path, full_disk):
    base, process = start_server(tmp_path / "data", MATBAA_CACHE_DIR=str(full_disk))
    try:
        variants = [f"{base}/articles/arabic-printing-history.pdf?paper={paper}&size={size}"
                    for paper in ("a4", "a5") for size in ("s", "m", "l")]
        for url in variants + variants:
            with urllib.request.urlopen(url, timeout=60) as response:
                assert response.status == 200 and response.read().startswith(b"%PDF")
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(f"{base}/health")
        health = json.loads(answer.value.read())
        assert answer.value.code == 503 and health["checks"]["cache"]["ok"] is False
        assert "No space left" in health["checks"]["cache"]["error"]
        assert health["checks"]["store"]["ok"] and health["checks"]["engine"]["ok"]
        metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
        assert 'matbaa_cache_faults_total{kind="write_failed"}' in metrics
        assert not [p for p in full_disk.rglob("*") if p.name.endswith(".tmp")]
    finally:
        stop_server(process)


def test_a_truncated_cache_file_is_rendered_again_not_served(server):
    base, _process, data = server
    url = f"{base}/articles/kuwait-coalition-meeting.pdf?size=s"
    whole = urllib.request.urlopen(url).read()
    (kept,) = (data / "cache").glob("*/*.pdf")
    os.truncate(kept, len(whole) // 2)              # as a crash mid-write would leave it
    again = urllib.request.urlopen(url.replace("size=s", "size=s&"))
    assert again.headers["X-Matbaa-Cache"] == "miss"
    assert again.read() == whole
    metrics = urllib.request.urlopen(f"{base}/metrics").read().decode()
    assert 'matbaa_cache_faults_total{kind="corrupt"} 1.0' in metrics


def test_twenty_concurrent_puts_of_a_new_id_create_it_once(server):
    """Before, two PUTs racing on a new id could both insert: an IntegrityError
    answered as 503 store_unavailable."""
    base, _process, _data = server
    start = threading.Barrier(20)
    statuses = [None] * 20

    def put(n):
        body = json.dumps({"title": f"عنوان {n % 4}", "paragraphs": ["نص الخبر"]}).encode()
        request = urllib.request.Request(f"{base}/articles/breaking", data=body, method="PUT",
                                         headers={"Content-Type": "application/json"})
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                statuses[n] = (response.status, json.loads(response.read())["outcome"])
        except urllib.error.HTTPError as exc:
            statuses[n] = (exc.code, exc.read()[:200])

    threads = [threading.Thread(target=put, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    assert all(status in (200, 201) for status, _ in statuses), statuses
    outcomes = [outcome for _, outcome in statuses]
    assert outcomes.count("created") == 1 and [s for s, o in statuses if o == "created"] == [201]
    assert set(outcomes) <= {"created", "updated", "unchanged"}


def test_sigterm_lets_renders_in_flight_finish(tmp_path):
    """`kill -TERM` on the server (a deploy, systemd stop) while a long render runs: the
    reader still gets the PDF, then the server exits."""
    base, process = start_server(tmp_path, workers=1)
    try:
        render_processes(process.pid, base)
        outcome = {}
        thread = threading.Thread(target=slow_render, args=(base, outcome))
        thread.start()
        wait_until_rendering(base)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        thread.join(60)
        assert outcome.get("status") == 200, outcome
        assert process.wait(timeout=60) == 0
        print(f"render finished and server exited {time.monotonic() - started:.1f} s after SIGTERM")
    finally:
        if process.poll() is None:
            stop_server(process)


def test_a_local_edition_stopped_by_sigterm_is_taken_up_at_the_next_start(tmp_path,
                                                                         shared_dir):
    """No broker: editions run in a local worker process.  The service is stopped while
    one is laid out; the next `matbaa serve` on the same data takes it up and finishes it."""
    env = {**os.environ, "MATBAA_DATA_DIR": str(tmp_path)}
    subprocess.run([MATBAA, "import", str(shared_dir / "corpus" / "articles.jsonl")], env=env,
                   check=True, capture_output=True)
    # The whole corpus: longer than the web process waits on SIGTERM (graceful_timeout
    # is MATBAA_RENDER_TIMEOUT + 5 s).
    base, process = start_server(tmp_path, workers=1, MATBAA_RENDER_TIMEOUT="2")
    request = urllib.request.Request(
        f"{base}/editions", data=json.dumps({"title": "عدد يوقفه الإيقاف",
                                             "filter": {"from": "1900-01-01"}}).encode(),
        headers={"Content-Type": "application/json"})
    try:
        location = urllib.request.urlopen(request).headers["Location"]
        for _ in range(600):
            status = json.loads(urllib.request.urlopen(base + location).read())
            if status["status"] == "running":
                break
            time.sleep(0.05)
        assert status["status"] == "running", status
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            stop_server(process)
    with sqlite3.connect(tmp_path / "matbaa.sqlite3") as db:      # stopped unfinished
        (left,) = db.execute("SELECT status FROM jobs WHERE id = ?",
                             (location.rsplit("/", 1)[1],)).fetchone()
    assert left in ("queued", "running"), left
    base, process = start_server(tmp_path, workers=1)
    try:
        for _ in range(1200):
            status = json.loads(urllib.request.urlopen(base + location).read())
            if status["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert status["status"] == "done", status
        pdf = urllib.request.urlopen(base + status["pdf"]).read()
        assert pdf.startswith(b"%PDF") and len(PdfReader(io.BytesIO(pdf)).pages) == status["pages"]
    finally:
        print(f"stopped in {stop_server(process, 60):.1f} s")


def test_gunicorn_lets_a_render_run_its_full_time_after_sigterm(settings):
    from service.cli import gunicorn_options

    options = gunicorn_options(settings.replace(render_timeout=50), "127.0.0.1", 8000, 32)
    assert options["graceful_timeout"] >= 50 + 5      # gunicorn's default is 30 s


def test_idle_and_slow_clients_do_not_starve_readers(server):
    """200 idle keep-alive connections and an upload trickling in, while readers of a
    cached PDF are answered within 50 ms (p99).  Loopback only; bounded in time."""
    base, _process, _data = server
    host, port = base.removeprefix("http://").split(":")
    url = f"{base}/articles/kuwait-coalition-meeting.pdf"
    urllib.request.urlopen(url).read()                 # cached from now on
    idle = []
    try:
        for _ in range(200):
            connection = socket.create_connection((host, int(port)), timeout=10)
            # One request answered, then the connection kept open and silent.
            connection.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            connection.recv(65536)
            idle.append(connection)
        silent = [socket.create_connection((host, int(port)), timeout=10) for _ in range(20)]
        idle += silent                                    # connected, never a byte
        upload = socket.create_connection((host, int(port)), timeout=10)
        idle.append(upload)
        upload.sendall(f"POST /render HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
                       f"application/json\r\nContent-Length: 100000\r\n\r\n{{".encode())
        stop = threading.Event()

        def trickle():
            while not stop.wait(0.05):
                try:
                    upload.sendall(b" ")
                except OSError:
                    return

        threading.Thread(target=trickle, daemon=True).start()
        timings = []
        for _ in range(200):
            started = time.perf_counter()
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200 and response.read().startswith(b"%PDF")
            timings.append(time.perf_counter() - started)
        stop.set()
        timings.sort()
        p99 = timings[int(len(timings) * 0.99) - 1]
        print(f"cached GET with 220 idle connections and a slow upload: "
              f"p50 {timings[len(timings) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
        assert p99 < 0.05, timings[-5:]
    finally:
        for connection in idle:
            connection.close()
