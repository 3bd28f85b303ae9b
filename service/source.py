"""Source: articles from where newsrooms keep them.  Here: saved article pages.

A page as a site serves it (menus, share buttons, comment forms) becomes an
Article: trafilatura finds the main text and the metadata.  Dates come from the
page's own structured data, its meta fields or its byline, as the site wrote them
(«الأربعاء، 07 أكتوبر 2020 - 12:09 م» too: service.dates), in the site's time zone
(a date in UTC can be the day before the one the site prints).  The headline and
the date line the page prints above the text are the print template's to set, so
they are taken out of the body.
"""

import hashlib
import html as html_lib
import json
import re
from urllib.parse import unquote, urlsplit

import lxml.html
import trafilatura

from .article import parse_article, slug_of
from .dates import DateUnreadable, find_date, parse_date
from .errors import ArticleInvalid

_DATE_KEYS = ("datePublished", "dateCreated")
_MODIFIED_KEYS = ("dateModified",)
# Meta fields pages state their dates in, by property, name or itemprop.
_PUBLISHED_META = ("article:published_time", "og:article:published_time", "datePublished",
                   "pubdate", "publishdate", "publish-date", "publish_date", "date",
                   "dc.date.issued", "dc.date", "DC.date.issued", "DC.date",
                   "sailthru.date", "parsely-pub-date", "article.published")
_MODIFIED_META = ("article:modified_time", "og:updated_time", "dateModified",
                  "last-modified", "article.updated")
# Where pages print their byline's date: <time>, or an element named for it.
_BYLINE = ("//time | //*[contains(@class, 'date') or contains(@class, 'time') or "
           "contains(@class, 'publish') or contains(@class, 'byline') or "
           "contains(@class, 'posted') or contains(@class, 'meta') or "
           "contains(@id, 'date') or contains(@id, 'publish') or contains(@id, 'byline')]")


def article_from_page(page_html, url=None, max_chars=None, timezone=None):
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
    published = _date(_first(structured, _DATE_KEYS), *_meta(tree, _PUBLISHED_META),
                      timezone=timezone) or _byline_date(tree, timezone) \
        or _date(meta.get("date"), timezone=timezone)
    modified = _date(_first(structured, _MODIFIED_KEYS), *_meta(tree, _MODIFIED_META),
                     timezone=timezone)
    title = _title(meta.get("title"), site)
    categories = [c for c in _terms(meta.get("categories")) if c.lower() != "featured"]
    data = {
        "id": _article_id(url, page_html),
        "url": url if url and url.startswith(("http://", "https://")) else None,
        "title": title,
        "body_html": _body(body, title, timezone),
        "site": site,
        "author": _clean(meta.get("author")),
        "published_at": published and published.isoformat(),
        "updated_at": modified and modified.isoformat(),
        "categories": categories,
        "section": categories[0] if categories else None,
        "tags": _terms(meta.get("tags")),
        "lang": (meta.get("language") or "ar").split("-")[0] or "ar",
    }
    if (meta.get("image") or "").startswith(("http://", "https://")):
        data["lead_image"] = {"src": meta["image"]}
    return parse_article({k: v for k, v in data.items() if v not in (None, "", [])},
                         max_chars, timezone)


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


def _body(body, title, timezone):
    """The article's text, without the headline and date line the page printed with it
    (the print template sets both; left in, the PDF printed the headline twice)."""
    root = lxml.html.fromstring(body)
    inner = root.find("body") if root.tag == "html" else root
    children = list(inner)
    if len(children) == 1 and children[0].tag == "div":
        children = list(children[0])
    kept = []
    for index, child in enumerate(children):
        text = _clean(child.text_content()) or ""
        near_top = index < 3
        if near_top and title and text == title:
            continue
        if (near_top or index >= len(children) - 2) and _is_date_line(text, timezone):
            continue
        kept.append(child)
    return "".join(lxml.html.tostring(child, encoding="unicode") for child in kept or children)


def _is_date_line(text, timezone):
    """A short line that is a date with at most a byline's words around it
    («تم نشره الجمعة 24 نيسان / أبريل 2020 09:22 مساءً», «كتب: فلان — 07/10/2020»)."""
    if not text or len(text.split()) > 16:
        return False
    try:
        parse_date(text, timezone)
        return True
    except DateUnreadable:
        return find_date(text, timezone) is not None and len(text.split()) <= 10


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


def _meta(tree, names):
    """The page's meta values for ``names``, in that order."""
    values = []
    for name in names:
        values += tree.xpath(f'//meta[@property="{name}" or @name="{name}" or '
                             f'@itemprop="{name}"]/@content')
        values += tree.xpath(f'//*[@itemprop="{name}"]/@datetime')
    return values


def _date(*values, timezone=None):
    """The first of ``values`` that reads as a date (service.dates), or None."""
    for value in values:
        if isinstance(value, str) and value.strip():
            try:
                return parse_date(value, timezone)
            except DateUnreadable:
                continue
    return None


def _byline_date(tree, timezone):
    """The date a page prints in its byline: a <time>'s datetime or text, or the first
    short element named for dates or bylines that holds one."""
    for element in tree.xpath(_BYLINE):
        if element.tag == "time" and (found := _date(element.get("datetime"),
                                                     timezone=timezone)):
            return found
        text = _clean(element.text_content()) or ""
        if text and len(text) <= 200 and (found := find_date(text, timezone)):
            return found
    return None


def _article_id(url, page_html):
    """The page's slug (its longest path segment), else a hash of the URL or page."""
    if url:
        segments = [re.sub(r"\.html?$", "", p) for p in unquote(urlsplit(url).path).split("/")]
        slug = slug_of(max(segments, key=len, default="")).strip("-.")[:120]
        return slug or hashlib.sha256(url.encode()).hexdigest()[:16]
    return hashlib.sha256(page_html.encode("utf-8", "replace")).hexdigest()[:16]
