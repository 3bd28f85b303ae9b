"""Reader options (paper, size, images, digits) on the PDF and the print view."""

import io
import re

import lxml.html
import pytest
from pypdf import PdfReader

SEED = "kuwait-coalition-meeting"
LONG = "arabic-printing-history"


def pages(response):
    return len(PdfReader(io.BytesIO(response.data)).pages)


def dark_pixels(response, tmp_path):
    """Dark pixels on page 1 (the lead image is a large dark drawing)."""
    import subprocess

    path = tmp_path / "page.pdf"
    path.write_bytes(response.data)
    pgm = subprocess.run(["pdftoppm", "-gray", "-r", "30", "-f", "1", "-l", "1", "-singlefile",
                          str(path)], check=True, capture_output=True).stdout
    pixels = pgm[re.match(rb"P5\s+\d+\s+\d+\s+\d+\s", pgm).end():]
    return sum(1 for value in pixels if value < 128)


def test_text_size_changes_the_page_count(client, loaded_store):
    counts = [pages(client.get(f"/articles/{LONG}.pdf?size={size}")) for size in "sml"]
    assert counts[0] < counts[1] < counts[2]


def test_without_images(client, loaded_store, tmp_path):
    with_images = client.get(f"/articles/{SEED}.pdf")
    without = client.get(f"/articles/{SEED}.pdf?images=0")
    assert dark_pixels(with_images, tmp_path) > 2 * dark_pixels(without, tmp_path)
    from .conftest import pdftotext
    text = re.sub("[\u200e\u200f\u202a-\u202e]", "", pdftotext(without.data, tmp_path))
    assert "جانب من اجتماع كبار المسؤولين" in text   # the caption stays


def test_paper_sizes(client, loaded_store):
    for paper, points in (("a5", (420, 595)), ("letter", (612, 792))):
        box = PdfReader(io.BytesIO(client.get(f"/articles/{SEED}.pdf?paper={paper}").data)) \
            .pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == points


@pytest.mark.parametrize("query, allowed", [
    ("size=xl", ["s", "m", "l"]), ("images=no", ["0", "1"]), ("digits=roman", ["arab", "latn"]),
])
def test_invalid_options_name_the_allowed_values(client, loaded_store, query, allowed):
    for path in (f"/articles/{SEED}.pdf?{query}", f"/articles/{SEED}/print?{query}"):
        response = client.get(path)
        assert response.status_code == 422
        assert response.get_json()["error"]["allowed"] == allowed


def test_print_view_has_a_usable_toolbar(client, loaded_store):
    html = client.get(f"/articles/{SEED}/print?size=l&images=0").get_data(as_text=True)
    doc = lxml.html.document_fromstring(html)
    assert doc.get("lang") == "ar" and doc.get("dir") == "rtl"
    toolbar = doc.cssselect("form.toolbar")[0]
    assert toolbar.get("role") == "toolbar" and toolbar.get("aria-label")
    assert {s.get("name") for s in toolbar.cssselect("select")} == {
        "paper", "size", "images", "digits"}
    assert toolbar.cssselect('select[name="size"] option[selected]')[0].get("value") == "l"
    download = toolbar.cssselect("a[download]")[0]
    assert "تنزيل PDF" in download.text_content()
    assert download.get("href").startswith(f"/articles/{SEED}.pdf?download=1")
    assert "size=l" in download.get("href") and "images=0" in download.get("href")
    assert "طباعة" in toolbar.cssselect('[data-action="print"]')[0].text_content()
    assert not doc.cssselect("figure.lead img")   # images=0 in the view too


def test_the_pdf_has_no_toolbar(client, loaded_store, tmp_path):
    from .conftest import pdftotext
    text = pdftotext(client.get(f"/articles/{SEED}.pdf").data, tmp_path)
    assert "تنزيل" not in text and "Apply" not in text
