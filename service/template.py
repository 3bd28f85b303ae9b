"""Template: an article and its options become the print HTML (Jinja2, right to left)."""

import base64
import functools
import hashlib
import io
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import zint
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from PIL import Image

from .errors import OptionInvalid
from .normalize import isolate_addresses, normalize_tree, readable_address
from .sanitize import clean_tree, inner_html, paragraphs_to_html

log = logging.getLogger(__name__)

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
PAPER_SIZES = {"a4": "A4", "a5": "A5", "letter": "letter"}
PAPER_HEIGHTS = {"a4": "297mm", "a5": "210mm", "letter": "11in"}
STYLESHEET = "print.css"


@dataclass(frozen=True)
class RenderOptions:
    """Per-request choices; the same object for HTTP, CLI and jobs."""

    paper: str = "a4"
    digits: str = "arab"
    size: str = "m"       # text size: s, m, l
    images: str = "1"     # 0 leaves images out
    archival: str = "0"   # 1: tagged PDF/A-3a with the article's source JSON attached

    ALLOWED = {"paper": tuple(PAPER_SIZES), "digits": ("arab", "latn"),
               "size": ("s", "m", "l"), "images": ("0", "1"), "archival": ("0", "1")}

    @classmethod
    def defaults(cls, settings):
        """The options of a request that asks for none: the one place they are made."""
        return cls(paper=settings.paper, digits=settings.digits)

    @classmethod
    def from_query(cls, args, settings):
        """Read options from query parameters, defaulting to the settings."""
        values = asdict(cls.defaults(settings))
        for name, allowed in cls.ALLOWED.items():
            if name in args:
                value = args.get(name, "").strip().lower()
                if value not in allowed:
                    raise OptionInvalid(name, allowed)
                values[name] = value
        return cls(**values)

    @property
    def key(self):
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))


def digits(text, system):
    return text.translate(ARABIC_INDIC) if system == "arab" else text


class Templates:
    """The print templates, loaded once per process."""

    def __init__(self, templates_dir):
        self.folder = Path(templates_dir) / "print"
        self.env = Environment(
            loader=FileSystemLoader(self.folder), autoescape=select_autoescape(),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["ltr"] = isolate_addresses
        self.env.filters["readable"] = readable_address
        self.article_template = self.env.get_template("article.html")
        self.edition_template = self.env.get_template("edition.html")
        # The service's own pages (home), apart from the print templates.
        self.site_folder = Path(templates_dir) / "site"
        self.site_env = Environment(
            loader=FileSystemLoader(self.site_folder), autoescape=select_autoescape(),
            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.stylesheet = (self.folder / STYLESHEET).read_text(encoding="utf-8")
        self.edition_stylesheet = (self.folder / "edition.css").read_text(encoding="utf-8")
        # Which <img src> may stay: set by the renderer from MATBAA_IMAGE_HOSTS.
        self.image_allowed = lambda src: src.startswith("data:image/")
        # The brand's logo on editions' covers (set by the renderer, MATBAA_BRAND_LOGO).
        self.logo_src = ""

    @functools.cached_property
    def digest(self):
        """Hash of every file in templates/print, read once per process."""
        h = hashlib.sha256()
        for path in sorted(self.folder.rglob("*")):
            if path.is_file():
                h.update(path.name.encode() + path.read_bytes())
        return h.hexdigest()[:16]

    def article_html(self, article, options, site_name, *, font_css, stylesheet_href=None,
                     pdf_href=None, script_href=None, image_check=None, autoprint=False,
                     brand_href=None, logo_src=""):
        """Return the print HTML of ``article``.

        For WeasyPrint the stylesheet is given separately (parsed once per
        process), so ``stylesheet_href`` is only set for the browser view, as
        is ``pdf_href``, which adds the reader's toolbar (its script at ``script_href``).  ``image_check(src)``,
        given for PDFs, fetches each image first: one that cannot be had is
        replaced by a note, like an image that is not allowed.
        """
        item = self.article_item(article, options, site_name, image_check)
        context = {
            "a": item,
            "article": article,
            "dir": article.direction,
            "site": item["site"],
            "section": item["section"],
            "options": options,
            "page_css": Markup(_page_css(options, has_section=bool(item["section"]))),
            "font_css": Markup(font_css),
            "stylesheet_href": stylesheet_href,
            "brand_href": brand_href,
            "logo_src": logo_src or item["site_logo"] or "",
            "toolbar": pdf_href is not None,
            "pdf_href": pdf_href,
            "toolbar_src": script_href,
            "autoprint": autoprint,
            "digits_class": f"digits-{options.digits} size-{options.size}"
                            + (" no-images" if options.images == "0" else "")
                            + (" archival" if options.archival == "1" else ""),
        }
        return self.article_template.render(context)


    def _logo_allowed(self, article, image_check):
        """Whether the article's site logo may be printed: an image address allowed,
        and, for a PDF (``image_check``), one that can be had."""
        return bool(article.site_logo) and self.image_allowed(article.site_logo) and (
            image_check is None or image_check(article.site_logo))

    def site_html(self, name, **context):
        """One of the service's own pages (templates/site/NAME)."""
        return self.site_env.get_template(name).render(context)

    def edition_html(self, title, articles, options, site_name, image_check=None,
                     on_article=None, *, mode="whole", first_index=1, section_starts=None,
                     total_pages=None, footer_range=None, number_pages=None):
        """HTML for an edition, or for one part of an edition made in parallel.

        ``mode``: "whole" (cover, contents with target-counter, every article, one
        page count); "front" (cover and contents only, without page numbers: each
        entry is element ``n<index>``); "part" (the articles
        given, without page numbers, anchors from ``first_index``; a section's
        divider only where ``section_starts`` says it begins); "footers"
        (empty pages carrying only «صفحة x من y», laid over the parts' pages
        afterwards: pages ``footer_range`` = (first, last), 1-based, of
        ``total_pages``, so several processes can each make a share); "numbers"
        (the contents' page numbers, to lay over the front: ``number_pages``, a list
        per front page of (x, y, number), x and y the left and bottom of the entry).

        Sections come in the order of their first article; within a section,
        articles keep the order given (oldest first, as selected).
        """
        sections = {}
        for index, article in enumerate(articles, first_index):
            name = section_name(article)
            anchor = f"a{index}"
            if mode == "part" or mode == "whole":
                item = self.article_item(article, options, site_name, image_check,
                                         heading="h2", anchor=anchor)
            else:
                item = {"article": article, "anchor": anchor}
            item["section_start"] = (section_starts is None and name not in sections) or (
                section_starts is not None and index in section_starts)
            if mode == "front":
                item["slot"] = f"n{index}"
            sections.setdefault(name, []).append(item)
            if on_article is not None:
                on_article(index)
        # Wall-clock dates: some articles carry an offset, some only a day.
        dated = [a.published_at.replace(tzinfo=None) for a in articles if a.published_at]
        locale = _locale("ar")
        date_range = ""
        if dated:
            first, last = _date(min(dated), locale, options.digits), _date(
                max(dated), locale, options.digits)
            date_range = first if first == last else f"من {first} إلى {last}"
        return self.edition_template.render({
            "logo_src": self.logo_src or next(
                (a.site_logo for a in articles if self._logo_allowed(a, image_check)), ""),
            "title": title,
            "site": next((a.site for a in articles if a.site), None) or site_name,
            "options": options,
            "front": mode in ("whole", "front"),
            "body": mode in ("whole", "part"),
            "footer_labels": _footer_labels(options, total_pages, footer_range)
            if mode == "footers" else [],
            # Bottoms as CSS "bottom" from the 1px box at the page's top (edition.css).
            "number_pages": [[(repr(x), repr(1 - y), digits(str(n), options.digits))
                              for x, y, n in numbers] for numbers in number_pages or ()],
            "sections": [{"name": name, "entries": items} for name, items in sections.items()]
            if mode not in ("footers", "numbers") else [],
            "article_count": digits(str(len(articles)), options.digits),
            "section_count": digits(str(len(sections)), options.digits),
            "date_range": date_range,
            "created": max(dated).date().isoformat() if dated else None,
            "page_css": Markup(_edition_page_css(options, mode)),
        })

    def article_item(self, article, options, site_name, image_check=None, *, heading="h1",
                     anchor=None):
        """What the ``render_article`` macro (``_article.html``) needs for one article."""
        body_source = article.body_html or paragraphs_to_html(article.paragraphs or [])
        image_allowed = self.image_allowed if options.images == "1" else _no_images
        if image_check is not None and options.images == "1":
            allowed = image_allowed

            def image_allowed(src):
                return allowed(src) and image_check(src)
        # Sanitised and normalised on one tree, serialised once (text stays text).
        root, links = clean_tree(body_source, image_allowed)
        body = inner_html(normalize_tree(root))
        locale = _locale(article.lang)
        lead = article.lead_image
        return {
            "article": article,
            "heading": heading,
            "anchor": anchor,
            "site": article.site or site_name,
            "section": article.section or (article.categories[0] if article.categories else ""),
            "published": _date(article.published_at, locale, options.digits),
            "updated": _date(article.updated_at, locale, options.digits)
            if article.updated_at and article.updated_at != article.published_at else "",
            "body": Markup(body),
            "links": links,
            "lead_src": lead.src if lead and image_allowed(lead.src) else None,
            # The site's own logo (a WordPress site's), fetched as images are; never
            # left out by ?images=0, which is for the article's pictures.
            "site_logo": article.site_logo if self._logo_allowed(article, image_check)
            else None,
            "qr": _qr(article.url) if article.url else None,
        }


def _no_images(_src):
    return False


def _locale(lang):
    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("ar")


def _date(value, locale, system):
    if value is None:
        return ""
    return digits(format_date(value.date(), "d MMMM y", locale=locale), system)


@functools.lru_cache(maxsize=1024)
def _qr(url):
    """The QR code of ``url`` as a PNG data URI, made to cost WeasyPrint the least.

    A PNG, not an SVG: WeasyPrint draws an SVG QR code path by path (0.06 s each,
    a quarter of an edition's time, measured).  8 px per module: poppler smooths a
    smaller image scaled up, and at 1 px per module zbar could not read it back at
    150 dpi (tests/test_render.py).  8-bit greyscale, written by Pillow, which
    WeasyPrint embeds as it is (a 1-bit PNG it converts to RGB and encodes again).
    Encoded by libzint (zint-bindings), which tries the eight masks in C: segno,
    in Python, took 15-22 ms a code, a tenth of a new article's render and a fifth
    of an edition's time per article (measured).
    """
    data = url.encode()
    if len(data) > QR_MAX_BYTES:
        # The article is printed without one rather than not at all.
        log.warning("address of %d bytes is too long for a QR code; printed without one",
                    len(data))
        return None
    symbol = zint.Symbol()
    symbol.symbology = zint.Symbology.QRCODE
    symbol.option_1 = 2                          # error correction level M
    symbol.input_mode = zint.InputMode.DATA      # the UTF-8 bytes as they are
    symbol.encode(data)
    size = symbol.width
    # A row of modules is packed into bytes, first module in the lowest bit;
    # Pillow's 1-bit images want it in the highest, and 1 for white.
    packed = symbol.encoded_data.tobytes()
    stride, width = len(packed) // symbol.encoded_data.shape[0], (size + 7) // 8
    rows = b"".join(packed[r * stride:r * stride + width] for r in range(size))
    modules = Image.frombytes("1", (width * 8, size), rows.translate(_QR_BITS))
    png = io.BytesIO()
    (modules.crop((0, 0, size, size)).convert("L")
     .resize((size * 8, size * 8), Image.Resampling.NEAREST).save(png, "PNG"))
    return "data:image/png;base64," + base64.b64encode(png.getvalue()).decode("ascii")


# What the largest QR code (version 40) holds at level M in byte mode, the mode that
# holds least: any address up to this long fits.
QR_MAX_BYTES = 2331
# Each byte's bits reversed and inverted: libzint's rows as Pillow's "1" mode reads them.
_QR_BITS = bytes((~int(f"{b:08b}"[::-1], 2)) & 0xFF for b in range(256))


def section_name(article):
    return article.section or (article.categories[0] if article.categories else "متفرقات")


def _footer_labels(options, total_pages, footer_range=None):
    first, last = footer_range or (1, total_pages)
    total = digits(str(total_pages), options.digits)
    return [f"صفحة {digits(str(n), options.digits)} من {total}" for n in range(first, last + 1)]


def _edition_page_css(options, mode="whole"):
    style = "arabic-indic" if options.digits == "arab" else "decimal"
    # The parts' and the front's page numbers are laid over them afterwards.
    footer = (f'"صفحة " counter(page, {style}) " من " counter(pages, {style})'
              if mode == "whole" else "none")
    css = (f"@page {{ size: {PAPER_SIZES[options.paper]}; @top-right {{ content: "
           f"string(section); }} @bottom-center {{ content: {footer}; }} }}\n")
    if mode == "part":
        # A part's first page is not the edition's: it keeps the running headline.
        css += ("@page :first { @top-left { content: string(headline); "
                "border-bottom: 0.4pt solid #999; } }\n")
    if mode in ("numbers", "footers"):
        # Pages laid over others, without margin boxes (WeasyPrint makes all sixteen
        # of every page's, even empty: 323 such pages 1.8 s, as lines of text 1.2 s,
        # measured).  Numbers: the whole page, in its own coordinates, where the
        # front's entries are.  Footers: the page's area is the bottom margin's strip
        # (print.css: 22 mm), each label a line in it, on the pixels @bottom-center
        # gives (tests/test_edition.py).
        margin = ("0" if mode == "numbers"
                  else f"calc({PAPER_HEIGHTS[options.paper]} - 22mm) 0 0 0")
        css = (f"@page {{ size: {PAPER_SIZES[options.paper]}; margin: {margin}; "
               "@top-right { content: none; border: none; } "
               "@top-left { content: none; border: none; } }\n")
    # Named pages after the rule above: the cover has neither header nor footer.
    css += ("@page cover { @top-right { content: none; border: none; } "
            "@top-left { content: none; border: none; } @bottom-center { content: none; } }\n"
            "@page contents { @top-right { content: none; border: none; } "
            "@top-left { content: none; border: none; } }\n"
            # The number sits at the line's end (left); a leader would be text (dots,
            # or runs of spaces), which the text layer would carry.
            f".contents a.page-ref::after {{ content: target-counter(attr(href), page, "
            f"{style}); }}\n")
    return css


def _page_css(options, has_section=True):
    """The @page rules that depend on the options and article (page rules cannot use classes)."""
    style = "arabic-indic" if options.digits == "arab" else "decimal"
    header = 'string(site) " · " string(section)' if has_section else "string(site)"
    return (
        f"@page {{ size: {PAPER_SIZES[options.paper]}; @top-right {{ content: {header}; }} "
        f'@bottom-center {{ content: "صفحة " counter(page, {style}) " من " '
        f"counter(pages, {style}); }} }}\n")
