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
    args = parser.parse_args()

    settings = Settings.from_env()
    renderer = build_renderer(settings)
    articles = [parse_article(json.loads(p.read_text("utf-8")))
                for p in sorted((ROOT / "service" / "samples").glob("*.json"))]
    corpus = settings.shared_dir / "corpus" / "articles.jsonl"
    with corpus.open(encoding="utf-8") as lines:
        for line, _ in zip(lines, range(args.articles)):
            articles.append(parse_article(json.loads(line)))
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
    lines = [
        "## Readers: the text layer as each reader reads it",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; command: "
        f"`.venv/bin/python bench/readers.py --articles {args.articles}`",
        f"- {len(articles)} PDFs: the 3 samples and the first {args.articles} corpus "
        "articles, rendered by today's renderer; words in order as `matbaa verify` counts "
        "them; numbers as written (digits, decimals, %, ranges, times)",
        "",
        "| reader | median % | worst % | PDFs ≥ 99.5% | PDFs with every number | "
        "numbers lost, e.g. |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
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
    run.write_section("Readers", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
