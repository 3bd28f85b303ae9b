"""Source: articles from where newsrooms keep them.  Here: saved article pages.

A page as a site serves it (menus, share buttons, comment forms) becomes an
Article: trafilatura finds the main text and the metadata; dates come from
the page's own structured data where it has them, in the site's time zone
(a date in UTC can be the day before the one the site prints).
"""

import hashlib
import html as html_lib
import json
import re
from datetime import datetime
from urllib.parse import unquote, urlsplit

import lxml.html
import trafilatura

from .article import parse_article, slug_of
from .errors import ArticleInvalid

_DATE_KEYS = ("datePublished", "dateCreated")
_MODIFIED_KEYS = ("dateModified",)


def article_from_page(page_html, url=None, max_chars=None):
    """Extract the article of a saved page; raises ArticleInvalid when there is none."""
    # No extensive date search: for a page that states no date it guessed one (the
    # CNN corpus page of 3 August 2013 came out «1 January 2013», from the year in its
    # address), and a wrong date printed is worse than none.
    document = trafilatura.bare_extraction(
        page_html, url=url, with_metadata=True, include_comments=False,
        date_extraction_params={"extensive_search": False, "original_date": True})
    body = trafilatura.extract(
        page_html, url=url, output_format="html", include_links=True, include_tables=True,
        include_images=False, include_comments=False)
    if document is None or not body:
        raise ArticleInvalid("body", "no article text found in the page",
                             "لم يُعثر على نص مقال في الصفحة")
    meta = document.as_dict() if hasattr(document, "as_dict") else dict(document)
    url = url or meta.get("url")
    tree = lxml.html.document_fromstring(page_html)
    structured = _structured_data(tree)
    site = _clean(meta.get("sitename"))
    published = _first(structured, _DATE_KEYS) or _meta(tree, "article:published_time") \
        or meta.get("date")
    modified = _first(structured, _MODIFIED_KEYS) or _meta(tree, "article:modified_time")
    categories = [c for c in _terms(meta.get("categories")) if c.lower() != "featured"]
    data = {
        "id": _article_id(url, page_html),
        "url": url if url and url.startswith(("http://", "https://")) else None,
        "title": _title(meta.get("title"), site),
        "body_html": _body(body),
        "site": site,
        "author": _clean(meta.get("author")),
        "published_at": _iso(published),
        "updated_at": _iso(modified),
        "categories": categories,
        "section": categories[0] if categories else None,
        "tags": _terms(meta.get("tags")),
        "lang": (meta.get("language") or "ar").split("-")[0] or "ar",
    }
    if (meta.get("image") or "").startswith(("http://", "https://")):
        data["lead_image"] = {"src": meta["image"]}
    return parse_article({k: v for k, v in data.items() if v not in (None, "", [])},
                         max_chars=max_chars)


def _clean(text):
    return " ".join(html_lib.unescape(text or "").split()) or None


def _terms(values):
    """Tags or categories as single terms, each once, in order: pages give them as one
    comma-separated string («news , lbci , أخبار»), as that string and its terms
    again, or twice over (four of the six corpus pages)."""
    terms = {}
    for value in values or ():
        for term in re.split(r"[,،]", value or ""):
            if term := _clean(term):
                terms.setdefault(term, None)
    return list(terms)


def _title(title, site):
    """The headline without the " - Site name" many pages append to it."""
    title = _clean(title) or ""
    if site:
        for separator in (" - ", " | ", " – ", " — ", " :: "):
            if title.endswith(separator + site):
                return title[:-len(separator + site)].strip()
    return title


def _body(body):
    root = lxml.html.fromstring(body)
    inner = root.find("body") if root.tag == "html" else root
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in inner)


def _structured_data(tree):
    """Every JSON-LD object of the page, flattened out of @graph lists."""
    found = []
    for script in tree.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        stack = [data]
        while stack:
            item = stack.pop()
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                found.append(item)
                stack.extend(v for k, v in item.items() if k == "@graph")
    return found


def _first(objects, keys):
    for item in objects:
        for key in keys:
            if isinstance(item.get(key), str):
                return item[key]
    return None


def _meta(tree, prop):
    values = tree.xpath(f'//meta[@property="{prop}" or @name="{prop}"]/@content')
    return values[0] if values else None


def _iso(value):
    """An ISO 8601 date-time with the offset the page gave, or None."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).isoformat()
    except ValueError:
        return None


def _article_id(url, page_html):
    """The page's slug (its longest path segment), else a hash of the URL or page."""
    if url:
        segments = [re.sub(r"\.html?$", "", p) for p in unquote(urlsplit(url).path).split("/")]
        slug = slug_of(max(segments, key=len, default="")).strip("-.")[:120]
        return slug or hashlib.sha256(url.encode()).hexdigest()[:16]
    return hashlib.sha256(page_html.encode("utf-8", "replace")).hexdigest()[:16]
