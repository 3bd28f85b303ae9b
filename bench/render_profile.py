"""Where a render's time goes: cProfile over renders of the seed-shaped sample.

    .venv/bin/python bench/render_profile.py [--runs 20]

Splits the time of Renderer.pdf into our stages (template and sanitizer, the
text-layer and joining hooks, image checks) and WeasyPrint's (layout, drawing,
PDF writing), and measures one change against what it replaced (the QR code as
an SVG, as before, against the PNG now).  Writes the "Profile" section of
bench/RESULTS.md.
"""

import argparse
import cProfile
import json
import pstats
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402  (bench helpers)

# (label, function whose cumulative time counts) — ours first, then WeasyPrint's.
STAGES = [
    ("ours: template, sanitizer, normalizer (Renderer.html)", "service/render.py", "html"),
    ("ours: image checks (Fetcher.available)", "service/fetch.py", "available"),
    ("ours: joiners at inline boundaries (joining hook)", "service/engine/joining.py",
     "build_formatting_structure"),
    ("ours: text layer, per-glyph text (textlayer.map_first_line)", "service/engine/textlayer.py",
     "map_first_line"),
    ("ours: text layer, marks drawn apart (textlayer.draw_marks)", "service/engine/textlayer.py",
     "draw_marks"),
    ("ours: lines drawn from the glyphs read (textlayer.show_line)", "service/engine/textlayer.py",
     "show_line"),
    ("ours: glyphs kept when WeasyPrint lets a line's layout go (Layout.deactivate hook)",
     "service/engine/textlayer.py", "deactivate"),
    ("ours: kept glyphs justified for drawing (KeptLine.runs_for)", "service/engine/textlayer.py",
     "runs_for"),
    ("WeasyPrint: lines set up and shaped again to be drawn (Layout.reactivate)",
     "weasyprint/text/line_break.py", "reactivate"),
    ("WeasyPrint: style and boxes (HTML.render minus layout)", "weasyprint/document.py",
     "_render"),
    ("WeasyPrint: layout (layout_document)", "weasyprint/layout/__init__.py",
     "layout_document"),
    ("WeasyPrint: drawing pages (Page.paint)", "weasyprint/document.py", "paint"),
    ("WeasyPrint: writing the PDF (write_pdf)", "weasyprint/document.py", "write_pdf"),
]


def cumulative(stats, path_part, function):
    return sum(values[3] for (filename, _line, name), values in stats.stats.items()
               if name == function and path_part in filename)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    import segno

    from service import template
    from service.article import parse_article
    from service.render import Renderer
    from service.settings import Settings

    settings = Settings.from_env(data_dir=Path(tempfile.mkdtemp()))
    renderer = Renderer(settings)
    article = parse_article(json.loads(
        (ROOT / "service" / "samples" / "kuwait-coalition-meeting.json").read_text("utf-8")))
    renderer.warm_up()
    renderer.pdf(article)

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.runs):
        renderer.pdf(article)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = cumulative(stats, "service/render.py", "pdf")
    rows = [(label, cumulative(stats, path, fn)) for label, path, fn in STAGES]
    layout = dict(rows)["WeasyPrint: layout (layout_document)"]
    boxes = dict(rows)["WeasyPrint: style and boxes (HTML.render minus layout)"] - layout
    rows = [(label, boxes if label.startswith("WeasyPrint: style") else seconds)
            for label, seconds in rows]

    def median(fn):
        return run.median_seconds(fn, args.runs, warmup=1)

    # A new article's QR code: encoded by libzint now, by segno before (same PNG).
    urls = [f"{article.url}?n={n}" for n in range(args.runs * 5)]

    def per_code(make):
        template._qr.cache_clear()
        start = time.perf_counter()
        for url in urls:
            make(url)
        return (time.perf_counter() - start) / len(urls)

    zint_qr = per_code(template._qr)
    segno_qr = per_code(segno_png)

    png = median(lambda: renderer.pdf(article))
    png_size = len(renderer.pdf(article).pdf)
    original = template._qr
    template._qr = lambda url: segno.make(url, error="m").svg_data_uri(
        scale=4, border=0, light=None)
    try:
        svg = median(lambda: renderer.pdf(article))
        svg_size = len(renderer.pdf(article).pdf)
    finally:
        template._qr = original

    lines = ["## Profile: where a render's time goes", "",
             f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
             f"`.venv/bin/python bench/render_profile.py --runs {args.runs}`",
             f"- the seed-shaped sample, {args.runs} renders under cProfile "
             f"({total / args.runs:.3f} s each with the profiler's own cost); stages overlap "
             "where one calls another (the text layer runs inside drawing)", "",
             "| stage | share of the render |", "| --- | --- |"]
    lines += [f"| {label} | {seconds / total:.0%} |" for label, seconds in rows]
    lines += ["", "One change measured against what it replaced (medians, no profiler):", "",
              "| QR code | seconds per render | PDF bytes |", "| --- | --- | --- |",
              f"| SVG (before) | {svg:.3f} | {svg_size} |",
              f"| PNG (now) | {png:.3f} | {png_size} |", "",
              "| QR encoder, a new address | seconds per code (PNG included) |",
              "| --- | --- |",
              f"| segno, Python (before) | {segno_qr:.4f} |",
              f"| libzint via zint-bindings (now) | {zint_qr:.4f} |"]
    section = "\n".join(lines) + "\n"
    run.write_section("Profile", section)


def segno_png(url):
    """The PNG data URI as made before libzint: segno's matrix, the same Pillow steps."""
    import base64
    import io

    import segno
    from PIL import Image

    matrix = segno.make(url, error="m").matrix
    size = len(matrix)
    grey = bytes([255, 0] + [0] * 254)
    image = Image.frombytes("L", (size, size), b"".join(bytes(row) for row in matrix)
                            .translate(grey))
    png = io.BytesIO()
    image.resize((size * 8, size * 8), Image.Resampling.NEAREST).save(png, "PNG")
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")


if __name__ == "__main__":
    main()
