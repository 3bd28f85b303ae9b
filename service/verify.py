"""Verify: does a PDF's text layer give back the article's words, in order?"""

import difflib
import re
import shutil
import subprocess
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

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


PDFJS_SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "pdfjs" / "extract.mjs"


def pdfjs_available():
    return bool(shutil.which("node")) and (PDFJS_SCRIPT.parent / "node_modules").is_dir()


def pdfjs_text(pdf_path):
    """The text layer as pdf.js (Firefox's viewer) reads it (needs node and tools/pdfjs)."""
    if not pdfjs_available():
        raise VerifyError("pdf.js is not set up: install node, then `npm ci` in tools/pdfjs")
    result = subprocess.run(["node", str(PDFJS_SCRIPT), str(pdf_path)],
                            capture_output=True, timeout=120)
    if result.returncode != 0:
        raise VerifyError(f"pdf.js failed: {result.stderr.decode(errors='replace')[:200]}")
    return result.stdout.decode("utf-8")


@dataclass
class Score:
    """How much of the article a text layer gives back."""

    expected: int
    in_order: int
    missing: list = field(default_factory=list)      # expected words found nowhere
    reordered: list = field(default_factory=list)    # found, but out of order
    letters_dropped: int = 0
    letters_inserted: int = 0

    @property
    def ratio(self):
        return self.in_order / self.expected if self.expected else 1.0

    def to_json(self):
        return {"expected_words": self.expected, "in_order": self.in_order,
                "ratio": round(self.ratio, 5), "missing": self.missing[:50],
                "reordered": self.reordered[:50], "letters_dropped": self.letters_dropped,
                "letters_inserted": self.letters_inserted}


def score_words(expected_text, extracted_text):
    """Share of expected words found in the extracted text in the same order (LCS).

    Letters are compared where an aligned stretch of words differs (difflib):
    a word that came back changed («اللكويت» for «الكويت») counts its extra
    letters as inserted and its lost ones as dropped.  Whole extra words are
    not counted: the running header and page numbers are in the text layer too.
    """
    expected, got = words(expected_text), words(extracted_text)
    matched = _lcs_matches(expected, got)
    unmatched = [w for i, w in enumerate(expected) if i not in matched]
    remaining = Counter(got) - Counter(expected[i] for i in matched)
    missing = [w for w in unmatched if not remaining[w]]
    reordered = [w for w in unmatched if remaining[w]]
    dropped = inserted = 0
    matcher = difflib.SequenceMatcher(a=expected, b=got, autojunk=False)
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "delete":
            dropped += sum(len(w) for w in expected[a0:a1] if w in missing)
        elif tag == "replace":
            lost = Counter("".join(expected[a0:a1]))
            found = Counter("".join(got[b0:b1]))
            dropped += sum((lost - found).values())
            inserted += sum((found - lost).values())
    return Score(expected=len(expected), in_order=len(matched), missing=missing,
                 reordered=reordered, letters_dropped=dropped, letters_inserted=inserted)


@dataclass
class Report:
    """What ``matbaa verify`` says of one PDF."""

    pdftotext: Score
    pdfjs: Score | None
    missing_glyphs: list
    notdef: int          # U+FFFD in the text layer: a glyph with no character

    def ok(self, threshold):
        # pdf.js is reported, not judged: its order is known to differ (README).
        return (self.pdftotext.ratio >= threshold and self.pdftotext.letters_dropped == 0
                and not self.missing_glyphs and not self.notdef)

    def to_json(self):
        return {"pdftotext": self.pdftotext.to_json(),
                "pdfjs": self.pdfjs.to_json() if self.pdfjs else None,
                "missing_glyphs": [f"U+{ord(c):04X}" for c in self.missing_glyphs],
                "notdef": self.notdef}


def verify_pdf(pdf_path, article, font_set, use_pdfjs=None):
    """Check a PDF's text layer against ``article``: words, letters, glyphs."""
    expected = article_text(article)
    text = pdftotext(pdf_path)
    use_pdfjs = pdfjs_available() if use_pdfjs is None else use_pdfjs
    return Report(
        pdftotext=score_words(expected, text),
        pdfjs=score_words(expected, pdfjs_text(pdf_path)) if use_pdfjs else None,
        missing_glyphs=font_set.missing(expected),
        notdef=text.count("\ufffd"))


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
