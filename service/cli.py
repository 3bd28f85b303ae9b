"""The ``matbaa`` command line: serve, render, import, fonts."""

import itertools
import json
import os
import sys
from pathlib import Path

import click

from .article import parse_article
from .errors import MatbaaError
from .settings import Settings, SettingsError

SAMPLES = Path(__file__).resolve().parent / "samples"


def _settings():
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="matbaa")
def main():
    """Matbaa (مطبعة): typeset PDFs of Arabic news articles."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Render worker processes, each with a warm renderer "
                   "[default: MATBAA_RENDER_PROCESSES, one per core].")
@click.option("--threads", default=32, show_default=True, type=click.IntRange(1, 256),
              help="Threads answering requests in the web process.")
@click.option("--dev", is_flag=True, help="Flask's development server with the reloader.")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback address without MATBAA_API_KEYS.")
def serve(host, port, workers, threads, dev, insecure):
    """Serve the HTTP API with gunicorn.

    One web process answers on threads (cached PDFs, print views, JSON, keep-alive)
    and hands renders to warm render worker processes, which can be killed when a
    render hangs; renders waiting past MATBAA_RENDER_QUEUE are refused with 429.

    \b
    Example:
      matbaa serve --port 8000 --workers 2
    """
    settings = _settings()
    if workers:
        settings = settings.replace(render_processes=workers)
    if not settings.api_key_list and not insecure and not _loopback_host(host):
        raise click.UsageError(
            f"refusing to listen on {host} without MATBAA_API_KEYS: anyone could render "
            "content through this service. Set MATBAA_API_KEYS, or pass --insecure.")
    if dev:
        from .app import create_app
        create_app(settings).run(host=host, port=port, debug=True, use_reloader=True)
        return
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self):
            for name, value in gunicorn_options(settings, host, port, threads).items():
                self.cfg.set(name, value)

        def load(self):
            from .app import create_app
            return create_app(settings, render_pool=True)

    Server().run()


def gunicorn_options(settings, host, port, threads):
    return {
        "bind": f"{host}:{port}",
        # One web process: the renders' CPU work is in the render processes, and one
        # process keeps the render queue and the metrics in one place.
        "workers": 1, "worker_class": "gthread", "threads": threads, "keepalive": 5,
        "timeout": settings.render_timeout + 30,
        # On SIGTERM (a deploy, systemd stop) renders in flight finish: a render is
        # stopped at MATBAA_RENDER_TIMEOUT anyway, so that long and a little more.
        "graceful_timeout": settings.render_timeout + 5,
        # No gunicorn access log: observe.py writes one JSON line per request.
    }


def _loopback_host(host):
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@main.command()
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(allow_dash=True),
              help="PDF file to write, or - for standard output.")
@click.option("--paper", type=click.Choice(["a4", "a5", "letter"]), help="Paper size.")
@click.option("--digits", type=click.Choice(["arab", "latn"]), help="Digits for page numbers and dates.")
@click.option("--archival", is_flag=True,
              help="PDF/A-3a, tagged (claims PDF/UA-1), with the article's JSON attached, "
                   "and OUT.pdf.sha256 beside it.")
def render(source, output, paper, digits, archival):
    """Render a stored article (by id) or an article JSON file to PDF.

    \b
    Examples:
      matbaa render kuwait-coalition-meeting -o article.pdf
      matbaa render article.json -o - > article.pdf
      cat article.json | matbaa render - -o article.pdf
      matbaa render kuwait-coalition-meeting --archival -o archive/article.pdf
    """
    from dataclasses import replace

    from .files import write_atomic, write_with_sha256
    from .render import build_renderer
    from .template import RenderOptions

    settings = _settings()
    try:
        article = _load_article(source, settings)
        options = replace(RenderOptions.defaults(settings), archival="1" if archival else "0",
                          **{k: v for k, v in {"paper": paper, "digits": digits}.items() if v})
        result = build_renderer(settings).pdf(article, options)
    except (OSError, ValueError, MatbaaError) as exc:
        raise click.ClickException(str(exc)) from None
    if output == "-":
        with click.open_file(output, "wb") as out:
            out.write(result.pdf)
    elif archival:
        write_with_sha256(output, result.pdf)
    else:
        write_atomic(output, result.pdf)
    if result.missing_glyphs:
        click.echo("warning: no bundled font covers: "
                   + " ".join(f"U+{ord(c):04X}" for c in result.missing_glyphs), err=True)
    if output != "-":
        click.echo(f"wrote {output} ({len(result.pdf)} bytes)", err=True)


@main.command()
@click.option("--title", required=True, help="The edition's title, on its cover.")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
@click.option("--section", help="Only articles of this section.")
@click.option("--source", type=click.Choice(["wordpress", "local"]), help="Only articles from there.")
@click.option("--id", "ids", multiple=True, help="An article id (repeat; instead of a filter).")
@click.option("--paper", type=click.Choice(["a4", "a5", "letter"]), help="Paper size.")
@click.option("--digits", type=click.Choice(["arab", "latn"]), help="Digits for page numbers.")
@click.option("--archival", is_flag=True,
              help="PDF/A-3a, tagged (claims PDF/UA-1), with every article's JSON attached.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="PDF file to write; OUT.pdf.sha256 is written beside it.")
def edition(title, start, end, section, source, ids, paper, digits, archival, output):
    """Many stored articles as one PDF: cover, contents, bookmarks, page numbers.

    \b
    Examples:
      matbaa edition --title "عدد الأحد" --from 2016-11-20 --to 2016-11-26 -o week.pdf
      matbaa edition --title "ثقافة" --section culture --archival -o culture.pdf
      matbaa edition --title "مختارات" --id one-article --id another -o picks.pdf
    """
    from .editions import EditionSpec, make_edition, select_articles
    from .files import write_with_sha256
    from .render import build_renderer
    from .store import Store

    settings = _settings()
    body = {"title": title, "options": {k: v for k, v in {
        "paper": paper, "digits": digits, "archival": "1" if archival else None}.items() if v}}
    if ids:
        body["articles"] = list(ids)
    else:
        body["filter"] = {"section": section, "source": source,
                          "from": start.date().isoformat() if start else None,
                          "to": end.date().isoformat() if end else None}
        body["filter"] = {k: v for k, v in body["filter"].items() if v}
    try:
        spec = EditionSpec.from_json(body, settings)
        articles = select_articles(Store(settings.store_url), spec)
        if not articles:
            raise click.ClickException("no stored article matches")
        missing = [i for i in spec.ids if i not in {a.id for a in articles}]
        if missing:
            click.echo(f"warning: not stored, left out: {', '.join(missing)}", err=True)
        renderer = build_renderer(settings)
        with click.progressbar(length=len(articles) + 1, label="articles",
                               file=sys.stderr) as bar:
            def progress(stage, count):
                bar.update(1)
                if stage == "laid-out":
                    bar.label = f"{count} pages"
            pdf = make_edition(settings, renderer, spec.title, articles,
                               spec.render_options(settings), progress=progress)
    except (OSError, ValueError, MatbaaError) as exc:
        raise click.ClickException(getattr(exc, "message_en", None) or str(exc)) from None
    write_with_sha256(output, pdf)
    click.echo(f"wrote {output} ({len(articles)} articles, {len(pdf)} bytes) and "
               f"{output}.sha256", err=True)


@main.command()
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="First day (YYYY-MM-DD).")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="Last day, included.")
@click.option("--section", help="Only articles of this section.")
@click.option("--workers", type=click.IntRange(1, 64),
              help="Render processes [default: MATBAA_RENDER_PROCESSES, one per core].")
@click.option("--threshold", default=0.99, show_default=True, type=click.FloatRange(0, 1),
              help="Share of words the text layer must give back in order.")
def archive(out_dir, start, end, section, workers, threshold):
    """A back catalogue as one tagged PDF/A-3a per article, in a BagIt bag.

    Writes OUT_DIR/data/<id>.pdf and <id>.pdf.sha256, bagit.txt, bag-info.txt and
    manifest-sha256.txt.  Each file counts only once its text layer reads back as
    the article.  Run again to resume: intact files are kept, the rest redone.
    Failures are listed in OUT_DIR/failures.txt and make the exit status 1.

    \b
    Example:
      matbaa archive --from 2016-01-01 --to 2016-12-31 archive-2016/
    """
    from .archive import archive as archive_articles
    from .pool import RenderPool
    from .render import build_renderer
    from .store import Store

    settings = _settings()
    articles = Store(settings.store_url).find(
        section=section, start=start.date() if start else None,
        end=end.date() if end else None)
    if not articles:
        raise click.ClickException("no stored article matches")
    renderer = build_renderer(settings)
    size = workers or settings.render_processes
    pool = renderer.pool = RenderPool(settings, size) if size > 1 else None
    try:
        with click.progressbar(length=len(articles), label="archiving",
                               file=sys.stderr) as bar:
            outcome = archive_articles(articles, out_dir, renderer, threshold=threshold,
                                       workers=size, on_done=lambda *_: bar.update(1))
    finally:
        if pool is not None:
            pool.close()
    click.echo(f"{len(outcome.written)} written, {len(outcome.kept)} kept (intact), "
               f"{len(outcome.failed)} failed; manifest: {Path(out_dir) / 'manifest-sha256.txt'}",
               err=True)
    for article_id, reason in outcome.failed:
        click.echo(f"failed: {article_id}: {reason}", err=True)
    if outcome.failed:
        sys.exit(1)


@main.command()
@click.option("--concurrency", type=click.IntRange(1, 64),
              help="Worker processes [default: MATBAA_RENDER_PROCESSES, one per core].")
def worker(concurrency):
    """Run jobs from MATBAA_BROKER_URL (Celery): edition parts, assembly.

    \b
    Example:
      MATBAA_BROKER_URL=redis://127.0.0.1:6379/0 \\
      MATBAA_DATABASE_URL=postgresql+psycopg://matbaa@db/matbaa matbaa worker
    """
    settings = _settings()
    if not settings.broker_url:
        raise click.UsageError("set MATBAA_BROKER_URL (e.g. redis://127.0.0.1:6379/0)")
    from .editions.tasks import make_worker

    make_worker(settings).worker_main([
        "worker", "--queues", "matbaa", "--loglevel", settings.log_level,
        "--concurrency", str(concurrency or settings.render_processes), "--pool", "prefork",
        "--without-gossip", "--without-mingle", "--hostname", f"matbaa-{os.getpid()}@%h"])


@main.command("import")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--samples", is_flag=True, help="Import the sample articles shipped with Matbaa.")
@click.option("--url", help="Address of the page, for an .html file (its id and link).")
@click.option("--feed", "feed_urls", multiple=True, metavar="URL",
              help="An RSS or Atom feed to fetch (its host in MATBAA_FEED_HOSTS).")
def import_(files, samples, url, feed_urls):
    """Upsert articles from JSON (one article), JSONL (one per line), saved pages (.html)
    or RSS/Atom feeds (.xml, .rss, .atom, or --feed URL).

    From a saved article page the main text and metadata are extracted and the
    site's chrome left behind.  Every JSON, JSONL and page file is validated first;
    nothing is stored unless all of them are valid.  A feed's items are each an
    article: the valid ones are stored, the others listed with their reasons (and
    the command then exits with status 1).

    \b
    Examples:
      matbaa import article.json more.jsonl
      matbaa import saved-page.html --url https://example.com/news/123
      matbaa import news.rss
      matbaa import --feed https://news.example/feed/
      matbaa import --samples
    """
    from .feeds import articles_from_feed, fetch_feed, import_feed, looks_like_feed
    from .store import Store

    settings = _settings()
    paths = list(files) + (sorted(str(p) for p in SAMPLES.glob("*.json")) if samples else [])
    if not paths and not feed_urls:
        raise click.UsageError("name at least one file, or --feed URL, or --samples")
    articles, feeds = [], []
    for feed_url in feed_urls:
        try:
            feeds.append((feed_url, articles_from_feed(fetch_feed(feed_url, settings),
                                                       settings.max_article_chars,
                                                       settings.zone)))
        except MatbaaError as exc:
            raise click.ClickException(f"{feed_url}: {exc}") from None
    for path in paths:
        if path != "-" and (path.endswith((".xml", ".rss", ".atom"))
                            or _starts_like_feed(path, looks_like_feed)):
            try:
                feeds.append((path, articles_from_feed(Path(path).read_bytes(),
                                                       settings.max_article_chars,
                                                       settings.zone)))
            except MatbaaError as exc:
                raise click.ClickException(f"{path}: {exc}") from None
            continue
        if path.endswith((".html", ".htm")):
            from .source import article_from_page

            try:
                page = Path(path).read_text(encoding="utf-8", errors="replace")
                articles.append(article_from_page(page, url, settings.max_article_chars,
                                                  settings.zone))
            except MatbaaError as exc:
                raise click.ClickException(f"{path}: {exc}") from None
            continue
        for where, data in _read_articles(path):
            try:
                articles.append(parse_article(data, settings.max_article_chars,
                                              settings.zone))
            except MatbaaError as exc:
                raise click.ClickException(f"{where}: {exc}") from None
    store = Store(settings.store_url)
    if articles or not feeds:
        counts = store.upsert_many(articles)
        click.echo(", ".join(f"{n} {outcome}" for outcome, n in counts.items()))
    failed = 0
    for where, items in feeds:
        report = import_feed(store, items)
        click.echo(f"{where}: " + ", ".join(f"{report[outcome]} {outcome}" for outcome in
                                            ("created", "updated", "unchanged"))
                   + (f", {report['failed_count']} failed" if report["failed"] else ""))
        for item in report["failed"]:
            click.echo(f"  item {item['item']} ({item['guid'] or 'no guid'}): "
                       f"{item['error']['message_en']}", err=True)
        failed += report["failed_count"]
    if failed:
        sys.exit(1)


def _starts_like_feed(path, looks_like_feed):
    with open(path, "rb") as file:
        return looks_like_feed(file.read(2048))


def _read_articles(path):
    text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    try:
        if path.endswith(".jsonl"):
            for number, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    yield f"{path}:{number}", json.loads(line)
        else:
            yield path, json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.ClickException(f"{path}: not valid JSON ({exc})") from None


@main.command()
@click.argument("pdf", type=click.Path(exists=True, dir_okay=False))
@click.option("--article", "source", required=True,
              help="The article the PDF should hold: a stored id or a JSON file.")
@click.option("--threshold", default=0.99, show_default=True, type=click.FloatRange(0, 1),
              help="Least share of the article's words each reader must give back in order.")
@click.option("--reader", "reader_names", multiple=True, default=("poppler",),
              show_default=True,
              type=click.Choice(["poppler", "pdfium", "mupdf", "pymupdf", "pdfjs", "pdfbox",
                                 "all"]),
              help="Read the PDF as this reader does (service/readers.py); again for more; "
                   "all: every one.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(pdf, source, threshold, reader_names, as_json):
    """Check that a PDF's text layer reads back as the article.

    For each reader asked for (poppler's pdftotext; PDFium, Chrome's; MuPDF 1.21's
    mutool and current MuPDF's PyMuPDF; pdf.js, Firefox's; PDFBox, what Apache Tika
    indexes with) it reports the share of the
    article's words found in order, words missing or out of order, letters dropped
    or inserted and numbers not given back as written; and the characters no
    bundled font covers.  Exits with status 1 when any reader is under the
    threshold, drops a letter or loses a number, or a glyph is missing.

    \b
    Examples:
      matbaa verify article.pdf --article kuwait-coalition-meeting
      matbaa verify article.pdf --article article.json --reader all --json
      matbaa verify article.pdf --article a.json --reader pdfium --reader pdfbox
    """
    from .fonts import FontSet
    from .readers import READERS
    from .verify import VerifyError, verify_pdf

    settings = _settings()
    readers = READERS if "all" in reader_names else tuple(dict.fromkeys(reader_names))
    try:
        article = _load_article(source, settings)
        report = verify_pdf(pdf, article, FontSet(settings.fonts_dir), readers=readers)
    except (OSError, ValueError, MatbaaError, VerifyError) as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
    else:
        for name, score in report.scores.items():
            click.echo(f"{name}: {score.in_order}/{score.expected} words in order "
                       f"({score.ratio:.2%}); missing {len(score.missing)}, "
                       f"out of order {len(score.reordered)}; letters dropped "
                       f"{score.letters_dropped}, inserted {score.letters_inserted}; "
                       f"numbers lost {len(score.numbers_lost)}")
            if score.missing:
                click.echo(f"  missing: {' '.join(score.missing[:20])}")
            if score.numbers_lost:
                click.echo(f"  numbers lost: {' '.join(score.numbers_lost[:20])}")
        click.echo("glyphs: " + ("all covered" if not report.missing_glyphs else "MISSING "
                   + " ".join(f"U+{ord(c):04X}" for c in report.missing_glyphs)))
    sys.exit(0 if report.ok(threshold) else 1)


def _load_article(source, settings):
    """An article from a JSON file (or - for standard input) or the store."""
    from .store import Store

    if source == "-" or source.endswith(".json"):
        text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        return parse_article(json.loads(text), settings.max_article_chars, settings.zone)
    article = Store(settings.store_url).get(source)
    if article is None:
        raise click.ClickException(f"no article with id '{source}'")
    return article


@main.group(invoke_without_command=True)
@click.option("--text", "text_file", type=click.File("r", encoding="utf-8"),
              help="A text file (- for standard input) to check against the fonts.")
@click.pass_context
def fonts(context, text_file):
    """Show the bundled fonts and their coverage; name characters no font covers.

    Exits with status 1 when the text has characters no bundled font covers.

    \b
    Examples:
      matbaa fonts
      matbaa fonts --text article.txt
    """
    from .fonts import FontError, FontSet, describe_char

    if context.invoked_subcommand is not None:
        return
    settings = _settings()
    font_set = FontSet(settings.fonts_dir)
    try:
        summary = font_set.check()
    except FontError as exc:
        raise click.ClickException(str(exc)) from None
    for face in font_set.faces:
        click.echo(f"{face.file:32} {face.family} {face.weight} {face.style} "
                   f"({face.role}, v{face.version}, {len(font_set.cmaps[face.file])} characters)")
    for name, gaps in summary.items():
        click.echo(f"{name}: {'covered' if not gaps else 'MISSING ' + gaps}")
    if text_file:
        missing = font_set.missing(text_file.read())
        if missing:
            click.echo("not covered by any bundled font:")
            for char in missing:
                click.echo(f"  {describe_char(char)}")
            sys.exit(1)
        click.echo("every character of the text is covered")


def _text_layer_with(settings, entry, setting):
    """Print a sample with the new font and say how well poppler reads it back: our
    text layer is made exact for our fonts, and a font's ligatures can undo that."""
    import tempfile

    from .article import parse_article
    from .readers import read, unavailable
    from .render import Renderer
    from .verify import article_text, missing_numbers, score_words

    if unavailable("poppler"):
        return
    field = "brand_body_font" if setting.endswith("BODY_FONT") else "brand_headings_font"
    sample = Path(__file__).resolve().parent / "samples" / "arabic-printing-history.json"
    article = parse_article(json.loads(sample.read_text(encoding="utf-8")))
    renderer = Renderer(settings.replace(**{field: entry["family"]}))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sample.pdf"
        path.write_bytes(renderer.pdf(article).pdf)
        text = read("poppler", path)
    expected = article_text(article)
    score, lost = score_words(expected, text), missing_numbers(expected, text)
    click.echo(f"text layer of a sample article with it: poppler reads {score.ratio:.1%} of "
               f"its words in order, {len(lost)} numbers lost")
    if score.ratio < 0.995 or lost:
        click.echo("warning: below the 99.5% our own fonts are held to; copy, search and "
                   "indexing of PDFs printed with this font will miss words", err=True)


def _stored_articles(store):
    page = 1
    while True:
        batch, total = store.list(page=page, per_page=500)
        yield from batch
        if not batch or page * 500 >= total:
            return
        page += 1


def _printed(store):
    """In one pass over the store: the words `fonts add` shapes (fonts.printed_words: our
    samples' and the stored articles'), the characters of the stored articles, and how
    many there are."""
    from .fonts import printed_text, printed_words

    samples = Path(__file__).parent / "samples"
    texts = [printed_text(parse_article(json.loads(path.read_text(encoding="utf-8"))))
             for path in sorted(samples.glob("*.json"))]
    chars, stored = set(), [0]

    def stored_texts():
        for article in _stored_articles(store):
            text = printed_text(article)
            chars.update(text)
            stored[0] += 1
            yield text

    words = printed_words(itertools.chain(texts, stored_texts()))
    return words, chars, stored[0]


@fonts.command("add")
@click.argument("font_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--role", type=click.Choice(["body", "headings", "latin"]), default="body",
              show_default=True, help="What the font prints: body text, headings, or Latin.")
def fonts_add(font_file, role):
    """Prepare a newsroom's own font and add it to the fonts folder (MATBAA_FONTS_DIR).

    The font is subset and given the glyphs the text layer needs, as fonts/build.py
    does for ours, and recorded with its hash in manifest.json.  A font whose licence
    (OS/2 fsType) forbids embedding or subsetting is refused, as is a body or headings
    font without Arabic letters.  Reports what it does not cover of the stored
    articles.  Then set MATBAA_BRAND_BODY_FONT or MATBAA_BRAND_HEADINGS_FONT to its
    family.

    \b
    Examples:
      matbaa fonts add /usr/share/fonts/opentype/fonts-hosny-amiri/Amiri-Regular.ttf
      matbaa fonts add KacstOne.ttf --role headings
    """
    from fontTools.ttLib import TTFont

    from .fonts import FontError, _ignorable, add_font, describe_char
    from .store import Store

    settings = _settings()
    store = Store(settings.store_url)
    try:
        words, chars, articles = _printed(store)
        store.close()
        entry = add_font(settings.fonts_dir, font_file, role, words=words)
    except FontError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"added {entry['file']}: {entry['family']} {entry['weight']} {entry['style']} "
               f"({entry['role']}; {len(entry['mark_twins'])} mark twins)")
    setting = {"body": "MATBAA_BRAND_BODY_FONT", "heading": "MATBAA_BRAND_HEADINGS_FONT"}.get(
        entry["role"])
    if setting:
        click.echo(f"print with it: {setting}={entry['family']!r}")
        _text_layer_with(settings, entry, setting)
    with TTFont(settings.fonts_dir / entry["file"], lazy=True) as font:
        covered = frozenset(font.getBestCmap())
    seen = {c for c in chars if ord(c) not in covered and not _ignorable(c)
            and not c.isspace()}
    if articles:
        click.echo(f"of the {articles} stored articles' characters, not in this font "
                   f"(ours print them): {len(seen)}")
        for char in sorted(seen)[:40]:
            click.echo(f"  {describe_char(char)}")


if __name__ == "__main__":
    main()
