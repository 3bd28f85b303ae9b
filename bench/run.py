"""Benchmarks: one run, every figure measured against a baseline from the same run.

    .venv/bin/python bench/run.py [--quick]

Writes bench/RESULTS.md.  Needs `wrk` and `chromium` (Debian packages) and the
`bench` extra (`pip install -e '.[bench]'`: Playwright, driving Debian's
Chromium, never its own download, and matplotlib for bench/pages.png and
bench/latency.png); without them those rows and charts are left out.
Not a test: figures depend on the machine.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.article import parse_article  # noqa: E402
from service.settings import Settings  # noqa: E402

SAMPLES = ROOT / "service" / "samples"


def write_section(heading, section):
    """Put ``section`` (starting "## heading…") into bench/RESULTS.md, replacing the old one."""
    results = ROOT / "bench" / "RESULTS.md"
    text = results.read_text(encoding="utf-8") if results.exists() else ""
    head, found, tail = text.partition(f"## {heading}")
    tail = tail.partition("\n## ")[2] if found else ""
    results.write_text(head.rstrip() + "\n\n" + section + (("\n## " + tail) if tail else ""),
                       encoding="utf-8")
    print(section)


def median_seconds(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired_median_seconds(first, second, runs, warmup=2):
    """Medians of ``first`` and ``second`` run in turn, so that both see the machine
    in the same state (its speed drifts by a fifth between minutes here)."""
    for _ in range(warmup):
        first()
        second()
    times = ([], [])
    for _ in range(runs):
        for fn, found in zip((first, second), times):
            start = time.perf_counter()
            fn()
            found.append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def sample(name):
    return parse_article(json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8")))


def long_article(pages_hint):
    """The long sample with its body repeated to reach roughly ``pages_hint`` pages."""
    base = json.loads((SAMPLES / "arabic-printing-history.json").read_text(encoding="utf-8"))
    repeat = max(1, round(pages_hint / 6))
    return parse_article({**base, "id": f"long-{pages_hint}",
                          "body_html": base["body_html"] * repeat})


def raw_weasyprint(settings):
    """Plain WeasyPrint with Matbaa's fonts, stylesheet and one FontConfiguration, no hooks.

    Returns (templates, fonts, render) where ``render(html)`` gives PDF bytes.
    Call it before any Renderer exists in the process: the Renderer installs
    the text-layer and joining hooks process-wide.
    """
    from service.fonts import FontSet
    from service.engine import isolate_fontconfig
    from service.template import Templates

    isolate_fontconfig(settings.fonts_dir.resolve(),
                       Path(tempfile.gettempdir()) / f"matbaa-fontconfig-{os.getuid()}")
    from weasyprint import CSS, HTML
    from weasyprint.text.fonts import FontConfiguration

    from service.fetch import ASSET_ORIGIN, Fetcher

    templates, fonts = Templates(settings.templates_dir), FontSet(settings.fonts_dir)
    fetcher = Fetcher({"fonts": settings.fonts_dir, "print": templates.folder})
    font_config = FontConfiguration()
    css = CSS(string=fonts.font_face_css(f"{ASSET_ORIGIN}fonts/") + templates.stylesheet,
              base_url=f"{ASSET_ORIGIN}print/", url_fetcher=fetcher, font_config=font_config)

    def render(html):
        return HTML(string=html, base_url=ASSET_ORIGIN, url_fetcher=fetcher).write_pdf(
            stylesheets=[css], font_config=font_config)

    return templates, fonts, render


def engine_figures(runs):
    """Raw WeasyPrint and Matbaa's render path on the identical HTML, in this process."""
    from service.template import RenderOptions

    settings = Settings.from_env()
    templates, fonts, raw_render = raw_weasyprint(settings)
    options = RenderOptions()
    articles = {"seed (2 pages)": sample("kuwait-coalition-meeting")}
    for pages in (2, 10, 40):
        articles[f"long ×{pages}"] = long_article(pages)
    html = {name: templates.article_html(a, options, settings.site_name, font_css="")
            for name, a in articles.items()}

    def raw(name):
        return raw_render(html[name])

    results = {}
    for name in articles:
        pdf = raw(name)
        from pypdf import PdfReader
        import io
        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        results[name] = {"pages": pages, "raw": median_seconds(lambda: raw(name), runs)}

    # WeasyPrint with only our layout mends (service/engine/layout.py): what the engine costs
    # with them; the rest of the gap is our hooks and the writer's changes.
    from service.engine import layout

    layout.install()
    for name in articles:
        results[name]["mended"] = median_seconds(lambda: raw(name), runs)

    # Now Matbaa's path: the same HTML plus our text-layer and joining hooks.
    from service.render import Renderer

    renderer = Renderer(settings)
    for name, article in articles.items():
        results[name]["matbaa"] = median_seconds(lambda: renderer.pdf(article, options), runs)
        results[name]["size"] = len(renderer.pdf(article, options).pdf)
    chromium_figures(results, articles, html, fonts, templates, runs,
                     lambda name: renderer.pdf(articles[name], options))
    return results, renderer


def chromium_figures(results, articles, html, fonts, templates, runs, matbaa):
    """Debian's Chromium through Playwright on the same HTML, fonts and stylesheet;
    Matbaa's render of each document (``matbaa(name)``) is timed again in turn with
    Chromium's, for their ratio."""
    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if not chromium:
        return
    folder = Path(tempfile.mkdtemp(prefix="matbaa-chromium-"))
    head = (f"<style>{fonts.font_face_css(fonts.folder.resolve().as_uri() + '/')}"
            f"{templates.stylesheet}</style>")
    documents = {name: text.replace("</head>", head + "</head>", 1) for name, text in html.items()}
    for index, (name, text) in enumerate(documents.items()):
        (folder / f"{index}.html").write_text(text, encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        # On about:blank Chromium refuses file:// fonts: open the document's origin first.
        page.goto((folder / "0.html").as_uri())
        for index, name in enumerate(documents):
            text = documents[name]

            def reused():
                page.set_content(text)
                return page.pdf(prefer_css_page_size=True)

            def fresh_tab():
                tab = browser.new_page()
                tab.goto((folder / f"{index}.html").as_uri())
                pdf = tab.pdf(prefer_css_page_size=True)
                tab.close()
                return pdf

            results[name]["matbaa_paired"], results[name]["chromium"] = \
                paired_median_seconds(lambda: matbaa(name), reused, runs)
            results[name]["chromium_tab"] = median_seconds(fresh_tab, max(3, runs // 4))
            pdf = reused()
            (folder / f"{index}.pdf").write_bytes(pdf)
            results[name]["chromium_fonts"] = sorted({
                line.split()[0].split("+")[-1] for line in subprocess.run(
                    ["pdffonts", str(folder / f"{index}.pdf")], capture_output=True,
                    text=True).stdout.splitlines()[2:]})
            from service.verify import article_text, pdftotext, score_words
            results[name]["chromium_words"] = score_words(
                article_text(articles[name]), pdftotext(folder / f"{index}.pdf")).ratio
        browser.close()


def memory_drift(renderer, count):
    article = sample("kuwait-coalition-meeting")
    for _ in range(5):
        renderer.pdf(article)
    before = _rss_mb()
    for _ in range(count):
        renderer.pdf(article)
    return before, _rss_mb()


def _rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(workers, data_dir, log_level="WARNING"):
    port = free_port()
    env = {**os.environ, "MATBAA_DATA_DIR": str(data_dir), "MATBAA_LOG_LEVEL": log_level}
    subprocess.run([str(ROOT / ".venv/bin/matbaa"), "import", "--samples"], env=env,
                   check=True, capture_output=True)
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(ROOT / ".venv/bin/matbaa"), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.02)
    ready = time.perf_counter() - start
    return process, base, ready


def post_render(base, body):
    request = urllib.request.Request(f"{base}/render", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=60).read()


def wrk(url, connections, seconds, script=None):
    if not shutil.which("wrk"):
        return None
    command = ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s",
               "--latency", url]
    if script:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    figures = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec:"):
            figures["rps"] = float(parts[1])
        elif len(parts) == 2 and parts[0] in ("50%", "90%", "99%"):
            figures[parts[0]] = parts[1]
        elif line.strip().startswith("Non-2xx"):
            figures["non_2xx"] = int(parts[-1])
    return figures


def service_figures(runs, seconds):
    body = (SAMPLES / "kuwait-coalition-meeting.json").read_bytes()
    lua = Path(tempfile.mkdtemp()) / "post.lua"
    lua.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                   f"wrk.body = [[{body.decode()}]]\n", encoding="utf-8")
    results = {}
    for workers in (1, 2):
        data = Path(tempfile.mkdtemp(prefix="matbaa-bench-"))
        process, base, ready = serve(workers, data)
        try:
            row = {"ready": ready}
            row["post_render"] = median_seconds(lambda: post_render(base, body), runs)
            cached = f"{base}/articles/kuwait-coalition-meeting.pdf"
            urllib.request.urlopen(cached).read()
            row["get_cached"] = median_seconds(lambda: urllib.request.urlopen(cached).read(), runs)
            for connections in (1, 2, 8):
                row[f"cached_c{connections}"] = wrk(cached, connections, seconds)
                row[f"uncached_c{connections}"] = wrk(f"{base}/render", connections, seconds, lua)
            results[workers] = row
        finally:
            process.terminate()
            process.wait(timeout=10)
            shutil.rmtree(data, ignore_errors=True)
    # The default log level writes one JSON line per request (to /dev/null here): its cost.
    data = Path(tempfile.mkdtemp(prefix="matbaa-bench-"))
    process, base, _ready = serve(2, data, log_level="INFO")
    try:
        cached = f"{base}/articles/kuwait-coalition-meeting.pdf"
        urllib.request.urlopen(cached).read()
        for connections in (1, 8):
            results[2][f"cached, request log on_c{connections}"] = wrk(cached, connections, seconds)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    return results


def write_results(engine, memory, service, args, elapsed, images=()):
    seed = engine["seed (2 pages)"]
    lines = [
        "# Benchmark results", "",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"{platform.python_implementation()} {platform.python_version()}",
        f"- command: `.venv/bin/python bench/run.py{' --quick' if args.quick else ''}` "
        f"({elapsed:.0f} s)", "",
        "## Engine: raw WeasyPrint vs Matbaa's render path, identical HTML, one process", "",
        f"Medians of {args.runs} after warm-up. `raw` is WeasyPrint 70 with the same fonts, "
        "stylesheet and FontConfiguration; `mended` is the same with Matbaa's layout mends "
        "(service/layout.py: each right-to-left line laid out once instead of twice, pages "
        "sharing their styles, no second layout for a word that cannot fit; same PDF bytes); "
        "`matbaa` is Matbaa's render path: the mends plus the template, sanitizer, text-layer "
        "and joining hooks and the writer's changes (service/pdfwrite.py: level-6 deflate, "
        "PNG rows as they are).", "",
        "| document | pages | raw s | mended s | matbaa s | matbaa / raw | matbaa / mended "
        "| PDF bytes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, row in engine.items():
        lines.append(f"| {name} | {row['pages']} | {row['raw']:.3f} | {row['mended']:.3f} | "
                     f"{row['matbaa']:.3f} | {row['matbaa'] / row['raw']:.2f} | "
                     f"{row['matbaa'] / row['mended']:.2f} | {row['size']} |")
    if "chromium" in seed:
        lines += ["", "### Chromium on the same HTML (Debian chromium, Playwright, kept warm)", "",
                  "`reused` is one page, `set_content()` + `pdf()`; `fresh tab` opens a tab per "
                  "document as Gotenberg does.  `matbaa s` here is timed again, in turn with "
                  "Chromium's reused page (one render each, alternately), so that their ratio "
                  "holds on a machine whose speed drifts.  `words` is the share of the article's words "
                  "pdftotext gives back in order (Matbaa's own figure is in the tests: 100% on "
                  "the samples).", "",
                  "| document | matbaa s | chromium reused s | matbaa / chromium | "
                  "chromium fresh tab s | chromium words | chromium fonts |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for name, row in engine.items():
            lines.append(
                f"| {name} | {row['matbaa_paired']:.3f} | {row['chromium']:.3f} | "
                f"{row['matbaa_paired'] / row['chromium']:.2f} | {row['chromium_tab']:.3f} | "
                f"{row['chromium_words']:.1%} | {', '.join(row['chromium_fonts'])} |")
    long2, long40 = engine["long ×2"], engine["long ×40"]
    per_page = (long40["matbaa"] - long2["matbaa"]) / (long40["pages"] - long2["pages"])
    lines += ["", f"Cost per extra page (long ×2 → ×40, matbaa): {per_page:.4f} s.", "",
              "## Memory", "",
              f"RSS of one renderer process: {memory[0]:.1f} MB after warm-up, {memory[1]:.1f} MB "
              f"after {args.memory_renders} more renders of the seed article "
              f"(drift {memory[1] - memory[0]:+.1f} MB).", "",
              "## Service (`matbaa serve`: one web process on threads, N render processes, loopback)", "",
              "The service runs at MATBAA_LOG_LEVEL=WARNING (no request log) but for the rows "
              "marked `request log on` (INFO, the default: one JSON line per request).", ""]
    for workers, row in service.items():
        lines += [f"### {workers} render process{'es' if workers > 1 else ''}", "",
                  f"- ready after start: {row['ready']:.2f} s",
                  f"- `POST /render` seed article (uncached), median: {row['post_render']:.3f} s "
                  f"(service overhead vs raw engine: {row['post_render'] / seed['raw']:.2f}×)",
                  f"- `GET /articles/<id>.pdf` cached, median: {row['get_cached'] * 1000:.1f} ms",
                  "", "| load (wrk) | connections | requests/s | p50 | p90 | p99 |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for kind in ("cached", "cached, request log on", "uncached"):
            for connections in (1, 2, 8):
                if f"{kind}_c{connections}" not in row:
                    continue
                figures = row[f"{kind}_c{connections}"]
                if figures is None:
                    lines.append(f"| {kind} | {connections} | (wrk not installed) | | | |")
                else:
                    lines.append(f"| {kind} | {connections} | {figures.get('rps', 0):.1f} | "
                                 f"{figures.get('50%')} | {figures.get('90%')} | "
                                 f"{figures.get('99%')} |")
        lines.append("")
    if 1 in service and 2 in service and service[1]["uncached_c8"] and service[2]["uncached_c8"]:
        ratio = service[2]["uncached_c8"]["rps"] / service[1]["uncached_c8"]["rps"]
        lines += [f"Uncached throughput, 2 render processes / 1 at 8 connections: {ratio:.2f}×.", ""]
    lines += [f"![{name}]({name})" for name in images] + [""]
    results = ROOT / "bench" / "RESULTS.md"
    # bench/soak.py, edition.py and render_profile.py keep sections of their own: carry them over.
    kept = []
    if results.exists():
        for section in results.read_text(encoding="utf-8").split("\n## ")[1:]:
            if section.startswith(("Soak", "Editions", "Profile")):
                kept.append("## " + section.rstrip())
    results.write_text("\n".join(lines) + "".join("\n\n" + k for k in kept) + "\n",
                       encoding="utf-8")


def charts(engine, service):
    """bench/pages.png (seconds against pages, per engine) and bench/latency.png."""
    try:
        import matplotlib
    except ImportError:
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(engine.values(), key=lambda row: row["pages"])
    pages = [row["pages"] for row in rows]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    series = [("raw", "WeasyPrint 70 (raw)"), ("matbaa", "Matbaa"),
              ("chromium", "Chromium, page reused"), ("chromium_tab", "Chromium, fresh tab")]
    for key, label in series:
        if key in rows[0]:
            axes.plot(pages, [row[key] for row in rows], marker="o", label=label)
    axes.set_xlabel("pages")
    axes.set_ylabel("seconds per document (median)")
    axes.set_title("Render time against document length")
    axes.grid(alpha=.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(ROOT / "bench" / "pages.png", dpi=110)
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 4.5))
    labels, values = [], {"50%": [], "90%": [], "99%": []}
    for workers, row in service.items():
        for kind in ("cached", "uncached"):
            for connections in (1, 2, 8):
                figures = row.get(f"{kind}_c{connections}")
                if not figures:
                    continue
                labels.append(f"{kind}\n{workers}w c{connections}")
                for key in values:
                    values[key].append(_ms(figures.get(key)))
    if labels:
        width = 0.27
        for offset, (key, data) in enumerate(values.items()):
            axes.bar([i + (offset - 1) * width for i in range(len(labels))], data, width,
                     label=f"p{key[:-1]}")
        axes.set_xticks(range(len(labels)), labels, fontsize=7)
        axes.set_yscale("log")
        axes.set_ylabel("latency, ms (log)")
        axes.set_title("matbaa serve under wrk: w = workers, c = connections")
        axes.legend()
        figure.tight_layout()
        figure.savefig(ROOT / "bench" / "latency.png", dpi=110)
    plt.close(figure)
    return ["pages.png", "latency.png"]


def _ms(text):
    """wrk's '12.34ms' / '1.05s' / '850.00us' in milliseconds."""
    if not text:
        return 0.0
    for unit, factor in (("ms", 1), ("us", 0.001), ("s", 1000)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * factor
    return float(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter load")
    args = parser.parse_args()
    args.runs = 5 if args.quick else 20
    args.memory_renders = 100 if args.quick else 1000
    seconds = 3 if args.quick else 10
    start = time.perf_counter()
    engine, renderer = engine_figures(args.runs)
    memory = memory_drift(renderer, args.memory_renders)
    service = service_figures(args.runs, seconds)
    images = charts(engine, service)
    write_results(engine, memory, service, args, time.perf_counter() - start, images)
    print((ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
