"""Sanitize: article HTML reduced to safe, printable content without site chrome."""

import html
import re

import lxml.html
import nh3

from .errors import ArticleInvalid

# Content we print.  Everything else is unwrapped (its text kept) by nh3.
ALLOWED_TAGS = {
    "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "u", "s",
    "sub", "sup", "small", "mark", "q", "cite", "abbr", "dfn", "time", "code", "pre",
    "blockquote", "ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody",
    "tfoot", "tr", "th", "td", "caption", "figure", "figcaption", "img", "a", "span",
    "div", "hr", "bdi", "bdo", "del", "ins",
}
# Removed together with everything inside them: interactive or executable parts
# of a page, and the chrome that news sites wrap around an article.
DROPPED_WITH_CONTENT = {
    "script", "style", "noscript", "template", "form", "button", "select", "textarea",
    "nav", "aside", "iframe", "object", "embed", "svg", "math", "canvas", "video",
    "audio", "map", "dialog", "head", "title", "link", "meta", "base",
}
ALLOWED_ATTRIBUTES = {
    # class and id survive nh3 only so the chrome pass can read them; it drops them.
    "*": {"dir", "lang", "class", "id"},
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan", "scope"},
    "ol": {"start", "reversed", "type"}, "abbr": {"title"}, "time": {"datetime"},
    "bdo": {"dir"},
}
URL_SCHEMES = {"http", "https", "mailto", "data"}
# Real articles nest a few levels deep; hostile ones thousands, which would
# exhaust the layout engine's recursion.  Deeper elements are unwrapped (their
# text stays).
MAX_DEPTH = 24
# Beyond this the HTML parser itself gives up and text would be lost: refuse.
REFUSED_DEPTH = 1000
_PARSER = lxml.html.HTMLParser(huge_tree=True)
_TAG = re.compile(r"<(/?)([a-zA-Z0-9]+)[^>]*>")
_VOID = {"br", "img", "hr", "wbr"}

# class/id words that mark sharing, printing, comment and navigation widgets
# (WordPress print plugins, PrintFriendly, AddToAny, Jetpack and the like).
_CHROME_CLASS = re.compile(
    r"^(print|pf[-_]|pdf|pdfprnt|share|sharing|social|comment|respond|related|advert|"
    r"sponsor|newsletter|subscribe|breadcrumb|menu|navigation|sidebar|widget|popup|"
    r"modal|cookie|addtoany|a2a|sharedaddy|jp-relatedposts|essb|heateor|tags-links)"
    r"|^(ad|ads|nav)$|[-_](share|sharing|print|pdf|comments?|related|ads?|social)([-_]|$)",
    re.IGNORECASE)
# Labels that site chrome leaves as plain text when its markup is gone.
CHROME_LABELS = {
    "print friendly", "printfriendly", "print friendly, pdf & email", "image_pdfimage_print",
    "image_pdf", "image_print", "print", "pdf", "طباعة", "اطبع", "اضف تعليق", "أضف تعليق",
    "شارك", "مشاركة", "share", "email", "اطبع المقال", "print this article",
}
_MAX_LABEL = max(len(label) for label in CHROME_LABELS)


def paragraphs_to_html(paragraphs):
    return "".join(f"<p>{html.escape(p.strip())}</p>" for p in paragraphs if p.strip())


def clean_body(body_html, image_allowed=None):
    """Return ``(html, links)``: ``body_html`` with only allowed markup and no site chrome.

    The string form of ``clean_tree``, serialised once.
    """
    root, links = clean_tree(body_html, image_allowed)
    return inner_html(root), links


def clean_tree(body_html, image_allowed=None):
    """Return ``(root, links)``: ``body_html`` parsed, with only allowed markup and no
    site chrome, as the children of ``root`` (a ``<div>`` of our own).

    Later stages (normalize) change this tree and ``inner_html`` serialises it once,
    so what the template and WeasyPrint get is what was allowed here: text is never
    joined back into markup unescaped.

    ``links`` lists ``(text, address)`` of every web link, in order; each such
    link gets the class ``noted`` so the print stylesheet can number it.

    ``image_allowed(src)`` decides which images stay; by default only ``data:``
    images, since remote fetching is the fetcher's business, not the page's.
    """
    image_allowed = image_allowed or (lambda src: src.startswith("data:image/"))
    cleaned = nh3.clean(
        body_html, tags=ALLOWED_TAGS, clean_content_tags=DROPPED_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES, link_rel=None,
        strip_comments=True)
    links = []
    if not cleaned.strip():
        return parse_fragment(""), links
    if _max_depth(cleaned) > REFUSED_DEPTH:
        raise ArticleInvalid("body_html", f"elements are nested more than {REFUSED_DEPTH} deep",
                             f"عناصر المقال متداخلة بعمق يتجاوز {REFUSED_DEPTH}")
    root = parse_fragment(cleaned)
    _flatten_deep(root)
    for element in list(root.iter()):
        if element is root or element.getparent() is None:
            continue
        if _is_chrome(element):
            _drop(element)
            continue
        element.attrib.pop("class", None)
        element.attrib.pop("id", None)
        if element.get("dir", "ltr").lower() not in {"ltr", "rtl", "auto"}:
            element.attrib.pop("dir")
        if not re.fullmatch(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*", element.get("lang", "en")):
            element.attrib.pop("lang")
        if element.tag == "h1":
            element.tag = "h2"   # the article's own headline is the only h1
        elif element.tag == "img" and not image_allowed(element.get("src", "")):
            _replace_image(element)
        elif element.tag == "a":
            href = element.get("href", "")
            if re.match(r"^https?://", href, re.IGNORECASE):
                links.append((" ".join(element.text_content().split()), href))
                element.set("class", "noted")
            elif not href.lower().startswith("mailto:"):
                element.attrib.pop("href", None)
    _drop_label_text(root)
    return root, links


def parse_fragment(fragment_html):
    """``fragment_html`` parsed as the children of a ``<div>`` of our own."""
    return lxml.html.fragment_fromstring(fragment_html or "", create_parent="div",
                                         parser=_PARSER)


def inner_html(root):
    """The markup of ``root``'s children: the one serialisation of a body tree."""
    markup = lxml.html.tostring(root, encoding="unicode")
    assert markup.startswith("<div>") and markup.endswith("</div>"), markup[:40]
    return markup[len("<div>"):-len("</div>")]


def _max_depth(html_text):
    depth = deepest = 0
    for match in _TAG.finditer(html_text):
        if match[2].lower() in _VOID:
            continue
        depth += -1 if match[1] else 1
        deepest = max(deepest, depth)
    return deepest


def _flatten_deep(root):
    depth = {root: 0}
    too_deep = []
    for element in root.iter():
        if element is not root:
            depth[element] = depth[element.getparent()] + 1
            if depth[element] > MAX_DEPTH:
                too_deep.append(element)
    for element in reversed(too_deep):
        element.drop_tag()


def _is_chrome(element):
    words = f"{element.get('class', '')} {element.get('id', '')}".split()
    if any(_CHROME_CLASS.search(word) for word in words):
        return True
    text = element.text_content().strip()
    return len(text) <= _MAX_LABEL and text.lower() in CHROME_LABELS \
        and element.tag not in {"td", "th", "li", "strong", "b", "em", "i", "code"}


def _drop(element):
    """Remove ``element`` but keep the text that follows it (its tail)."""
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _replace_image(img):
    """An image we will not fetch leaves a short note, so the caption still makes sense."""
    note = lxml.html.Element("span")
    note.set("class", "image-note")
    alt = (img.get("alt") or "").strip()
    note.text = f"[صورة: {alt}]" if alt else "[صورة غير متاحة]"
    note.tail = img.tail
    img.getparent().replace(img, note)


def _drop_label_text(root):
    # A label as a bare text node right under the body (no element to drop).
    if root.text and root.text.strip().lower() in CHROME_LABELS:
        root.text = ""
    for child in root:
        if child.tail and child.tail.strip().lower() in CHROME_LABELS:
            child.tail = ""
