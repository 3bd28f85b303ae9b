"""WordPress source: posts loaded from a site's REST API, stored, kept fresh.

With MATBAA_WORDPRESS_URL set, a numeric article id is a WordPress post id.
The post is fetched from ``/wp-json/wp/v2/posts/<id>?_embed`` (or, on sites
without pretty links, ``/?rest_route=/wp/v2/posts/<id>``), mapped to the
article model and upserted.  It is asked for again only after
MATBAA_WORDPRESS_FRESHNESS seconds, conditionally (``If-None-Match`` /
``If-Modified-Since`` where the site sent validators, else by comparing
``modified_gmt``), so an unchanged post keeps its revision and its cached PDF.

When the site is down or slow, a stored copy is served and marked stale;
without one the reader gets a clear 502/504.  A post that WordPress says is
missing (404) or not public (401/403: draft, private) is never served.
"""

import contextlib
import copy
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote, urlencode, urlsplit

import lxml.html
import urllib3

from .article import parse_article
from .plurals import count
from .errors import (
    ArticleInvalid, ArticleNotFound, ArticleNotPublic, SourceTimeout, SourceUnavailable)

log = logging.getLogger(__name__)

SOURCE = "wordpress"


@dataclass(frozen=True)
class Loaded:
    article: object
    # "fresh" (checked within the freshness window), "created", "updated",
    # "unchanged" (asked again, same post) or "stale" (the site failed; stored copy).
    outcome: str
    reason: str = ""

    @property
    def stale(self):
        return self.outcome == "stale"


class WordPress:
    """One WordPress site, reached over its REST API."""

    def __init__(self, settings, store, version="0"):
        self.base = settings.wordpress_url.rstrip("/")
        self.store = store
        self.freshness = settings.wordpress_freshness
        self.timeout = settings.wordpress_timeout
        self.max_chars = settings.max_article_chars
        self.zone = settings.zone
        # A post's JSON holds its HTML plus embeds: allow some room over the article limit.
        self.max_bytes = 4 * settings.max_article_chars + 256 * 1024
        self.http = urllib3.PoolManager(
            num_pools=2, maxsize=4, retries=False,
            timeout=urllib3.Timeout(total=settings.wordpress_timeout),
            headers={"User-Agent": f"Matbaa/{version}", "Accept": "application/json"})
        # Posts WordPress said are missing or not public, not asked for again within
        # MATBAA_WORDPRESS_MISSING_TTL: a link to a deleted post must not cost WordPress
        # a request per reader.  Bounded; the oldest go first.
        self.missing_ttl = settings.wordpress_missing_ttl
        self._missing = OrderedDict()   # post id or "slug:…" -> (when, the error)
        self._missing_lock = threading.Lock()
        self._pretty_links = None    # learned on first use: does /wp-json/ answer?
        self._site = None            # (name, logo address), from the REST index, once

    @property
    def origin(self):
        parts = urlsplit(self.base)
        return f"{parts.scheme}://{parts.netloc}"

    @staticmethod
    def handles(article_id):
        """Numeric ids are WordPress post ids."""
        return article_id.isascii() and article_id.isdigit()

    # -- loading ------------------------------------------------------------------

    def load(self, post_id, *, force=False):
        """The post as an Article, from the store when fresh, else from WordPress."""
        post_id = str(post_id)
        if force:
            self._forget(post_id)
        else:
            self._raise_if_missing(post_id)
        state = self.store.source_state(post_id)
        stored = self.store.get(post_id) if state else None
        if stored is not None and not force and self._is_fresh(state):
            return Loaded(stored, "fresh")
        with self._remembering(post_id):
            try:
                status, post, headers = self._get(
                    f"/wp/v2/posts/{post_id}", {"_embed": "1"},
                    self._validators(state, stored))
            except (SourceUnavailable, SourceTimeout) as exc:
                return self._stale_or_raise(stored, exc)
            return self._accept(status, post, headers, state, stored)

    def load_slug(self, slug):
        """The published post with this slug (as WordPress shows it, or decoded)."""
        slug = unquote(slug)
        self._raise_if_missing(f"slug:{slug}")
        state = self.store.source_state(source=SOURCE, slug=slug)
        stored = self.store.get(state["article_id"]) if state else None
        if stored is not None and self._is_fresh(state):
            return Loaded(stored, "fresh")
        with self._remembering(f"slug:{slug}"):
            try:
                status, posts, headers = self._get("/wp/v2/posts",
                                                   {"slug": slug, "_embed": "1"})
            except (SourceUnavailable, SourceTimeout) as exc:
                return self._stale_or_raise(stored, exc)
            if not isinstance(posts, list):
                raise SourceUnavailable(self._says("answered the slug search with something "
                                                   "that is not a list of posts"))
            if not posts:
                raise ArticleNotFound(
                    self._says(f"has no published post with the slug '{slug}'"),
                    f"لا يوجد في موقع ووردبريس مقال منشور بالاسم «{slug}»")
            post = posts[0]
            post_id = str(post.get("id", ""))
            state = self.store.source_state(post_id) if self.handles(post_id) else None
            stored = self.store.get(post_id) if state else None
            return self._accept(status, post, headers, state, stored)

    def site_name(self):
        """The site's own name (its REST index), asked once; None if it cannot be had."""
        return self._site_facts()[0]

    def site_logo(self):
        """The address of the site's own logo (the theme's custom logo, else its site
        icon), from its REST index, asked once; None if it has none."""
        return self._site_facts()[1]

    def _site_facts(self):
        if self._site is None:
            try:
                _, index, _ = self._get("/", {})
            except (SourceUnavailable, SourceTimeout, ArticleNotFound, ArticleNotPublic):
                return None, None
            index = index if isinstance(index, dict) else {}
            name = (index.get("name") or "").strip() or None
            logo = None
            if isinstance(index.get("site_logo"), int) and index["site_logo"] > 0:
                try:
                    _, media, _ = self._get(f"/wp/v2/media/{index['site_logo']}", {})
                    logo = media.get("source_url") if isinstance(media, dict) else None
                except (SourceUnavailable, SourceTimeout, ArticleNotFound, ArticleNotPublic):
                    logo = None
            logo = logo or index.get("site_icon_url") or None
            if not (isinstance(logo, str) and logo.startswith(("http://", "https://"))):
                logo = None
            self._site = (name, logo)
        return self._site

    # -- internals ----------------------------------------------------------------

    MAX_MISSING = 10_000

    @contextlib.contextmanager
    def _remembering(self, key):
        """Remember a 404 or 403 from WordPress for ``key``, and let it go on."""
        try:
            yield
        except (ArticleNotFound, ArticleNotPublic) as exc:
            if self.missing_ttl > 0:
                with self._missing_lock:
                    self._missing.pop(key, None)
                    self._missing[key] = (time.monotonic(), exc)
                    while len(self._missing) > self.MAX_MISSING:
                        self._missing.popitem(last=False)
            raise

    def _raise_if_missing(self, key):
        with self._missing_lock:
            remembered = self._missing.get(key)
            if remembered is None:
                return
            when, exc = remembered
            if time.monotonic() - when >= self.missing_ttl:
                del self._missing[key]
                return
        raise copy.copy(exc).with_traceback(None)

    def _forget(self, key):
        with self._missing_lock:
            self._missing.pop(key, None)

    def _accept(self, status, post, headers, state, stored):
        if status == 304 and stored is not None:
            self.store.save_source_state(stored.id, SOURCE)
            return Loaded(stored, "unchanged")
        if not isinstance(post, dict) or not self.handles(str(post.get("id", ""))):
            raise SourceUnavailable(self._says("answered with something that is not a post"))
        if (post.get("content") or {}).get("protected"):
            raise ArticleNotPublic(self._says(f"keeps post {post['id']} behind a password"))
        modified = post.get("modified_gmt")
        if stored is not None and state and modified and modified == state["remote_modified"]:
            self.store.save_source_state(stored.id, SOURCE)
            return Loaded(stored, "unchanged")
        try:
            article = parse_article(article_data(post, *self._site_facts()), self.max_chars,
                                    self.zone)
        except ArticleInvalid as exc:
            raise SourceUnavailable(
                self._says(f"sent post {post['id']}, which cannot be printed: {exc.message_en}"),
                f"تعذّرت طباعة مقال ووردبريس رقم {post['id']}: {exc.message_ar}",
                field=exc.details.get("field")) from None
        outcome = self.store.upsert(article)
        self.store.save_source_state(
            article.id, SOURCE, slug=article.slug, remote_modified=modified,
            etag=headers.get("etag"), last_modified=headers.get("last-modified"))
        return Loaded(article, outcome)

    def _stale_or_raise(self, stored, exc):
        if stored is None:
            raise exc
        log.warning("serving stored post %s: %s", stored.id, exc.message_en)
        return Loaded(stored, "stale", exc.code)

    def _is_fresh(self, state):
        checked = state["checked_at"]
        if checked.tzinfo is None:      # SQLite gives naive datetimes back; they are UTC
            checked = checked.replace(tzinfo=timezone.utc)
        return (datetime.now(timezone.utc) - checked).total_seconds() < self.freshness

    @staticmethod
    def _validators(state, stored):
        if not state or stored is None:
            return {}
        headers = {}
        if state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state.get("last_modified"):
            headers["If-Modified-Since"] = state["last_modified"]
        return headers

    def _get(self, route, params, headers=None):
        """GET a REST route; returns (status, decoded JSON or None, headers)."""
        if self._pretty_links is not False:
            url = f"{self.base}/wp-json{route}" + (f"?{urlencode(params)}" if params else "")
            status, data, answer = self._request(url, headers)
            if self._pretty_links is None:
                # A site without pretty links answers /wp-json/ with its HTML 404 page.
                self._pretty_links = not (status == 404 and data is None)
                if not self._pretty_links:
                    log.info("%s has no pretty links; using ?rest_route=", self.base)
            if self._pretty_links:
                return self._check(status, data, answer, route)
        url = f"{self.base}/?" + urlencode({"rest_route": route, **params})
        return self._check(*self._request(url, headers), route)

    def _request(self, url, headers):
        response = None
        try:
            response = self.http.request("GET", url, headers=headers or {},
                                         preload_content=False, redirect=False)
            body = response.read(self.max_bytes + 1)
        except urllib3.exceptions.NewConnectionError as exc:
            # Checked first: urllib3 makes a refused connection a kind of timeout.
            raise SourceUnavailable(self._says(f"cannot be reached ({exc.__class__.__name__})"),
                                    "تعذّر الوصول إلى موقع ووردبريس") from None
        except urllib3.exceptions.TimeoutError:
            raise SourceTimeout(self._says(
                f"did not answer within {self.timeout} s; raise MATBAA_WORDPRESS_TIMEOUT"),
                f"لم يُجب موقع ووردبريس خلال {count(self.timeout, 'second')}") from None
        except urllib3.exceptions.HTTPError as exc:
            what = "broke off its answer" if response is not None else "cannot be reached"
            raise SourceUnavailable(self._says(f"{what} ({exc.__class__.__name__})"),
                                    "تعذّر الوصول إلى موقع ووردبريس") from None
        finally:
            if response is not None:
                response.release_conn()
        if len(body) > self.max_bytes:
            raise SourceUnavailable(self._says(
                f"sent more than {self.max_bytes} bytes; raise MATBAA_MAX_ARTICLE_CHARS"),
                "رد موقع ووردبريس أكبر من الحد المسموح")
        data = None
        if "json" in (response.headers.get("content-type") or ""):
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        return response.status, data, {k.lower(): v for k, v in response.headers.items()}

    def _check(self, status, data, headers, route):
        if status in (200, 304):
            if status == 200 and data is None:
                raise SourceUnavailable(self._says(f"answered {route} with something not JSON"))
            return status, data, headers
        if status in (404, 410):
            raise ArticleNotFound(self._says(f"has no published post at {route}"),
                                  "المقال غير موجود في موقع ووردبريس")
        if status in (401, 403):
            raise ArticleNotPublic(self._says(f"does not show {route} to the public "
                                              "(a draft or private post)"))
        raise SourceUnavailable(self._says(f"answered {route} with HTTP {status}"),
                                f"أجاب موقع ووردبريس بالرمز {status}")

    def _says(self, what):
        return f"WordPress at {self.base} {what}"


def article_data(post, site_name=None, site_logo=None):
    """Map a post from ``/wp/v2/posts?_embed`` (checked against WordPress 6.1) to article JSON."""
    embedded = post.get("_embedded") or {}
    terms = [term for group in embedded.get("wp:term") or [] if isinstance(group, list)
             for term in group if isinstance(term, dict)]
    categories = [t["name"] for t in terms if t.get("taxonomy") == "category" and t.get("name")]
    tags = [t["name"] for t in terms if t.get("taxonomy") == "post_tag" and t.get("name")]
    authors = [a for a in embedded.get("author") or [] if isinstance(a, dict)]
    data = {
        "id": str(post["id"]),
        "title": _text((post.get("title") or {}).get("rendered")),
        "body_html": (post.get("content") or {}).get("rendered") or "",
        "subtitle": _manual_excerpt((post.get("excerpt") or {}).get("rendered")),
        "slug": unquote(post.get("slug") or "") or None,
        "url": post.get("link") or None,
        "site": site_name,
        "site_logo": site_logo,
        "author": (authors[0].get("name") or None) if authors else None,
        "published_at": _gmt(post.get("date_gmt")),
        "updated_at": _gmt(post.get("modified_gmt")),
        "categories": categories,
        "section": categories[0] if categories else None,
        "tags": tags,
        "lang": "ar",
    }
    # The key is absent when a post has no featured image; an entry without
    # source_url is an error object (e.g. the image is not public).
    media = (embedded.get("wp:featuredmedia") or [None])[0]
    if isinstance(media, dict) and media.get("source_url"):
        data["lead_image"] = {
            "src": media["source_url"],
            "caption": _text((media.get("caption") or {}).get("rendered")),
            "alt": (media.get("alt_text") or "").strip() or None,
        }
    return {key: value for key, value in data.items() if value not in (None, "")}


def _text(fragment):
    """Plain text of a rendered HTML fragment, entities decoded, whitespace folded."""
    if not fragment or not fragment.strip():
        return None
    text = lxml.html.fragment_fromstring(fragment, create_parent="div").text_content()
    return " ".join(text.split()) or None


def _manual_excerpt(fragment):
    # WordPress makes an excerpt from the body when the editor wrote none; it ends
    # with "[…]" and would only repeat the first lines, so only a written one is kept.
    text = _text(fragment)
    if not text or text.endswith(("[…]", "[&hellip;]", "…")):
        return None
    return text


def _gmt(value):
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc).isoformat()
