"""Soak: minutes of mixed load against `matbaa serve`, bounded in requests and time.

Cached reads, uncached renders and hostile requests from several threads at once,
all to 127.0.0.1, and every few seconds a stampede: 40 readers at once of a PDF no
one has asked for yet (a link shared in breaking news).  Checks: no 5xx but the
intended ones (429 and 503 with Retry-After), every hostile request refused cleanly
or rendered without its payload, each stampede answered 200 to all with the same bytes
and one render, memory of the whole service flat.  Writes the "Soak" section of
bench/RESULTS.md.

    .venv/bin/python bench/soak.py [--seconds 180] [--max-requests 50000] [--concurrency 8]
                                   [--stampede-every 10] [--stampede-readers 40]
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


def fresh_variants():
    """Reader options of the samples that the warm-up did not ask for, one per stampede."""
    for paper in ("a5", "letter", "a4"):
        for size in ("s", "l", "m"):
            for digits in ("latn", "arab"):
                for images in ("0", "1"):
                    for article_id in SAMPLE_IDS:
                        if (paper, size, digits, images) != ("a4", "m", "arab", "1"):
                            yield (f"/articles/{article_id}.pdf?paper={paper}&size={size}"
                                   f"&digits={digits}&images={images}")


def stampede(base, path, readers):
    """``readers`` readers of one new PDF at once: (statuses, distinct bodies, answers
    rendered for their reader (X-Matbaa-Cache: miss), seconds)."""
    gate = threading.Barrier(readers)
    answers = []
    lock = threading.Lock()

    def read():
        gate.wait()
        try:
            with urllib.request.urlopen(base + path, timeout=120) as response:
                answer = (response.status, response.read(), response.headers["X-Matbaa-Cache"])
        except urllib.error.HTTPError as exc:
            answer = (exc.code, exc.read(), None)
        except OSError as exc:
            answer = ("connection error", str(exc).encode(), None)
        with lock:
            answers.append(answer)

    started = time.perf_counter()
    threads = [threading.Thread(target=read) for _ in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(180)
    return (Counter(a[0] for a in answers), len({a[1] for a in answers}),
            sum(a[2] == "miss" for a in answers), time.perf_counter() - started)


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
    parser.add_argument("--stampede-every", type=float, default=10)
    parser.add_argument("--stampede-readers", type=int, default=40)
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

    stampedes = []

    def stampeder():
        variants = fresh_variants()
        while not stop_stampedes.wait(args.stampede_every):
            path = next(variants, None)
            if path is None:
                return
            statuses_seen, bodies, renders, seconds = stampede(base, path,
                                                               args.stampede_readers)
            with lock:
                stampedes.append((path, statuses_seen, bodies, renders, seconds))
                if statuses_seen != Counter({200: args.stampede_readers}) or bodies != 1 \
                        or renders != 1:
                    problems.append(("stampede", f"{path}: {dict(statuses_seen)}, {bodies} "
                                                 f"different bodies, {renders} renders"))

    stop_stampedes = threading.Event()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    stampede_thread = threading.Thread(target=stampeder)
    stampede_thread.start()
    while any(t.is_alive() for t in threads):
        time.sleep(5)
        memory.append((time.monotonic() - started, service_rss_mb(process.pid)))
    stop_stampedes.set()
    stampede_thread.join(300)
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
        f"- stampedes: {len(stampedes)}, every {args.stampede_every:.0f} s, each "
        f"{args.stampede_readers} readers at once of a PDF no one had asked for: "
        f"{sum(s[1][200] for s in stampedes)} of "
        f"{args.stampede_readers * len(stampedes)} answered 200, "
        f"{sum(s[2] == 1 for s in stampedes)} of {len(stampedes)} with one body, "
        f"renders per stampede {sorted({s[3] for s in stampedes})}, "
        f"slowest stampede {max((s[4] for s in stampedes), default=0):.2f} s",
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
