"""Fetch: the only way WeasyPrint reaches anything outside the HTML it is given.

Documents are rendered with a base URL on a reserved, never-resolving origin,
so relative URLs in article HTML can only name our own assets.  The fetcher
serves ``fonts/`` and the print templates from that origin, and ``data:``
URLs; everything else (``file:``, any network address) is refused.
"""

import logging
import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

log = logging.getLogger(__name__)

# ".invalid" is reserved (RFC 2606): no resolver will ever answer for it.
ASSET_ORIGIN = "https://assets.matbaa.invalid/"


class FetchRefused(ValueError):
    """A URL the fetcher will not load."""


class Fetcher(URLFetcher):
    """Serve ``ASSET_ORIGIN/<mount>/<file>`` from local folders and ``data:`` URLs."""

    def __init__(self, mounts):
        # No redirects: a redirect could lead anywhere, and we follow none.
        super().__init__(timeout=5, allow_redirects=False, allowed_protocols={"data"})
        self.mounts = {name: Path(folder).resolve() for name, folder in mounts.items()}

    def fetch(self, url, headers=None):
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith(ASSET_ORIGIN):
            return self._asset(url)
        log.warning("fetch refused: %.200s", url)
        raise FetchRefused(f"refused URL {url[:200]!r}")

    def _asset(self, url):
        parts = unquote(urlsplit(url).path).lstrip("/").split("/", 1)
        folder = self.mounts.get(parts[0]) if len(parts) == 2 else None
        if folder is not None:
            path = (folder / parts[1]).resolve()
            # resolve() folds "..": the file must still lie inside its mount.
            if path.is_relative_to(folder) and path.is_file():
                content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    url, path.read_bytes(), {"Content-Type": content_type})
        raise FetchRefused(f"no such asset {url[:200]!r}")
