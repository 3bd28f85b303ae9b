"""The text layer read back by the readers people use (service/readers.py)."""

import pytest

from service.article import parse_article
from service.readers import read, unavailable
from service.verify import article_text, missing_numbers

from .conftest import unavailable as missing

FIGURES = {
    "id": "figures", "title": "أرقام الربع الثالث",
    "paragraphs": [
        "ارتفع النمو بين 9.5 و9.7% في 2018 بعد أن كان 10.9% في العام السابق.",
        "بلغ عدد الزوار 10,000 زائر بين الساعة 12:30 والساعة 14:45 يوم 3.5 من الشهر.",
        "سجلت الأسهم 2.1 و0.25 و147.2 نقطة في الفترة 2017-2018.",
    ]}


@pytest.mark.parametrize("reader", ["poppler", "pdfium", "pdfbox"])
def test_every_number_reads_back_as_written(reader, renderer, tmp_path):
    """Decimals, thousands, times and ranges inside Arabic lines.  PDFium (Chrome's
    viewer) read «9.5» as «5.9» and «10.9%» as «9.10%»: the marks that framed «.»
    split the number into runs that its right-to-left line reversed."""
    if reason := unavailable(reader):
        missing(reason)
    article = parse_article(FIGURES)
    path = tmp_path / "figures.pdf"
    path.write_bytes(renderer.pdf(article).pdf)
    text = read(reader, path)
    assert missing_numbers(article_text(article), text) == [], text
