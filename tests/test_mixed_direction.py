"""Latin, digits, dates, percentages, URLs and brackets inside Arabic sentences.

Each case is checked twice: the text layer must give the sentence back in
logical order, and the page must look like its golden image (made once with
MATBAA_UPDATE_GOLDEN=1, inspected by eye, committed), within a small tolerance.
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from service.article import parse_article

from .conftest import pdftotext

GOLDEN = Path(__file__).resolve().parent / "resources" / "golden"
CASES = {
    "latin-name": "صرّح المبعوث جون ماكاليستر (John McAllister) للصحفيين أمس.",
    "digits": "بلغ عدد المشاركين 6,500 شخص من 180 دولة في عام 2024.",
    "arabic-digits": "افتُتح المعرض في ١٠ مايو ٢٠١٦ بمشاركة ٢٥ دولة.",
    "percent": "ارتفعت المبيعات بنسبة 37% مقارنة بالعام الماضي.",
    "range": "امتدت الدراسة خلال الفترة 2017-2018 في ثلاث مدن.",
    "decimal": "انخفض الزمن من 1.8 ثانية إلى 0.4 ثانية.",
    "version": "تعمل الخدمة بلغة Python 3.11 على خوادم Linux.",
    "url": "للمزيد زوروا الموقع https://example.com/ar/news/ مباشرة.",
    "quotes": "قال الوزير: «نحن متفائلون» ثم أضاف \"جداً\".",
    "prefix": "وصل الوفد إلى دبي بـ3 طائرات و21 سيارة.",
}
# Share of pixels (of 8-bit gray, 50 dpi) allowed to differ by more than 64 levels.
TOLERANCE = 0.002


def strip_bidi(text):
    return re.sub("[\u200e\u200f\u202a-\u202e\u2066-\u2069]", "", text)


def gray(pdf, tmp_path):
    path = tmp_path / "case.pdf"
    path.write_bytes(pdf)
    pgm = subprocess.run(["pdftoppm", "-gray", "-r", "50", "-singlefile", str(path)],
                         check=True, capture_output=True).stdout
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+\d+\s", pgm)
    return int(header[1]), int(header[2]), pgm[header.end():]


KNOWN = {}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN[n], strict=True)) if n in KNOWN else n
    for n in sorted(CASES)])
def test_mixed_direction(name, renderer, tmp_path):
    sentence = CASES[name]
    article = parse_article({"id": name, "title": "اتجاهات", "paragraphs": [sentence]})
    pdf = renderer.pdf(article).pdf
    text = " ".join(strip_bidi(pdftotext(pdf, tmp_path)).split())
    assert sentence in text

    width, height, pixels = gray(pdf, tmp_path)
    golden = GOLDEN / f"{name}.png"
    if os.environ.get("MATBAA_UPDATE_GOLDEN"):
        Image.frombytes("L", (width, height), pixels).save(golden, optimize=True)
    with Image.open(golden) as image:
        assert image.size == (width, height)
        reference = image.convert("L").tobytes()
    differing = sum(1 for a, b in zip(pixels, reference) if abs(a - b) > 64)
    assert differing <= TOLERANCE * width * height, f"{differing} pixels differ from {golden}"
