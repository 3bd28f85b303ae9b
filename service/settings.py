"""Settings: every knob of the service, declared once, read from ``MATBAA_*``."""

import dataclasses
import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A ``MATBAA_*`` variable holds a value that cannot be used."""


def _setting(default, help, **kwargs):
    return field(default=default, metadata={"help": help, **kwargs})


@dataclass(frozen=True)
class Settings:
    """Service settings; ``Settings.from_env()`` reads each from ``MATBAA_<NAME>``."""

    data_dir: Path = _setting(
        PROJECT_ROOT / "var", "Folder for the SQLite store and other local state.")
    database_url: str = _setting(
        "", "SQLAlchemy URL of the article store; empty means an SQLite file in DATA_DIR.")
    site_name: str = _setting(
        "مطبعة", "Site name printed on articles that do not name their own site.")
    timezone: str = _setting(
        "", "The site's time zone (an IANA name: Africa/Cairo, Asia/Amman), for dates written "
        "without one; empty keeps such dates as the wall-clock time they give.")
    feed_hosts: str = _setting(
        "", "Comma-separated hosts (and their subdomains) feeds may be fetched from "
        "(matbaa import --feed URL); empty means none.")
    feed_timeout: int = _setting(10, "Seconds allowed for fetching one feed.")
    brand_logo: Path | None = _setting(
        None, "The newsroom's logo, an SVG or PNG file, in the masthead of every PDF and "
        "print view and on editions' covers (embedded once per PDF); empty: the site name "
        "alone.")
    brand_color: str = _setting(
        "", "The newsroom's accent colour, any CSS colour (#0b5d3b, rgb(11 93 59)): the "
        "masthead's name and rule, the running heads' rules, the editions' cover; empty "
        "keeps black and greys.")
    brand_stylesheet: Path | None = _setting(
        None, "The operator's own CSS file, applied after ours to every PDF and print view "
        "(not article content; what it names is fetched only as images are, from "
        "MATBAA_IMAGE_HOSTS or data: URLs).")
    brand_body_font: str = _setting(
        "", "A font family added with `matbaa fonts add FILE --role body`, printed in place "
        "of Matbaa Naskh (body text); empty keeps ours.")
    brand_headings_font: str = _setting(
        "", "A font family added with `matbaa fonts add FILE --role headings`, printed in "
        "place of Matbaa Kufi (headings, masthead, running heads); empty keeps ours.")
    digits: str = _setting(
        "arab", "Digits for page numbers and dates: 'arab' (٣) or 'latn' (3).",
        choices=("arab", "latn"))
    paper: str = _setting(
        "a4", "Default paper size: a4, a5 or letter.", choices=("a4", "a5", "letter"))
    max_body_bytes: int = _setting(
        2 * 1024 * 1024, "Largest request body accepted, in bytes.")
    max_article_chars: int = _setting(
        1_000_000, "Largest article (title plus body HTML), in characters.")
    max_pages: int = _setting(
        200, "Most pages one document may have; longer ones are refused.")
    render_timeout: int = _setting(
        30, "Seconds one render may take before it is stopped (503).")
    max_edition_pages: int = _setting(
        5000, "Most pages one edition (many articles in one PDF) may have.")
    edition_timeout: int = _setting(
        1800, "Seconds one edition may take to lay out before it is stopped.")
    job_stall: int = _setting(
        900, "Seconds an edition job on Celery workers may go without progress (a part "
        "laid out, a stage claimed) before its next steps are enqueued again; after three "
        "such attempts it fails. Longer than the longest part's layout.")
    max_edition_articles: int = _setting(
        2000, "Most article ids one edition request may list.")
    edition_part_articles: int = _setting(
        20, "Articles of an edition whose pages are not kept yet are laid out in parts of "
        "about this many.")
    broker_url: str = _setting(
        "", "Celery broker (redis://127.0.0.1:6379/0): jobs then run on `matbaa worker` "
        "processes, on this machine or others; empty means a local worker process.")
    job_processes: int = _setting(
        1, "Worker processes for jobs (editions) when no broker is set.")
    render_processes: int = _setting(
        os.cpu_count() or 1, "Render worker processes under matbaa serve (default: one per core).")
    render_max_renders: int = _setting(
        500, "Renders after which a render process is replaced by a fresh one (bounds memory).")
    render_queue: int = _setting(
        16, "Renders that may wait for a free render process; one more is refused with 429.")
    render_rate: str = _setting(
        "60/minute", "Uncached renders one client (by address) may cause, in the notation of "
        "the limits library (60/minute, 1000/day); beyond it 429 with Retry-After. Cached "
        "PDFs are never limited.")
    prerender_queue: int = _setting(
        64, "Articles whose PDF may wait to be rendered in the background after a PUT or the "
        "WordPress hook; beyond it the first reader renders it; 0 turns pre-rendering off.",
        minimum=0)
    keep_edition_pages: str = _setting(
        "1", "1: an article stored by PUT, import or the WordPress hook also has its edition "
        "pages laid out and kept in the background (after its PDF), so editions find them; "
        "0: they are laid out by the first edition that prints it.", choices=("1", "0"))
    trusted_proxies: int = _setting(
        0, "Reverse proxies in front of the service (nginx on the same host is 1): the "
        "client's address, scheme and host are taken from their X-Forwarded-* headers for "
        "that many hops, and only then.", minimum=0)
    secret_key: str = _setting(
        "", "Key that signs the desk's session cookies; empty: a random one made once and "
        "kept in DATA_DIR/secret_key (set it when web processes do not share DATA_DIR).")
    api_keys: str = _setting(
        "", "Comma-separated keys for writes and renders of sent content "
        "(Authorization: Bearer KEY); empty means loopback clients only.")
    image_hosts: str = _setting(
        "", "Comma-separated hosts (and their subdomains) images may be fetched from.")
    max_image_bytes: int = _setting(
        5 * 1024 * 1024, "Largest remote image fetched, in bytes.")
    image_timeout: int = _setting(5, "Seconds allowed for fetching one remote image.")
    image_cache_bytes: int = _setting(
        64 * 1024 * 1024, "Memory per render process for fetched images, reused by later "
        "renders; least recently used go first; 0 keeps none.", minimum=0)
    wordpress_url: str = _setting(
        "", "A WordPress site (e.g. https://news.example); numeric article ids are then its "
        "post ids, loaded from its REST API. Its host may serve images.")
    wordpress_freshness: int = _setting(
        60, "Seconds a post loaded from WordPress is used before WordPress is asked again.")
    wordpress_missing_ttl: int = _setting(
        30, "Seconds a post WordPress said is missing or not public is answered 404/403 "
        "without asking WordPress again (the publishing hook always asks).", minimum=0)
    wordpress_timeout: int = _setting(
        5, "Seconds allowed for one answer from WordPress.")
    cache_dir: Path | None = _setting(
        None, "Folder for rendered PDFs; empty means DATA_DIR/cache.")
    cache_max_bytes: int = _setting(
        1024 ** 3, "Size cap of the PDF cache, in bytes; least recently used files go first.")
    hot_cache_bytes: int = _setting(
        32 * 1024 * 1024, "Memory per web process for the last answers of cached article PDFs, "
        "answered again without Flask until the store changes; 0 turns it off.", minimum=0)
    kept_lines_bytes: int = _setting(
        32 * 1024 * 1024, "Memory per render process for the glyphs of laid-out lines, kept "
        "to draw them without shaping them again; lines beyond it are shaped again; 0 turns "
        "it off.", minimum=0)
    cache_max_age: int = _setting(
        300, "Seconds browsers and proxies may reuse a published article's PDF (Cache-Control).")
    fonts_dir: Path = _setting(
        PROJECT_ROOT / "fonts", "Folder holding the bundled fonts and manifest.json.")
    templates_dir: Path = _setting(
        PROJECT_ROOT / "templates", "Folder holding the print/ templates.")
    frame_ancestors: str = _setting(
        "'none'", "Who may show the service's pages and PDFs in a frame (the CSP "
        "frame-ancestors sources): 'none', 'self', or origins such as https://news.example.")
    shared_dir: Path = _setting(
        PROJECT_ROOT.parent / "shared",
        "Read-only corpus used by the corpus tests (articles, pages, W3C cases).")
    log_level: str = _setting("INFO", "Python logging level.")

    @property
    def image_host_list(self):
        return [host.strip() for host in self.image_hosts.split(",") if host.strip()]

    @property
    def feed_host_list(self):
        return [host.strip() for host in self.feed_hosts.split(",") if host.strip()]

    @property
    def zone(self):
        """MATBAA_TIMEZONE as a tzinfo, or None."""
        from .dates import zone

        return zone(self.timezone.strip())

    @property
    def wordpress_origin(self):
        """scheme://host[:port] of MATBAA_WORDPRESS_URL, or ''."""
        from urllib.parse import urlsplit

        parts = urlsplit(self.wordpress_url.strip())
        return f"{parts.scheme}://{parts.netloc}".lower() if parts.netloc else ""

    @property
    def api_key_list(self):
        return [key.strip() for key in self.api_keys.split(",") if key.strip()]

    @property
    def pdf_cache_dir(self):
        return self.cache_dir or self.data_dir / "cache"

    @property
    def store_url(self):
        return self.database_url or f"sqlite:///{self.data_dir / 'matbaa.sqlite3'}"

    @classmethod
    def from_env(cls, environ=None, **overrides):
        """Build settings from ``MATBAA_*`` variables; ``overrides`` win."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = f"MATBAA_{f.name.upper()}"
            if f.name in overrides or name not in environ:
                continue
            values[f.name] = _convert(f, environ[name], name)
        for name, value in overrides.items():
            kind = {f.name: f.type for f in fields(cls)}[name]
            values[name] = Path(value) if kind in (Path, Path | None) and isinstance(
                value, str) else value
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes):
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self):
        for f in fields(self):
            choices = f.metadata.get("choices")
            if choices and getattr(self, f.name) not in choices:
                raise SettingsError(
                    f"MATBAA_{f.name.upper()} must be one of {', '.join(choices)}")
            if f.name == "wordpress_url" and self.wordpress_url and not re.fullmatch(
                    r"https?://[^\s/]+(/[^\s]*)?", self.wordpress_url.strip()):
                raise SettingsError("MATBAA_WORDPRESS_URL must be an http(s) address")
            if f.name == "frame_ancestors" and not re.fullmatch(
                    r"'none'|(?:'self'|https?://[A-Za-z0-9.*:-]+)(?: (?:'self'|https?://"
                    r"[A-Za-z0-9.*:-]+))*", self.frame_ancestors.strip()):
                raise SettingsError(
                    "MATBAA_FRAME_ANCESTORS must be 'none', or 'self' and http(s) origins "
                    "separated by spaces")
            if f.name == "timezone":
                try:
                    self.zone
                except ValueError as exc:
                    raise SettingsError(f"MATBAA_TIMEZONE: {exc}") from None
            if f.name == "render_rate":
                import limits

                try:
                    limits.parse(self.render_rate)
                except ValueError:
                    raise SettingsError("MATBAA_RENDER_RATE must be a rate such as 60/minute "
                                        "or 1000/day") from None
            if f.type is int and getattr(self, f.name) < f.metadata.get("minimum", 1):
                raise SettingsError(f"MATBAA_{f.name.upper()} must be a positive number"
                                    if f.metadata.get("minimum", 1) else
                                    f"MATBAA_{f.name.upper()} must be 0 or more")


def _convert(f, raw, name):
    kind = Path if f.type == Path | None else f.type
    try:
        if kind is int:
            return int(raw)
        if kind is Path:
            if f.type == Path | None and not raw.strip():
                return None
            return Path(raw).expanduser()
        return raw
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None


def describe():
    """Yield (variable, default, help) for every setting, for docs and ``--help``."""
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path):
            default = os.path.relpath(default, PROJECT_ROOT)
        elif default is None:
            default = ""
        yield f"MATBAA_{f.name.upper()}", default, f.metadata["help"]
