"""Verify: does a PDF's text layer give back the article's words, in order?"""

import difflib
import re
import unicodedata
from collections import Counter
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


# A number as written: digits (Western or Arabic-Indic), with decimal or group marks
# (. , ٫ ٬), a range (2017-2018) or a time (12:30), and a percent sign.
_NUMBER = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9]+"
                     r"(?:[.,:\u066b\u066c\-–][0-9\u0660-\u0669\u06f0-\u06f9]+)*[%٪]?")


def numbers(text):
    """Every number of ``text`` as written, in order: «9.5», «9.7%», «2017-2018»."""
    return _NUMBER.findall(text.translate(BIDI_CONTROLS))


def missing_numbers(expected_text, extracted_text):
    """The numbers of ``expected_text`` that ``extracted_text`` does not give back as
    written (a reader that reversed «9.5» into «5.9» loses «9.5»); the extracted text
    may hold more (page numbers, dates)."""
    remaining = Counter(numbers(extracted_text))
    lost = []
    for number in numbers(expected_text):
        if remaining[number]:
            remaining[number] -= 1
        else:
            lost.append(number)
    return lost


@dataclass
class Score:
    """How much of the article a text layer gives back."""

    expected: int
    in_order: int
    missing: list = field(default_factory=list)      # expected words found nowhere
    reordered: list = field(default_factory=list)    # found, but out of order
    letters_dropped: int = 0
    letters_inserted: int = 0
    numbers_lost: list = field(default_factory=list)  # numbers not given back as written

    @property
    def ratio(self):
        return self.in_order / self.expected if self.expected else 1.0

    def to_json(self):
        return {"expected_words": self.expected, "in_order": self.in_order,
                "ratio": round(self.ratio, 5), "missing": self.missing[:50],
                "reordered": self.reordered[:50], "letters_dropped": self.letters_dropped,
                "letters_inserted": self.letters_inserted,
                "numbers_lost": self.numbers_lost[:50]}


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
                 reordered=reordered, letters_dropped=dropped, letters_inserted=inserted,
                 numbers_lost=missing_numbers(expected_text, extracted_text))


@dataclass
class Report:
    """What ``matbaa verify`` says of one PDF: a Score per reader asked for."""

    scores: dict         # reader name (service.readers) -> Score
    missing_glyphs: list
    notdef: int          # U+FFFD in a text layer: a glyph with no character

    def ok(self, threshold):
        """Every reader asked for gives back the words in order at ``threshold``, no
        letter dropped, every number as written; every character has a glyph."""
        return (all(s.ratio >= threshold and not s.letters_dropped and not s.numbers_lost
                    for s in self.scores.values())
                and not self.missing_glyphs and not self.notdef)

    def to_json(self):
        return {"readers": {name: score.to_json() for name, score in self.scores.items()},
                "missing_glyphs": [f"U+{ord(c):04X}" for c in self.missing_glyphs],
                "notdef": self.notdef}


def verify_pdf(pdf_path, article, font_set, readers=("poppler",)):
    """Check a PDF's text layer against ``article`` in each of ``readers``: words,
    letters, numbers, glyphs."""
    from .readers import ReaderError, read

    expected = article_text(article)
    scores, notdef = {}, 0
    for reader in readers:
        try:
            text = read(reader, pdf_path)
        except ReaderError as exc:
            raise VerifyError(str(exc)) from None
        scores[reader] = score_words(expected, text)
        notdef = max(notdef, text.count("\ufffd"))
    return Report(scores=scores, missing_glyphs=font_set.missing(expected), notdef=notdef)


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
