"""Feeds: RSS 2.0 and Atom as a source, one item becoming one article (feedparser).

Each item is mapped on its own: the body from ``content:encoded`` (Atom ``content``),
else ``description``; its date as the feed wrote it (``pubDate``, ``updated``, through
service.dates); ``dc:creator`` or ``author``; ``category``; ``link``; the lead image from
an image enclosure or ``media:content``.  The article id comes from the item's
``guid`` (Atom ``id``), so that importing the feed again updates each article instead
of adding it twice.  An item that cannot be an article is reported with its reason;
the others are imported all the same.
"""

import hashlib
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

import feedparser

from .article import parse_article, slug_of
from .errors import ArticleInvalid, MatbaaError, SourceUnavailable
from .fetch import FeedPolicy, FetchRefused, get_public

FEED_TYPES = ("application/rss+xml", "application/atom+xml")


@dataclass
class FeedItems:
    """The articles a feed gave, and the items it could not give, with their reasons."""

    title: str | None = None
    articles: list = field(default_factory=list)
    failed: list = field(default_factory=list)    # [{"item": n, "guid", "error": {...}}]


def fetch_feed(url, settings):
    """A feed's bytes, fetched as images are: from MATBAA_FEED_HOSTS (or the WordPress
    site's origin), at public addresses only, within MATBAA_MAX_BODY_BYTES."""
    policy = FeedPolicy(settings.feed_host_list, max_bytes=settings.max_body_bytes,
                        timeout=settings.feed_timeout,
                        trusted_origins=[settings.wordpress_origin])
    if not policy.allows_url(url):
        raise ArticleInvalid("url", f"feeds are fetched only from MATBAA_FEED_HOSTS "
                             f"({settings.feed_hosts or 'none set'}): {url[:200]}",
                             "لا يُجلب الموجز إلا من المضيفين في MATBAA_FEED_HOSTS")
    try:
        return get_public(url, policy)[0]
    except FetchRefused as exc:
        raise SourceUnavailable(f"the feed could not be fetched: {exc}",
                                "تعذّر جلب الموجز") from None


def import_feed(store, items):
    """Store a feed's articles; the report answered over HTTP and printed by the CLI."""
    stored = [{"id": a.id, "outcome": store.upsert(a)} for a in items.articles]
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in stored:
        counts[item["outcome"]] += 1
    return {"feed": items.title, **counts, "failed_count": len(items.failed),
            "items": stored, "failed": items.failed}


def looks_like_feed(data):
    """Is ``data`` (bytes) an RSS or Atom document rather than a page or JSON?"""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"<?xml"):
        head = head[head.find(b"?>") + 2:].lstrip()
    while head.startswith(b"<!--") or head.startswith(b"<?"):
        end = head.find(b"-->" if head.startswith(b"<!--") else b"?>")
        head = head[end + 3:].lstrip() if end >= 0 else b""
    return head.startswith((b"<rss", b"<feed", b"<rdf:rdf"))


def articles_from_feed(data, max_chars=None, timezone=None):
    """The items of a feed (bytes) as articles; raises ArticleInvalid when ``data`` is not
    a feed at all."""
    feed = feedparser.parse(data, sanitize_html=False, resolve_relative_uris=True)
    channel = feed.get("feed", {})
    if not feed.get("version") or (feed.bozo and not feed.entries):
        reason = getattr(feed.get("bozo_exception"), "args", ["not RSS or Atom"])[0]
        raise ArticleInvalid("body", f"not an RSS or Atom feed ({str(reason)[:200]})",
                             "ليس هذا موجز RSS ولا Atom")
    site = _text(channel.get("title"))
    lang = (channel.get("language") or "ar").split("-")[0].lower() or "ar"
    result = FeedItems(title=site)
    for number, entry in enumerate(feed.entries, 1):
        guid = entry.get("id") or entry.get("link")
        try:
            result.articles.append(parse_article(_article_data(entry, site, lang),
                                                 max_chars, timezone))
        except MatbaaError as exc:
            result.failed.append({"item": number, "guid": guid, "error": exc.to_json()["error"]})
    return result


def _article_data(entry, site, lang):
    guid = entry.get("id") or entry.get("link")
    if not guid:
        raise ArticleInvalid("guid", "the item has neither a guid nor a link to name it by",
                             "العنصر بلا guid ولا رابط يُعرف به")
    content = entry.get("content") or []
    body = next((c.get("value") for c in content if (c.get("value") or "").strip()), None) \
        or entry.get("summary")
    link = entry.get("link")
    tags = [_text(t.get("term")) for t in entry.get("tags") or ()]
    data = {
        "id": feed_item_id(guid),
        "title": _text(entry.get("title")),
        "body_html": body,
        "url": link if link and link.startswith(("http://", "https://")) else None,
        "site": site,
        "author": _author(entry.get("author")),
        # The date as the feed wrote it, read by service.dates (feedparser's own reading
        # is in UTC and drops the zone the newsroom wrote).
        # (dict.get: feedparser's own get answers "updated" with the published date.)
        "published_at": dict.get(entry, "published") or dict.get(entry, "updated"),
        "updated_at": dict.get(entry, "updated") if dict.get(entry, "published") else None,
        "categories": [t for t in dict.fromkeys(tags) if t],
        "lang": lang,
    }
    data["section"] = data["categories"][0] if data["categories"] else None
    if image := _lead_image(entry):
        data["lead_image"] = {"src": image}
    return {k: v for k, v in data.items() if v not in (None, "", [])}


def feed_item_id(guid):
    """A stable article id from an item's guid, the same on every import.

    An address gives its path («/news/2018/06/05/rain» → «news-2018-06-05-rain»: every
    segment, as two items can share the last one), or, with none, its host and query
    (WordPress's «https://gulf.example/?p=4411» → «gulf-example-p-4411»); any other
    guid is its own name.  One too long for an id is shortened with a hash of it.
    """
    guid = guid.strip()
    parts = urlsplit(guid)
    name = guid
    if parts.scheme in ("http", "https"):
        path = re.sub(r"\.html?$", "", unquote(parts.path).strip("/"))
        name = path or f"{parts.hostname or ''}-" + "-".join(
            f"{k}-{v}" for k, v in parse_qsl(parts.query))
    slug = re.sub(r"-{2,}", "-", slug_of(name, keep=r"\-")).strip("-")
    digest = hashlib.sha256(guid.encode("utf-8")).hexdigest()[:16]
    if not slug:
        return digest
    return slug if len(slug) <= 120 else f"{slug[:103]}-{digest}"


def _lead_image(entry):
    candidates = [(e.get("href"), e.get("type", "")) for e in entry.get("enclosures") or ()]
    candidates += [(m.get("url"), m.get("type") or ("image/" if m.get("medium") == "image"
                                                     else ""))
                   for m in entry.get("media_content") or ()]
    candidates += [(m.get("url"), "image/") for m in entry.get("media_thumbnail") or ()]
    for url, kind in candidates:
        if url and url.startswith(("http://", "https://")) and kind.startswith("image/"):
            return url
    return None


def _author(value):
    """A name to print: RSS 2.0 writes <author> as «email (name)», which feedparser
    splits wrongly around Arabic names; an address alone is not printed."""
    value = _text(value)
    if value and (match := re.fullmatch(r"[^\s@()]+@[^\s@()]+\s*\((.+)\)", value)):
        return _text(match.group(1))
    if value and re.fullmatch(r"[^\s@()]+@[^\s@()]+", value):
        return None
    return value


def _text(value):
    return " ".join((value or "").split()) or None
