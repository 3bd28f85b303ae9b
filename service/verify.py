"""Verify: does a PDF's text layer give back the article's words, in order?"""

import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass, field

import lxml.html

from .sanitize import clean_body, paragraphs_to_html

# Directional marks and embeddings that extractors insert around runs; they are
# not part of the article's text.
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e"
                                      "\u2066\u2067\u2068\u2069"))
_WORD = re.compile(r"\w+")
BLOCK_TAGS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "td", "th", "caption",
              "blockquote", "div", "figcaption", "tr", "br", "dt", "dd", "pre")


class VerifyError(RuntimeError):
    """The PDF's text could not be extracted."""


def normalize(text):
    """NFKC, no bidi controls, tatweel, joiners or marks: the form words are compared in.

    Tashkeel is left out of the comparison (search engines ignore it too);
    ``marks`` counts whether it survived.
    """
    text = unicodedata.normalize("NFKC", text.translate(BIDI_CONTROLS))
    text = text.replace("\u0640", "").replace("\u200d", "").replace("\u200c", "")
    return "".join(c for c in text if unicodedata.category(c) not in {"Mn", "Me"})


def words(text):
    return _WORD.findall(normalize(text))


def pdftotext(pdf_path):
    if not shutil.which("pdftotext"):
        raise VerifyError("pdftotext is not installed (Debian package poppler-utils)")
    result = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf_path), "-"],
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        raise VerifyError(f"pdftotext failed: {result.stderr.decode(errors='replace')[:200]}")
    return result.stdout.decode("utf-8")


def article_text(article):
    """The article's printed words, in reading order: headline, then the body."""
    body_source = article.body_html or paragraphs_to_html(article.paragraphs or [])
    body, _links = clean_body(body_source)
    body_text = ""
    if body:
        root = lxml.html.fragment_fromstring(body, create_parent="div")
        # Cells, items and paragraphs are separate words even with no space between.
        for element in root.iter(*BLOCK_TAGS):
            element.tail = "\n" + (element.tail or "")
        body_text = root.text_content()
    return "\n".join(filter(None, [article.title, article.subtitle, body_text]))


@dataclass
class Score:
    expected: int
    in_order: int
    missing: list = field(default_factory=list)

    @property
    def ratio(self):
        return self.in_order / self.expected if self.expected else 1.0


def score_words(expected_text, extracted_text):
    """Share of expected words found in the extracted text in the same order (LCS)."""
    expected, got = words(expected_text), words(extracted_text)
    matched = _lcs_matches(expected, got)
    missing = [w for i, w in enumerate(expected) if i not in matched]
    return Score(expected=len(expected), in_order=len(matched), missing=missing)


def _lcs_matches(a, b):
    """Indices of ``a`` in a longest common subsequence with ``b`` (Hunt–Szymanski)."""
    import bisect

    positions = {}
    for j, word in enumerate(b):
        positions.setdefault(word, []).append(j)
    # thresholds[k]: smallest index in b ending a common subsequence of length k+1
    thresholds, links = [], []
    for i, word in enumerate(a):
        for j in reversed(positions.get(word, ())):
            k = bisect.bisect_left(thresholds, j)
            link = (i, links[k - 1] if k else None)
            if k == len(thresholds):
                thresholds.append(j)
                links.append(link)
            else:
                thresholds[k] = j
                links[k] = link
    matched, node = set(), links[-1] if links else None
    while node is not None:
        matched.add(node[0])
        node = node[1]
    return matched
