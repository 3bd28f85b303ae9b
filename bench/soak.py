"""Soak: minutes of mixed load against `matbaa serve`, bounded in requests and time.

Cached reads, uncached renders and hostile requests from several threads at once,
all to 127.0.0.1.  Checks: no 5xx but the intended ones (429 and 503 with
Retry-After), every hostile request refused cleanly or rendered without its
payload, memory of the whole service flat.  Writes the "Soak" section of
bench/RESULTS.md.

    .venv/bin/python bench/soak.py [--seconds 180] [--max-requests 50000] [--concurrency 8]
"""

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench helpers: serve)

ROOT = Path(__file__).resolve().parent.parent
SECRET = "SOAK-SECRET-TEXT"
SAMPLE_IDS = ("kuwait-coalition-meeting", "arabic-printing-history",
              "nova-digital-archive-platform")


def sample(name):
    return json.loads((ROOT / "service" / "samples" / f"{name}.json").read_text("utf-8"))

HOSTILE = [
    ("file image", {"title": "x", "body_html": '<p>ن</p><img src="file:///etc/passwd">'}),
    ("loopback image", {"title": "x", "body_html": '<img src="http://127.0.0.1:9/a.png">'}),
    ("metadata image", {"title": "x", "body_html": '<img src="http://169.254.169.254/x">'}),
    ("css import", {"title": "x", "body_html": '<style>@import "file:///etc/passwd";</style>'}),
    ("script", {"title": "x", "body_html": f"<script>{SECRET}</script><p>نص</p>"}),
    ("deep nesting", {"title": "x", "body_html": "<div>" * 3000 + "نص" + "</div>" * 3000}),
    ("wrong types", {"title": 5, "body_html": ["a"]}),
    ("no body", {"title": "عنوان"}),
]


def request(base, kind, rng, counter):
    if kind == "cached":
        url = f"{base}/articles/{rng.choice(list(SAMPLE_IDS))}.pdf"
        req = urllib.request.Request(url)
    elif kind == "uncached":
        article = sample("kuwait-coalition-meeting")
        article["id"] = f"soak-{next(counter)}"
        article["body_html"] += f"<p>فقرة للاختبار رقم {rng.randrange(10**9)}</p>"
        req = urllib.request.Request(f"{base}/render", data=json.dumps(article).encode(),
                                     headers={"Content-Type": "application/json"})
    elif kind == "hostile":
        name, body = rng.choice(HOSTILE + [("malformed json", None), ("oversize", None)])
        if name == "malformed json":
            data = b'{"title": "\xff\xfe'
        elif name == "oversize":
            data = b'{"title": "' + b"a" * (3 * 1024 * 1024) + b'"}'
        else:
            data = json.dumps({"id": "hostile", **body}).encode()
        req = urllib.request.Request(f"{base}/render", data=data,
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            status, body, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, body, headers = exc.code, exc.read(), exc.headers
    except OSError as exc:
        return "connection error", time.perf_counter() - started, str(exc)
    elapsed = time.perf_counter() - started
    problem = None
    if status >= 500 and not (status == 503 and headers.get("Retry-After")):
        problem = f"{status} {body[:200]!r}"
    if status == 429 and not headers.get("Retry-After"):
        problem = "429 without Retry-After"
    if kind == "hostile" and status == 200 and SECRET.encode() in body:
        problem = "secret text in a PDF"
    return status, elapsed, problem


def service_rss_mb(master_pid):
    """Resident memory of gunicorn's master and every process below it."""
    total, todo = 0, [master_pid]
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(next(line for line in status.splitlines()
                              if line.startswith("VmRSS:")).split()[1])
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--max-requests", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="matbaa-soak-"))
    process, base, ready = run.serve(args.workers, data)
    for article_id in SAMPLE_IDS:          # warm: render each once
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/articles/{article_id}.pdf", timeout=120).read()
                break
            except OSError:
                time.sleep(0.1)
    memory = [(0.0, service_rss_mb(process.pid))]
    counter = iter(range(10**9))
    lock = threading.Lock()
    results = defaultdict(list)
    statuses = defaultdict(Counter)
    problems = []
    sent = [0]
    started = time.monotonic()
    deadline = started + args.seconds

    def worker(seed):
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            with lock:
                if sent[0] >= args.max_requests:
                    return
                sent[0] += 1
            kind = rng.choices(["cached", "uncached", "hostile"], [75, 10, 15])[0]
            status, elapsed, problem = request(base, kind, rng, counter)
            with lock:
                statuses[kind][status] += 1
                results[kind].append(elapsed)
                if problem:
                    problems.append((kind, problem))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        memory.append((time.monotonic() - started, service_rss_mb(process.pid)))
    elapsed = time.monotonic() - started
    health = json.loads(urllib.request.urlopen(f"{base}/health").read())
    process.terminate()
    process.wait(timeout=30)

    settled = [mb for t, mb in memory if t >= min(30, elapsed / 3)] or [memory[-1][1]]
    lines = [
        "## Soak: mixed load against `matbaa serve`",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
        f"`.venv/bin/python bench/soak.py --seconds {args.seconds} --concurrency "
        f"{args.concurrency} --workers {args.workers}`",
        f"- {sum(sent)} requests in {elapsed:.0f} s from {args.concurrency} threads "
        f"(75% cached reads, 10% uncached renders, 15% hostile); ready after {ready:.1f} s",
        f"- 5xx other than 503 with Retry-After, 429 without Retry-After, secrets in a PDF, "
        f"connection errors: **{len(problems)}**" + (f" ({problems[:3]})" if problems else ""),
        f"- /health after: {'ok' if health['ok'] else 'NOT ok'}",
        f"- service memory (gunicorn master, web process, render processes): "
        f"{memory[0][1]:.0f} MB warm, {min(settled):.0f}–{max(settled):.0f} MB from "
        f"{min(30, elapsed / 3):.0f} s on, {memory[-1][1]:.0f} MB at the end",
        "",
        "| kind | requests | statuses | p50 ms | p95 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("cached", "uncached", "hostile"):
        times = sorted(results[kind])
        if not times:
            continue
        q = statistics.quantiles(times, n=100) if len(times) > 1 else [times[0]] * 99
        lines.append(f"| {kind} | {len(times)} | "
                     + ", ".join(f"{s}: {n}" for s, n in sorted(statuses[kind].items(),
                                                                 key=str))
                     + f" | {q[49] * 1000:.1f} | {q[94] * 1000:.1f} | {q[98] * 1000:.1f} |")
    section = "\n".join(lines) + "\n"
    run.write_section("Soak", section)
    return 1 if problems or not health["ok"] else 0


if __name__ == "__main__":
    sys.exit(main())
