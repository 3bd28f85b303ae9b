"""Fetch: the only way WeasyPrint reaches anything outside the HTML it is given.

Documents are rendered with a base URL on a reserved, never-resolving origin,
so relative URLs in article HTML can only name our own assets.  The fetcher
serves ``fonts/`` and the print templates from that origin, ``data:`` URLs,
and images over http(s) from the hosts in MATBAA_IMAGE_HOSTS.  Everything
else (``file:``, any other host) is refused.

A remote image is fetched only from a public address: the host name is
resolved here, every address is checked (no loopback, private, link-local
such as 169.254.169.254, unique-local or reserved ranges, IPv4 or IPv6), and
the connection goes to the checked address itself, so a DNS answer cannot
change between check and use.  Redirects are followed by hand, each one
checked the same way; size and time are limited.  Feeds (``matbaa import --feed``)
are fetched the same way, from the hosts in MATBAA_FEED_HOSTS (``get_public``).
"""

import functools
import http.client
import ipaddress
import logging
import mimetypes
import socket
import ssl
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit


log = logging.getLogger(__name__)

# ".invalid" is reserved (RFC 2606): no resolver will ever answer for it.
ASSET_ORIGIN = "https://assets.matbaa.invalid/"
MAX_REDIRECTS = 3
FAILED_RETRY_SECONDS = 60


class FetchRefused(ValueError):
    """A URL the fetcher will not load."""


class ImagePolicy:
    """Which remote images may be fetched, and within which limits."""

    # What is fetched, what it must be, and the setting that raises its size limit.
    what, accept, limit_setting = "image", "image/*", "MATBAA_MAX_IMAGE_BYTES"

    def __init__(self, hosts=(), max_bytes=5 * 1024 * 1024, timeout=5, allow_loopback=False,
                 trusted_origins=()):
        self.hosts = {h.strip().lower().rstrip(".") for h in hosts if h.strip()}
        # Origins the operator named (MATBAA_WORDPRESS_URL): images are fetched from
        # them wherever they are, a newsroom's WordPress may well sit on a private
        # network.  Only scheme, host and port together match, never a subdomain.
        self.trusted_origins = {o.lower().rstrip("/") for o in trusted_origins if o}
        self.max_bytes = max_bytes
        self.timeout = timeout
        # Only for tests, which have nothing but loopback to serve images from.
        self.allow_loopback = allow_loopback

    def allows_url(self, url):
        parts = _split(url)
        if parts is None:
            return False
        host = (parts.hostname or "").lower().rstrip(".")
        if self.trusts(url):
            return True
        return parts.scheme in ("http", "https") and any(
            host == allowed or host.endswith("." + allowed) for allowed in self.hosts)

    def trusts(self, url):
        parts = _split(url)
        return parts is not None and \
            f"{parts.scheme}://{parts.netloc}".lower() in self.trusted_origins

    def csp_sources(self):
        """The image sources of a page's Content-Security-Policy: what ``allows_url`` allows."""
        sources = [f"{scheme}://{prefix}{host}" for host in sorted(self.hosts)
                   for scheme in ("https", "http") for prefix in ("", "*.")]
        return sources + sorted(self.trusted_origins)

    def allows_type(self, content_type):
        return content_type.startswith("image/")

    def allows_src(self, src):
        """For the sanitizer: may an ``<img src>`` stay in the article?"""
        return src.startswith("data:image/") or self.allows_url(src)

    def check_address(self, address):
        ip = ipaddress.ip_address(address)
        if ip.is_loopback and self.allow_loopback:
            return
        mapped = getattr(ip, "ipv4_mapped", None)
        if not ip.is_global or (mapped is not None and not mapped.is_global):
            raise FetchRefused(f"address {address} is not public")


def _split(url):
    """``urlsplit(url)`` with its host and port read, or None for an address that cannot
    be one (an out-of-range port, an unclosed IPv6 bracket): urlsplit and .port raise
    ValueError for those, and such an image must be refused like any other."""
    try:
        parts = urlsplit(url)
        parts.port, parts.hostname  # noqa: B018 - read for the ValueError they raise
    except ValueError:
        return None
    return parts


class FeedPolicy(ImagePolicy):
    """Which feeds may be fetched: MATBAA_FEED_HOSTS, and the WordPress site's origin."""

    what, limit_setting = "feed", "MATBAA_MAX_BODY_BYTES"
    accept = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"

    def allows_type(self, content_type):
        return True          # feeds are served under many types; feedparser decides


def get_public(url, policy):
    """GET ``url`` from a host ``policy`` allows, at a public address (or the trusted
    WordPress origin), following checked redirects: (body, content type), or FetchRefused."""
    what = policy.what
    if not policy.allows_url(url):
        raise FetchRefused(f"{what} host not allowed: {url[:200]!r}")
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        status, headers, body = _get(current, policy)
        if status in (301, 302, 303, 307, 308) and headers.get("location"):
            current = urljoin(current, headers["location"])
            if not policy.allows_url(current):
                raise FetchRefused(f"redirect to a host not allowed: {current[:200]!r}")
            continue
        if status != 200:
            raise FetchRefused(f"{what} answered {status}: {url[:200]!r}")
        content_type = headers.get("content-type", "").split(";")[0].strip()
        if not policy.allows_type(content_type):
            raise FetchRefused(f"not an {what} ({content_type!r}): {url[:200]!r}")
        return body, content_type
    raise FetchRefused(f"too many redirects: {url[:200]!r}")


def _get(url, policy):
    parts = _split(url)
    if parts is None or not parts.hostname:
        raise FetchRefused(f"not a valid address: {url[:200]!r}")
    host, https = parts.hostname, parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    address = _address(host, port, policy, public=not policy.trusts(url))
    connection = _PinnedConnection(host, port, address, https, policy.timeout)
    limit, what = policy.max_bytes, policy.what
    too_big = f"{what} over {limit} bytes; raise {policy.limit_setting}: {url[:200]!r}"
    try:
        path = parts.path or "/"
        connection.request("GET", path + (f"?{parts.query}" if parts.query else ""),
                           headers={"Host": parts.netloc, "User-Agent": "Matbaa",
                                    "Accept": policy.accept})
        response = connection.getresponse()
        declared = response.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FetchRefused(too_big)
        body = response.read(limit + 1)
        if len(body) > limit:
            raise FetchRefused(too_big)
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, body
    except (OSError, http.client.HTTPException) as exc:
        raise FetchRefused(f"{what} fetch failed ({exc.__class__.__name__}): {url[:200]!r}")
    finally:
        connection.close()


def _address(host, port, policy, public=True):
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchRefused(f"cannot resolve {host!r}: {exc}") from None
    addresses = [info[4][0] for info in infos]
    for address in addresses if public else ():
        # Every address the name resolves to must be public, not just one.
        policy.check_address(address)
    return addresses[0]


@functools.cache
def _fetcher_class():
    """The Fetcher class, made on first use: it subclasses WeasyPrint's URLFetcher, and
    WeasyPrint must not be imported before the renderer has pointed fontconfig at our
    fonts (engine.isolate_fontconfig): importing this module imports no WeasyPrint."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class Fetcher(URLFetcher):
        """Serve our assets, ``data:`` URLs and images from allowed hosts; refuse the rest."""

        def __init__(self, mounts, images=None, cache_bytes=64 * 1024 * 1024):
            # No automatic redirects: each one is checked by hand.
            super().__init__(timeout=5, allow_redirects=False, allowed_protocols={"data"})
            # A mount is a folder, or a dict of file name -> bytes held in memory (brand).
            self.mounts = {name: folder if isinstance(folder, dict) else Path(folder).resolve()
                           for name, folder in mounts.items()}
            self.images = images or ImagePolicy()
            # Fetched images, least recently used first, within cache_bytes in all
            # (MATBAA_IMAGE_CACHE_BYTES): a count alone let 256 images of the largest
            # size allowed stay in every render process.
            self._remote_cache = OrderedDict()
            self._remote_bytes = 0
            self.cache_bytes = cache_bytes
            self._failed = {}            # url -> when it last failed, to not retry at once
            self._lock = threading.Lock()

        def available(self, src):
            """For a PDF: can this image be had?  Fetches it now; WeasyPrint then gets the copy.

            A missing or refused image must not fail the PDF or vanish silently: the
            template prints a note in its place instead (the caption stays).
            """
            if src.startswith("data:"):
                return True
            failed_at = self._failed.get(src)
            if failed_at is not None and time.monotonic() - failed_at < FAILED_RETRY_SECONDS:
                return False
            try:
                self.fetch(src)
                return True
            except FetchRefused as exc:
                log.info("image left out of the PDF: %s", exc)
                with self._lock:
                    self._failed[src] = time.monotonic()
                    if len(self._failed) > 1024:
                        self._failed.pop(next(iter(self._failed)))
                return False

        def fetch(self, url, headers=None):
            if url.startswith("data:"):
                return super().fetch(url, headers)
            if url.startswith(ASSET_ORIGIN):
                return self._asset(url)
            if self.images.allows_url(url):
                return self._remote_image(url)
            log.warning("fetch refused: %.200s", url)
            raise FetchRefused(f"refused URL {url[:200]!r}")

        def _asset(self, url):
            parts = unquote(urlsplit(url).path).lstrip("/").split("/", 1)
            folder = self.mounts.get(parts[0]) if len(parts) == 2 else None
            if isinstance(folder, dict):
                if parts[1] in folder:
                    content_type = mimetypes.guess_type(parts[1])[0] or "application/octet-stream"
                    return URLFetcherResponse(url, folder[parts[1]], {"Content-Type": content_type})
            elif folder is not None:
                path = (folder / parts[1]).resolve()
                # resolve() folds "..": the file must still lie inside its mount.
                if path.is_relative_to(folder) and path.is_file():
                    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                    return URLFetcherResponse(
                        url, path.read_bytes(), {"Content-Type": content_type})
            raise FetchRefused(f"no such asset {url[:200]!r}")

        def _remote_image(self, url):
            with self._lock:
                cached = self._remote_cache.get(url)
                if cached is not None:
                    self._remote_cache.move_to_end(url)
            if cached is not None:
                body, content_type = cached
                return URLFetcherResponse(url, body, {"Content-Type": content_type})
            body, content_type = get_public(url, self.images)
            with self._lock:
                if len(body) <= self.cache_bytes and url not in self._remote_cache:
                    self._remote_cache[url] = (body, content_type)
                    self._remote_bytes += len(body)
                    while self._remote_bytes > self.cache_bytes:
                        _url, (dropped, _type) = self._remote_cache.popitem(last=False)
                        self._remote_bytes -= len(dropped)
            return URLFetcherResponse(url, body, {"Content-Type": content_type})

    return Fetcher


def __getattr__(name):
    if name == "Fetcher":
        return _fetcher_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTP(S) to an address checked beforehand, with TLS verified for the host name."""

    def __init__(self, host, port, address, https, timeout):
        super().__init__(host, port, timeout=timeout, context=_tls_context())
        self._address, self._https = address, https

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        if self._https:
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


@functools.cache
def _tls_context():
    return ssl.create_default_context()
