"""Render: article + options -> print HTML -> PDF.  The one path HTTP, CLI and jobs use."""

import contextlib
import functools
import hashlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import lxml.html

from .errors import MatbaaError, RenderTooLong, TooManyPages
from .engine import isolate_fontconfig
from .fonts import FontSet, describe_char
from .normalize import readable_address
from .brand import load_brand
from .settings import SettingsError
from .plurals import count
from .template import RenderOptions, Templates

log = logging.getLogger(__name__)

try:
    VERSION = version("matbaa")
except PackageNotFoundError:  # running from a checkout that was not installed
    VERSION = "0.0.0+unknown"


# ISO 14289-1 identification, and its description as a PDF/A extension schema
# (PDF/A allows only described schemas in the XMP).
PDFUA_XMP = b"""<rdf:Description rdf:about=""
 xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/"
 xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#"
 xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>PDF/UA Universal Accessibility Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>http://www.aiim.org/pdfua/ns/id/</pdfaSchema:namespaceURI>
<pdfaSchema:prefix>pdfuaid</pdfaSchema:prefix>
<pdfaSchema:property><rdf:Seq><rdf:li rdf:parseType="Resource">
<pdfaProperty:name>part</pdfaProperty:name>
<pdfaProperty:valueType>Integer</pdfaProperty:valueType>
<pdfaProperty:category>internal</pdfaProperty:category>
<pdfaProperty:description>Part of ISO 14289 the file conforms to</pdfaProperty:description>
</rdf:li></rdf:Seq></pdfaSchema:property>
</rdf:li></rdf:Bag></pdfaExtension:schemas>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/">
<pdfuaid:part>1</pdfuaid:part>
</rdf:Description>
"""
IMAGE_CACHE_BYTES = 64 * 1024 * 1024   # WeasyPrint's image cache is emptied past this
# Date given to an archived article's attachment when the article has none.
ARCHIVE_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class RenderResult:
    pdf: bytes
    missing_glyphs: tuple


class _Engine(NamedTuple):
    mends: list
    fetcher: object
    font_config: object
    stylesheet: object


class Renderer:
    """Everything a render needs, built once per process and reused."""

    def __init__(self, settings, allow_loopback_images=False, engine=True):
        """``engine=False``: WeasyPrint is imported and set up on the first render, not
        now; a process that only assembles editions from kept pages (while its render
        processes lay them out) then never holds it."""
        self.settings = settings
        self.fonts = FontSet(settings.fonts_dir)
        self.fonts.check()
        # The newsroom's own faces in place of ours (matbaa fonts add).
        for setting, family, role, ours in (
                ("MATBAA_BRAND_BODY_FONT", settings.brand_body_font, "body", "Matbaa Naskh"),
                ("MATBAA_BRAND_HEADINGS_FONT", settings.brand_headings_font, "heading",
                 "Matbaa Kufi")):
            if family.strip():
                try:
                    self.fonts.choose(setting, family.strip(), role, ours)
                except ValueError as exc:
                    raise SettingsError(str(exc)) from None
        self.templates = Templates(settings.templates_dir)
        # The newsroom's logo, colour and stylesheet, checked now (MATBAA_BRAND_*).
        self.brand = load_brand(settings)
        # Addresses are printed in letters only where our fonts have every one.
        self.templates.env.filters["readable"] = functools.partial(
            readable_address, covered=self.fonts.covered)
        isolate_fontconfig(settings.fonts_dir.resolve(),
                           Path(tempfile.gettempdir()) / f"matbaa-fontconfig-{os.getuid()}")
        from .fetch import ASSET_ORIGIN, ImagePolicy

        self.asset_origin = ASSET_ORIGIN
        self.images = ImagePolicy(settings.image_host_list, settings.max_image_bytes,
                                  settings.image_timeout, allow_loopback=allow_loopback_images,
                                  trusted_origins=[settings.wordpress_origin])
        self.templates.image_allowed = self.images.allows_src
        self.templates.logo_src = self._logo(ASSET_ORIGIN)
        self._engine_lock = threading.Lock()
        if engine:
            self._engine()
        self.assets_digest = hashlib.sha256(
            f"{self.templates.digest}:{self.fonts.digest}:{self.brand.digest}:{VERSION}"
            .encode()).hexdigest()[:16]
        # Images decoded and compressed for the PDF, reused by later renders
        # (the QR code, a site's logo, an image in several articles).
        self.images_cache = {}
        # WeasyPrint documents are not safe to build from several threads at once.
        self._lock = threading.Lock()
        self.pool = None
        self.on_render = None        # (outcome, seconds) after every render: metrics

    def _engine(self):
        """WeasyPrint, our changes to it, our fetcher, the font configuration and the
        print stylesheet: made once per process, on first use (or at start)."""
        made = self.__dict__.get("_engine_parts")
        if made is not None:          # every render asks: no lock once it is made
            return made
        with self._engine_lock:
            if "_engine_parts" in self.__dict__:
                return self._engine_parts
            settings = self.settings
            # Imported here, after fontconfig is isolated: WeasyPrint reads the
            # fontconfig configuration when it is first imported.
            from weasyprint import CSS
            from weasyprint.text.fonts import FontConfiguration

            from . import engine
            from .fetch import Fetcher

            # Every change to WeasyPrint, each checked against its target (service/engine).
            mends = engine.install(self.fonts, kept_lines_bytes=settings.kept_lines_bytes)
            fetcher = Fetcher({"fonts": settings.fonts_dir, "print": self.templates.folder,
                               "brand": self.brand.files},
                              self.images, cache_bytes=settings.image_cache_bytes)
            # One FontConfiguration per process: a new one per render leaks memory,
            # and registering @font-face once here makes every render reuse it.
            font_config = FontConfiguration()
            stylesheet = CSS(
                string=self.fonts.font_face_css(f"{self.asset_origin}fonts/")
                + self.templates.stylesheet + self.brand.css,
                base_url=f"{self.asset_origin}print/", url_fetcher=fetcher,
                font_config=font_config)
            self._engine_parts = _Engine(mends, fetcher, font_config, stylesheet)
            return self._engine_parts

    @property
    def mends(self):
        return self._engine().mends

    @mends.setter
    def mends(self, value):
        # What /health reports: set again when the changes are installed again.
        self._engine_parts = self._engine()._replace(mends=value)

    @property
    def fetcher(self):
        return self._engine().fetcher

    @property
    def font_config(self):
        return self._engine().font_config

    @property
    def stylesheet(self):
        return self._engine().stylesheet

    def html(self, article, options=None, *, asset_base=None, pdf_href=None, autoprint=False):
        """The print HTML; with ``asset_base`` it links the stylesheet and fonts for a browser."""
        options = options or self.default_options()
        if asset_base is None:
            return self.templates.article_html(
                article, options, self.settings.site_name, font_css="",
                image_check=self.fetcher.available, logo_src=self._logo(self.asset_origin))
        return self.templates.article_html(
            article, options, self.settings.site_name,
            font_css=self.fonts.font_face_css(f"{asset_base}fonts/"),
            stylesheet_href=f"{asset_base}print/print.css", pdf_href=pdf_href,
            brand_href=f"{asset_base}brand/brand.css" if self.brand.css else None,
            logo_src=self._logo(asset_base),
            script_href=f"{asset_base}print/toolbar.js", autoprint=autoprint)

    def _logo(self, asset_base):
        return f"{asset_base}{self.brand.logo_src}" if self.brand.logo_src else ""

    def pdf(self, article, options=None, identifier=None):
        """Render ``article`` to PDF bytes, reporting characters no bundled font covers.

        ``identifier``: the PDF's /ID, the article's ETag (``etag``) unless given;
        a caller that has computed the ETag passes it.  With a pool (under ``matbaa
        serve``) the render runs in one of its worker processes, which calls this
        same method on its own renderer.
        """
        options = options or self.default_options()
        identifier = identifier or self.etag(article, options)
        started, outcome = time.perf_counter(), "ok"
        try:
            if self.pool is not None:
                return self.pool.pdf(article, options, identifier)
            return self._pdf(article, options, identifier)
        except MatbaaError as exc:
            outcome = exc.code
            raise
        except Exception:
            outcome = "internal_error"
            raise
        finally:
            if self.on_render is not None:
                self.on_render(outcome, time.perf_counter() - started)

    def _pdf(self, article, options, identifier):
        document_html = self.html(article, options)
        missing = tuple(self.fonts.missing(_text_of(document_html)))
        if missing:
            log.warning("article %s has characters no bundled font covers: %s",
                        article.id, ", ".join(describe_char(c) for c in missing))
        return RenderResult(
            pdf=self.html_to_pdf(document_html, identifier=identifier,
                                 source=article if options.archival == "1" else None),
            missing_glyphs=missing)

    def html_to_pdf(self, document_html, print_stylesheet=True, identifier=None, source=None,
                    *, sources=None, stylesheet=None, max_pages=None, timeout=None,
                    limit_setting="MATBAA_MAX_PAGES", timeout_setting="MATBAA_RENDER_TIMEOUT",
                    progress=None, on_document=None):
        """Lay out a whole HTML document with our fonts, fetcher and text fixes.

        Refuses documents over MATBAA_MAX_PAGES, and stops a render that runs
        past MATBAA_RENDER_TIMEOUT (in a process's main thread; a render process
        stuck beyond that is killed by the pool).  Editions pass their own limits.

        ``identifier`` fixes the PDF's /ID, so the same input gives the same
        bytes.  With a ``source`` article (or several ``sources``) the PDF is
        tagged PDF/A-3a (claiming PDF/UA-1 too) and carries each article's JSON as an
        associated file (AFRelationship Source).
        """
        from weasyprint import HTML

        if stylesheet is None:
            stylesheet = self.stylesheet if print_stylesheet else None
        stylesheets = [stylesheet] if stylesheet is not None else []
        limit = max_pages or self.settings.max_pages
        seconds = timeout or self.settings.render_timeout
        sources = list(sources or ([source] if source is not None else []))
        with self._lock, _deadline(seconds, timeout_setting):
            document = HTML(string=document_html, base_url=self.asset_origin,
                            url_fetcher=self.fetcher).render(
                stylesheets=stylesheets, font_config=self.font_config,
                cache=self._image_cache())
            if len(document.pages) > limit:
                raise TooManyPages(
                    f"the document has {len(document.pages)} pages, over the limit of {limit}; "
                    f"raise {limit_setting}",
                    f"عدد صفحات المستند ({count(len(document.pages), 'page')}) أكبر من الحد "
                    f"المسموح ({count(limit, 'page')})", setting=limit_setting)
            if progress is not None:
                progress("laid-out", len(document.pages))
            if on_document is not None:
                on_document(document)
            # The publisher (<meta name="publisher">, the site's name) in the Info
            # dictionary; the template's head is ours, article content cannot add one.
            options = {"custom_metadata": True}
            if identifier:
                options["pdf_identifier"] = identifier.encode()
            if sources:
                # PDF/A-3a: PDF/A-3u plus a tagged structure (headings, paragraphs,
                # lists, tables, figures) for screen readers and reflow; the XMP
                # also claims PDF/UA-1, with the extension schema PDF/A asks for.
                options["pdf_variant"] = "pdf/a-3a"
                _claim_pdfua(document.metadata)
                options["attachments"] = [_source_attachment(a) for a in sources]
            return document.write_pdf(**options)

    def _image_cache(self):
        """WeasyPrint's image cache, emptied between renders once it holds too much.

        It holds each image's source bytes and PDF streams, keyed by address;
        the renderer's lock keeps a render from seeing it emptied.
        """
        held = sum(len(value) for value in self.images_cache.values()
                   if isinstance(value, bytes))
        if held > IMAGE_CACHE_BYTES:
            self.images_cache.clear()
        return self.images_cache

    @functools.cached_property
    def edition_stylesheet(self):
        """print.css followed by edition.css, parsed once, when the first edition is made."""
        from weasyprint import CSS

        return CSS(string=self.fonts.font_face_css(f"{self.asset_origin}fonts/")
                   + self.templates.stylesheet + self.templates.edition_stylesheet
                   + self.brand.css,
                   base_url=f"{self.asset_origin}print/", url_fetcher=self.fetcher,
                   font_config=self.font_config)

    def edition_pdf(self, title, articles, options=None, progress=None):
        """Many articles as one PDF: cover, contents, bookmarks, continuous page numbers.

        Archival editions (``options.archival``) are PDF/A-3a with every article's
        JSON attached.  The /ID comes from the title, the articles' revisions, the
        options and our assets, so the same edition gives the same bytes.
        """
        options = options or self.default_options()
        document_html = self.templates.edition_html(
            title, articles, options, self.settings.site_name,
            image_check=self.fetcher.available,
            on_article=(lambda n: progress("prepared", n)) if progress else None)
        key = ":".join([title, options.key, self.assets_digest,
                        *(f"{a.id}={a.revision}" for a in articles)])
        identifier = hashlib.sha256(key.encode()).hexdigest()[:32]
        return self._edition_html_to_pdf(
            document_html, identifier=identifier,
            sources=articles if options.archival == "1" else None, progress=progress)

    def edition_part(self, title, articles, options, first_index, section_starts):
        """One part of an edition made in parallel: its articles laid out, no page numbers.

        Returns the PDF, its page count and, for each article (by its index in the
        whole edition), the page of this part it starts on (1-based).
        """
        document_html = self.templates.edition_html(
            title, articles, options, self.settings.site_name,
            image_check=self.fetcher.available, mode="part", first_index=first_index,
            section_starts=set(section_starts))
        found = {}

        def starts(document):
            for number, page in enumerate(document.pages, 1):
                for anchor in page.anchors:
                    if anchor[0] == "a" and anchor[1:].isdigit():
                        found.setdefault(int(anchor[1:]), number)
            found["pages"] = len(document.pages)

        key = ":".join([title, options.key, self.assets_digest, str(first_index),
                        *(f"{a.id}={a.revision}" for a in articles)])
        pdf = self._edition_html_to_pdf(
            document_html, identifier=hashlib.sha256(key.encode()).hexdigest()[:32],
            on_document=starts)
        pages = found.pop("pages")
        return {"pdf": pdf, "pages": pages, "starts": found}

    def edition_pages(self, articles, options, section_starts):
        """Articles' edition pages, to keep (``editions.kept``): laid out together as a
        part, then cut into one PDF per article, their fonts' programs left out.
        ``section_starts``: the articles (1-based, in the order given) that open their
        section in the edition.  Returns [(pdf, pages)], in the order given."""
        from .editions.kept import split_part

        part = self.edition_part("", articles, options, 1, section_starts)
        pdfs = split_part(part["pdf"], part["starts"], len(articles), self.font_files)
        bounds = [part["starts"][i] for i in range(1, len(articles) + 1)] + [part["pages"] + 1]
        return [(pdf, bounds[i + 1] - bounds[i]) for i, pdf in enumerate(pdfs)]

    @functools.cached_property
    def font_files(self):
        """Our font files by name and hash, for kept pages' fonts (``editions.kept``)."""
        from .editions.kept import FontFiles

        return FontFiles(self.settings.fonts_dir)

    def edition_front(self, title, articles, options):
        """Cover and contents of a parallel edition, made while its parts are laid out:
        without the entries' page numbers, laid over afterwards (``edition_numbers``;
        they move nothing else), and no page carries its footer yet.

        Returns the PDF, its page count, the first page of the contents (pages
        before it are the cover's, without a footer) and where each entry's number
        goes: {article index: [page, x, y, top, right]}, the entry's left and bottom
        (1-based page, CSS px from the page's top left corner), then its top and
        right: the entry is made a link to its article when the edition is assembled.
        """
        document_html = self.templates.edition_html(
            title, articles, options, self.settings.site_name, mode="front")
        found = {}

        def rooms(document):
            found["pages"] = len(document.pages)
            for number, page in enumerate(document.pages, 1):
                for anchor, (left, top, right, bottom) in page.anchors.items():
                    if anchor == "contents":      # on every page the contents span
                        found.setdefault("contents_page", number)
                    elif anchor[0] == "n" and anchor[1:].isdigit():
                        found.setdefault("rooms", {})[int(anchor[1:])] = [
                            number, left, bottom, top, right]

        pdf = self._edition_html_to_pdf(document_html, identifier=_digest(document_html),
                                        on_document=rooms)
        return {"pdf": pdf, "pages": found["pages"], "contents_page": found["contents_page"],
                "rooms": found.get("rooms", {})}

    def edition_numbers(self, options, pages, placed):
        """``pages`` pages carrying only the contents' page numbers, to lay over the
        front: ``placed`` is {page: [(x, y, number)]}, the left and bottom of entries."""
        document_html = self.templates.edition_html(
            "", [], options, self.settings.site_name, mode="numbers",
            number_pages=[placed.get(page, []) for page in range(1, pages + 1)])
        return self._edition_html_to_pdf(document_html, identifier=_digest(document_html))

    def edition_footers(self, options, total_pages, first=1, last=None):
        """Pages ``first``..``last`` (default: all) of ``total_pages``, carrying only
        «صفحة x من y», to lay over the parts."""
        document_html = self.templates.edition_html(
            "", [], options, self.settings.site_name, mode="footers", total_pages=total_pages,
            footer_range=(first, last or total_pages))
        return self._edition_html_to_pdf(document_html, identifier=_digest(document_html))

    def _edition_html_to_pdf(self, document_html, **options):
        """``html_to_pdf`` with the edition stylesheet and the editions' own limits."""
        return self.html_to_pdf(
            document_html, stylesheet=self.edition_stylesheet,
            max_pages=self.settings.max_edition_pages, limit_setting="MATBAA_MAX_EDITION_PAGES",
            timeout=self.settings.edition_timeout, timeout_setting="MATBAA_EDITION_TIMEOUT",
            **options)

    def warm_up(self):
        """Render a small article once, so the first reader does not pay for first use."""
        from .article import Article

        self.pdf(Article(id="warm-up", title="تجربة Test ١٢٣",
                         body_html="<p>نصّ للتجربة، مع <b>خط عريض</b> وLatin و2024.</p>"))

    def default_options(self):
        return RenderOptions.defaults(self.settings)

    def etag(self, article, options):
        """Changes with the article's revision, the options, templates, fonts and version."""
        return self.etag_for(article.revision, options)

    def etag_for(self, revision, options):
        key = f"{revision}:{options.key}:{self.assets_digest}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]


_LOGGING_SET = []


def build_renderer(settings, engine=True):
    """The Renderer of a process — web, render pool, job runner, Celery worker or CLI —
    with the process's logging set up once: at MATBAA_LOG_LEVEL, and WeasyPrint's
    progress (every layout step, at INFO) left out, its warnings kept."""
    if not _LOGGING_SET:
        logging.basicConfig(level=settings.log_level)
        logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
        _LOGGING_SET.append(True)
    return Renderer(settings, engine=engine)


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _claim_pdfua(metadata):
    """Put the PDF/UA-1 identification in the document's one rdf:RDF element.

    (WeasyPrint's ``xmp_metadata`` would add a second rdf:RDF, which readers
    of the identification do not look at.)
    """
    generate = metadata.generate_rdf_metadata

    def generate_rdf_metadata(*args, **kwargs):
        rdf = generate(*args, **kwargs)
        end = rdf.rindex(b"</rdf:RDF>")
        return rdf[:end] + PDFUA_XMP + _publisher_xmp(metadata) + rdf[end:]

    metadata.generate_rdf_metadata = generate_rdf_metadata


def _publisher_xmp(metadata):
    """dc:publisher, the XMP twin of the Info dictionary's /publisher, for archives."""
    from xml.sax.saxutils import escape

    publisher = metadata.custom.get("publisher")
    if not publisher:
        return b""
    return (b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            b"<dc:publisher><rdf:Bag><rdf:li>" + escape(publisher).encode("utf-8")
            + b"</rdf:li></rdf:Bag></dc:publisher></rdf:Description>\n")


def _source_attachment(article):
    from weasyprint import Attachment

    return Attachment(
        string=json.dumps(article.to_json(), ensure_ascii=False, sort_keys=True, indent=1),
        name=f"{article.file_stem}.json", relationship="Source",
        description="The article as Matbaa received it (JSON)",
        # Dates from the article, not the clock: same input, same bytes.
        created=article.published_at or ARCHIVE_EPOCH,
        modified=article.updated_at or article.published_at or ARCHIVE_EPOCH)


@contextlib.contextmanager
def _deadline(seconds, setting="MATBAA_RENDER_TIMEOUT"):
    """Raise RenderTooLong in this thread after ``seconds`` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise RenderTooLong(f"the render took longer than {seconds} s; raise {setting}")

    previous = signal.signal(signal.SIGALRM, expire)
    # Again every 50 ms once due: a handler that runs inside a gc callback or a
    # __del__ raises where Python only prints the exception, and the render went on
    # to its end (a 200 where the limit said 503, seen on a clean-clone CI, where
    # hypothesis times every collection with a gc callback).
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _text_of(document_html):
    return lxml.html.document_fromstring(document_html).text_content()
