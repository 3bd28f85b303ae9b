"""The text layer in every reader: words in order and numbers as written, per reader.

    .venv/bin/python bench/readers.py [--articles 30] [--readers poppler pdfium ...]

Renders the samples and the first N corpus articles (../shared, MATBAA_SHARED_DIR)
with today's renderer, reads each PDF with each reader (service.readers) and scores
it as `matbaa verify` does: the share of the article's words found in order (LCS),
and the numbers of the article not given back as written.  Writes the "Readers"
section of bench/RESULTS.md: per reader, the median and worst share, how many PDFs
read at 99.5% or more, and how many give every number back.
"""

import argparse
import json
import statistics
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402  (bench helpers)


def main():
    from service.article import parse_article
    from service.readers import READERS, ReaderError, read, unavailable
    from service.render import build_renderer
    from service.settings import Settings
    from service.verify import article_text, missing_numbers, score_words

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=30)
    parser.add_argument("--readers", nargs="+", default=list(READERS))
    parser.add_argument("--font", nargs="+", default=[], metavar="FILE",
                        help="font files prepared as `matbaa fonts add` prepares them and "
                             "printed as body and headings (e.g. Debian's Amiri)")
    parser.add_argument("--font-knows-corpus", action="store_true",
                        help="the corpus articles' words shaped when the font is added, as "
                             "when the archive is stored before `fonts add`")
    args = parser.parse_args()

    settings = Settings.from_env()
    articles = [parse_article(json.loads(p.read_text("utf-8")))
                for p in sorted((ROOT / "service" / "samples").glob("*.json"))]
    corpus = settings.shared_dir / "corpus" / "articles.jsonl"
    with corpus.open(encoding="utf-8") as lines:
        for line, _ in zip(lines, range(args.articles)):
            articles.append(parse_article(json.loads(line)))
    section, family = "Readers", None
    if args.font:
        settings, family = with_font(settings, args.font, articles[:3] if not
                                     args.font_knows_corpus else articles)
        section = f"Readers, {family} as body and headings" + (
            ", the corpus's words known" if args.font_knows_corpus else "")
    renderer = build_renderer(settings)
    readers = [r for r in args.readers if not unavailable(r)]
    skipped = {r: unavailable(r) for r in args.readers if unavailable(r)}
    scores = {r: [] for r in readers}
    numbers_lost = {r: [] for r in readers}
    examples = {r: [] for r in readers}
    with tempfile.TemporaryDirectory() as folder:
        for article in articles:
            path = Path(folder) / f"{article.id}.pdf"
            path.write_bytes(renderer.pdf(article).pdf)
            expected = article_text(article)
            for reader in readers:
                try:
                    text = read(reader, path)
                except ReaderError as exc:
                    skipped[reader] = str(exc)
                    continue
                scores[reader].append(score_words(expected, text).ratio)
                lost = missing_numbers(expected, text)
                numbers_lost[reader].append(len(lost))
                if lost and len(examples[reader]) < 3:
                    examples[reader].append(f"{article.id}: {' '.join(lost[:4])}")
    command = " ".join(["--articles", str(args.articles), *(
        ["--font", *(Path(f).name for f in args.font)] if args.font else []),
        *(["--font-knows-corpus"] if args.font_knows_corpus else [])])
    lines = [
        f"## {section}: the text layer as each reader reads it",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
        f"`.venv/bin/python bench/readers.py {command}`",
        f"- {len(articles)} PDFs: the 3 samples and the first {args.articles} corpus "
        "articles, rendered by today's renderer; words in order as `matbaa verify` counts "
        "them; numbers as written (digits, decimals, %, ranges, times)",
        "",
        "| reader | median % | worst % | PDFs ≥ 99.5% | PDFs with every number | "
        "numbers lost, e.g. |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    if family:
        lines[3:3] = [f"- {family} added as `matbaa fonts add` adds it, the words it "
                      "shapes being our samples'" + (" and the corpus articles'"
                                                    if args.font_knows_corpus else "")]
    for reader in readers:
        got = scores[reader]
        if not got:
            continue
        lines.append(
            f"| {reader} | {statistics.median(got) * 100:.1f} | {min(got) * 100:.1f} | "
            f"{sum(s >= 0.995 for s in got)} / {len(got)} | "
            f"{sum(n == 0 for n in numbers_lost[reader])} / {len(got)} | "
            f"{'; '.join(examples[reader]) or '—'} |")
    for reader, reason in skipped.items():
        lines.append(f"| {reader} | not run: {reason} | | | | |")
    run.write_section(section, "\n".join(lines) + "\n")


def with_font(settings, files, articles):
    """Settings printing with ``files`` (added to a copy of our fonts folder as `matbaa
    fonts add` adds them, shaping the words of ``articles``) as body and headings."""
    import shutil

    from service.fonts import add_font, printed_text, printed_words

    folder = Path(tempfile.mkdtemp(prefix="matbaa-bench-fonts-")) / "fonts"
    shutil.copytree(settings.fonts_dir, folder)
    words = printed_words(map(printed_text, articles))
    family = None
    for file in files:
        family = add_font(folder, file, "body", words=words)["family"]
    return settings.replace(fonts_dir=folder, brand_body_font=family,
                            brand_headings_font=family), family


if __name__ == "__main__":
    main()
