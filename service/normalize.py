"""Normalize: article HTML prepared for right-to-left typesetting.

Runs after sanitize.  Addresses (URLs, e-mail) inside Arabic text become
``<span class="address">`` isolated as left-to-right with Unicode isolates
(LRI … PDI): without that the bidi algorithm moves their trailing
punctuation, and a line break inside one sends "://" to the other end of the
line.  WeasyPrint ignores the CSS ``unicode-bidi`` property, so the isolates go
into the text itself; they are invisible and never drawn.  The block holding
an address is marked ``has-address`` and not justified: an address is one long
word, and justifying around it leaves gaps so wide that text extractors split
the line in two.
"""

import re
import unicodedata

import lxml.html


LRI, PDI = "\u2066", "\u2069"
# An address ends before trailing punctuation that belongs to the sentence.
ADDRESS = re.compile(
    r"(?:https?://|www\.)[^\s<>\"«»]+[^\s<>\"«».,;:!?()\[\]،؛؟]"
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


# Percent-escapes of bytes outside ASCII: UTF-8 text an address was written in.
_NON_ASCII_ESCAPE = re.compile(r"%[89A-Fa-f][0-9A-Fa-f]")
_ESCAPED_UTF8 = re.compile(f"(?:{_NON_ASCII_ESCAPE.pattern})+")


def readable_address(url, covered=None):
    """``url`` as a reader reads it: escaped UTF-8 shown as its letters, as browsers
    show an address (a site's Arabic slug printed as %D9%83%D9%84-… is unreadable).

    Only escapes of non-ASCII bytes are decoded, so no reserved character (/ ? # %)
    changes meaning; of those, format, control and space characters stay escaped
    (a right-to-left override would reorder the address as printed), and so do
    bytes that are not UTF-8.  The host is left as given (xn--…): no look-alikes.
    The whole address stays escaped when a letter would have no glyph in our fonts
    (``covered``: their code points) or when it was escaped twice over (UTF-8 read
    as Windows-1252 and escaped again: one corpus address printed «Ã˜Âª…»); a long
    segment of it is then shortened to "…".
    """
    start = url.find("://")
    path = url.find("/", start + 3 if start >= 0 else 0)
    if "%" not in url or path < 0:
        return url
    letters = []

    def decoded(match):
        text = bytes.fromhex(match.group(0).replace("%", "")).decode(
            "utf-8", errors="surrogateescape")
        letters.append(text)
        return "".join(_escaped(char) if unicodedata.category(char)[0] in "CZ" else char
                       for char in text)

    shown = url[:path] + _ESCAPED_UTF8.sub(decoded, url[path:])
    if any(map(_escaped_twice, letters)) or covered is not None and any(
            ord(char) not in covered and unicodedata.category(char)[0] not in "CZ"
            for text in letters for char in text):
        # Not readable: a segment of such escapes is printed as "…" (the QR code holds
        # the address whole).  The corpus's twice-escaped one was 700 characters of
        # %C3%98…, more Latin letters than its article had Arabic ones, so pdftotext
        # took the page for left-to-right and reordered its mixed lines.
        end = min(i for i in (url.find("?", path), url.find("#", path), len(url)) if i >= 0)
        segments = url[path:end].split("/")
        return url[:path] + "/".join(
            "…" if len(_NON_ASCII_ESCAPE.findall(segment)) >= 12 else segment
            for segment in segments) + url[end:]
    return shown


def _escaped(char):
    if "\udc80" <= char <= "\udcff":            # a byte that was not UTF-8
        return f"%{ord(char) - 0xDC00:02X}"
    return "".join(f"%{byte:02X}" for byte in char.encode())


def _escaped_twice(text):
    """Whether ``text`` is UTF-8 that was read as a one-byte code page."""
    for codec in ("cp1252", "latin-1"):
        try:
            text.encode(codec).decode("utf-8")
        except UnicodeError:
            continue
        return True
    return False


def isolate_addresses(text):
    """Wrap every URL and e-mail address of ``text`` in LRI … PDI."""
    return ADDRESS.sub(lambda m: f"{LRI}{m.group(0)}{PDI}", text)


def normalize_tree(root):
    """Apply the right-to-left normalisations to a sanitized fragment, in place.

    It works on the parsed tree and never on text joined back into markup: the
    caller serialises the tree once, so text stays text (an escaped «&lt;img …&gt;»
    in the article is printed as those characters, never parsed as an element).
    """
    # A span with no attributes changes nothing but splits the text into two
    # boxes, each shaped on its own: dissolve it so ligatures form across it.
    for span in list(root.iter("span")):
        if not span.attrib:
            span.drop_tag()
    for element in list(root.iter()):
        if element.tag == "a" or element.getparent() is not None and element.getparent().tag == "a":
            continue
        if element.text and ADDRESS.search(element.text):
            element.text, *spans = _pieces(element.text)
            for index, span in enumerate(spans):
                element.insert(index, span)
            _mark_block(element)
        if element is not root and element.tail and ADDRESS.search(element.tail):
            element.tail, *spans = _pieces(element.tail)
            anchor = element
            for span in spans:
                anchor.addnext(span)
                anchor = span
            _mark_block(element.getparent())
    return root


BLOCKS = {"p", "li", "td", "th", "blockquote", "div", "dd", "dt", "figcaption", "caption",
          "h2", "h3", "h4", "h5", "h6"}


def _mark_block(element):
    while element is not None and element.tag not in BLOCKS:
        element = element.getparent()
    if element is not None and element.getparent() is not None:
        element.set("class", "has-address")


def _pieces(text):
    """Split ``text`` into its leading text and address spans, each carrying its tail."""
    pieces, last, span = [], 0, None
    for match in ADDRESS.finditer(text):
        before = text[last:match.start()]
        if span is None:
            pieces.append(before)
        else:
            span.tail = before
        span = lxml.html.Element("span")
        span.set("class", "address")
        span.text = f"{LRI}{match.group(0)}{PDI}"
        pieces.append(span)
        last = match.end()
    span.tail = text[last:]
    return pieces
