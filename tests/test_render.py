import io
import re
import shutil
import subprocess

import pytest
from pypdf import PdfReader

from service.article import parse_article
from service.template import RenderOptions
from service.verify import article_text, score_words

from .conftest import pdffonts, pdftotext, sample, unavailable

SAMPLES = ["kuwait-coalition-meeting", "arabic-printing-history", "nova-digital-archive-platform"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Each sample rendered once: (article, pdf bytes)."""
    from service.render import Renderer
    from service.settings import Settings

    renderer = Renderer(Settings.from_env())
    return {name: (article := parse_article(sample(name)), renderer.pdf(article).pdf)
            for name in SAMPLES}


@pytest.mark.parametrize("name, pages", [
    ("kuwait-coalition-meeting", (1, 3)), ("arabic-printing-history", (6, 9)),
    ("nova-digital-archive-platform", (1, 3)),
])
def test_pdf_opens_with_sane_page_count_and_metadata(rendered, name, pages):
    article, pdf = rendered[name]
    reader = PdfReader(io.BytesIO(pdf))
    assert pages[0] <= len(reader.pages) <= pages[1]
    box = reader.pages[0].mediabox
    assert (round(float(box.width) * 25.4 / 72), round(float(box.height) * 25.4 / 72)) == (210, 297)
    assert reader.metadata.title.startswith(article.title)
    assert reader.metadata.author == article.author


@pytest.mark.parametrize("name", SAMPLES)
def test_every_font_is_bundled_embedded_and_subset(rendered, name, tmp_path):
    fonts = pdffonts(rendered[name][1], tmp_path)
    assert fonts
    for font in fonts:
        assert font["emb"] == "yes" and font["sub"] == "yes" and font["uni"] == "yes", font
        # "ABCDEF+" marks a subset; every face must be one of ours, never a system font.
        assert re.fullmatch(r"[A-Z]{6}\+Matbaa-[A-Za-z-]+", font["name"]), font


@pytest.mark.parametrize("name", SAMPLES)
def test_text_layer_gives_back_the_article_in_order(rendered, name, tmp_path):
    article, pdf = rendered[name]
    score = score_words(article_text(article), pdftotext(pdf, tmp_path))
    assert score.ratio >= 0.99, (score.ratio, score.missing[:20])


def test_seed_shaped_article_reads_back_exactly(rendered, tmp_path):
    article, pdf = rendered["kuwait-coalition-meeting"]
    text = pdftotext(pdf, tmp_path)
    score = score_words(article_text(article), text)
    assert score.in_order == score.expected, score.missing
    # The cases that read back wrong without service/textlayer.py.
    plain = re.sub("[\u200e\u200f\u202a-\u202e]", "", text)
    assert "العبدالله" in plain and "اهلل" not in plain
    assert "مجلس الأمن الدولي 2253 الذي" in plain
    assert "(John McAllister)" in plain


@pytest.mark.parametrize("name", SAMPLES)
def test_no_site_chrome_in_the_pdf(rendered, name, tmp_path):
    text = pdftotext(rendered[name][1], tmp_path)
    for chrome in ("Print Friendly", "image_pdf", "image_print", "اضف تعليق", "إرسال"):
        assert chrome not in text


def test_page_numbers_in_arabic_indic_digits(rendered, tmp_path):
    text = pdftotext(rendered["arabic-printing-history"][1], tmp_path)
    plain = re.sub("[\u200e\u200f\u202a-\u202e]", "", text)
    pages = len(PdfReader(io.BytesIO(rendered["arabic-printing-history"][1])).pages)
    last = str(pages).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert f"صفحة ١ من {last}" in plain
    assert f"صفحة {last} من {last}" in plain


def test_running_header_has_site_section_and_headline_from_page_two(rendered, tmp_path):
    article, pdf = rendered["arabic-printing-history"]
    reader = PdfReader(io.BytesIO(pdf))
    first = pdftotext(pdf, tmp_path, "-f", "1", "-l", "1")
    second = pdftotext(pdf, tmp_path, "-f", "2", "-l", "2")
    strip = lambda s: re.sub("[\u200e\u200f\u202a-\u202e]", "", s)
    assert "الوطن العربي · ثقافة" in strip(second)
    assert strip(second).count("خمسة قرون من الحبر والرصاص") == 1   # header only
    assert strip(first).count("خمسة قرون من الحبر والرصاص") == 1    # the title only
    assert len(reader.pages) >= 2


def test_latin_digits_and_paper_option(renderer, tmp_path):
    article = parse_article(sample("kuwait-coalition-meeting"))
    pdf = renderer.pdf(article, RenderOptions(paper="letter", digits="latn")).pdf
    box = PdfReader(io.BytesIO(pdf)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    text = re.sub("[\u200e\u200f\u202a-\u202e]", "", pdftotext(pdf, tmp_path))
    assert "صفحة 1 من" in text and "10 مايو 2016" in text


def test_missing_glyphs_are_reported_not_hidden(renderer, caplog):
    article = parse_article({"id": "x", "title": "عنوان", "body_html": "<p>سلام ሰላም</p>"})
    result = renderer.pdf(article)
    assert result.missing_glyphs == tuple(sorted("ሰላም"))
    assert "no bundled font covers" in caplog.text
    # Pango's own notice of the .notdef boxes is expected here, and only here.
    for record in caplog.records:
        record.expected = True


def _gray_page(pdf, tmp_path, page=1, dpi=40):
    """(width, height, 8-bit gray pixels) of one page, rasterised by pdftoppm."""
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    pgm = subprocess.run(["pdftoppm", "-gray", "-r", str(dpi), "-f", str(page), "-l", str(page),
                          str(path)], check=True, capture_output=True).stdout
    header = re.match(rb"P5\s+(\d+)\s+(\d+)\s+\d+\s", pgm)
    return int(header[1]), int(header[2]), pgm[header.end():]


def test_short_lines_start_at_the_right(renderer, tmp_path):
    """Right-to-left layout, checked on pixels: a short paragraph's ink sits at the right margin."""
    article = parse_article({"id": "x", "title": "ع", "body_html": "<p>كلمة</p>" * 20})
    width, height, pixels = _gray_page(renderer.pdf(article).pdf, tmp_path)
    rows = range(height // 2, height * 3 // 4)   # body area, below the title block
    dark = [x for y in rows for x in range(width) if pixels[y * width + x] < 128]
    assert dark, "no ink in the body area"
    assert min(dark) > width * 0.6, "short lines should hug the right margin"


def test_images_are_decoded_once_and_the_cache_is_bounded(renderer, monkeypatch):
    from service import render

    article = parse_article(sample("kuwait-coalition-meeting"))   # lead image and QR code
    renderer.images_cache.clear()
    first = renderer.pdf(article).pdf
    held = dict(renderer.images_cache)
    assert any(key.startswith("data:image/png") for key in held), "QR code not cached"
    assert renderer.pdf(article).pdf == first
    # The decoded images are the same objects (their PDF streams are made again).
    images = {key: value for key, value in held.items() if not isinstance(value, bytes)}
    assert len(images) == 2
    assert all(renderer.images_cache[key] is value for key, value in images.items())

    # Past the cap the cache is emptied before the next render, not during one.
    monkeypatch.setattr(render, "IMAGE_CACHE_BYTES", 1)
    assert renderer.pdf(article).pdf == first
    assert all(renderer.images_cache[key] is not value for key, value in images.items())


@pytest.mark.parametrize("url", [
    "https://alwatan-alarabi.example/local/kuwait/kuwait-coalition-meeting/",
    # Arabic in the path, as news sites' links have it, and percent-encoded.
    "https://akhbar.example/ثقافة/2024/05/معرض-الكتاب-يفتح-أبوابه",
    "https://akhbar.example/%D8%AB%D9%82%D8%A7%D9%81%D8%A9/2024/?p=123&utm=print",
])
def test_printed_qr_code_scans_back_to_the_article(renderer, tmp_path, url):
    """The QR code, as printed (rasterised at 150 dpi), reads back as the article's address."""
    if not shutil.which("zbarimg"):
        unavailable("zbarimg (Debian zbar-tools) is not installed; scripts/dev installs it")
    article = parse_article({"id": "qr", "title": "عنوان", "url": url,
                             "body_html": "<p>نص المقال.</p>"})
    path = tmp_path / "qr.pdf"
    path.write_bytes(renderer.pdf(article).pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(path), str(tmp_path / "page")],
                   check=True)
    pages = sorted(tmp_path.glob("page*.png"))
    read = subprocess.run(["zbarimg", "--quiet", "--raw", *map(str, pages)],
                          capture_output=True, check=True).stdout.decode("utf-8")
    assert read.splitlines() == [url]


def test_escaped_address_reads_back_in_letters(renderer, tmp_path):
    """Printed, an escaped Arabic address is the address written in letters."""
    def text(url):
        article = parse_article({"id": "esc", "title": "عنوان", "url": url,
                                 "body_html": "<p>نص المقال.</p>"})
        return pdftotext(renderer.pdf(article).pdf, tmp_path)

    escaped = text("https://akhbar.example/%D8%AB%D9%82%D8%A7%D9%81%D8%A9/2024/")
    assert "ثقافة" in escaped and "%D8" not in escaped
    assert escaped == text("https://akhbar.example/ثقافة/2024/")
    # A letter our fonts lack stays escaped: the address prints, nothing goes missing.
    article = parse_article({"id": "esc", "title": "عنوان", "body_html": "<p>نص.</p>",
                             "url": "https://akhbar.example/%E1%88%B0/"})
    result = renderer.pdf(article)
    assert not result.missing_glyphs
    printed = re.sub("[\u200e\u200f\u202a-\u202e]", "", pdftotext(result.pdf, tmp_path))
    assert "akhbar.example/%E1%88%B0/" in printed


def test_address_too_long_for_a_qr_code_is_printed_without_one(renderer, tmp_path, caplog):
    # 1,500 Arabic letters are 3,000 bytes: more than the largest QR code holds.
    article = parse_article({"id": "long-url", "title": "عنوان",
                             "url": "https://akhbar.example/" + "ب" * 1500,
                             "body_html": "<p>نص المقال.</p>"})
    assert 'class="qr"' not in renderer.html(article)
    assert "المقال" in pdftotext(renderer.pdf(article).pdf, tmp_path)
    assert "too long for a QR code" in caplog.text



@pytest.mark.parametrize("section, alone", [("محليات", False), ("قسم طويل جدا " * 8, True)])
def test_masthead_site_at_the_right_section_at_the_left(renderer, tmp_path, section, alone):
    """The site's name stays whole on its line; a section that fits sits on that line
    at the left, one too long for it goes below (not squeezing the name onto two lines)."""
    article = parse_article({**sample("kuwait-coalition-meeting"), "section": section})
    text = pdftotext(renderer.pdf(article).pdf, tmp_path, "-layout", "-f", "1", "-l", "1")
    lines = [re.sub("[\u200e\u200f\u202a-\u202e]", "", line).rstrip()
             for line in text.splitlines()]
    # The masthead's line (the running header above it has a «·» between its parts).
    index, line = next((i, line) for i, line in enumerate(lines)
                       if "الوطن" in line and "·" not in line)
    assert line.endswith("الوطن العربي"), "the site's name, whole, at the right"
    first_word = section.split()[0]
    if alone:
        assert first_word not in line
        assert any(first_word in below for below in lines[index + 1:index + 3]), lines
    else:
        assert line.lstrip().startswith(first_word), "the section on the same line, at the left"


# The first expiry is raised inside the callback, where Python prints it as unraisable.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_the_render_deadline_holds_when_it_falls_inside_a_gc_callback():
    """The deadline's handler may run inside a gc callback (hypothesis, a test
    dependency, times every collection), where Python only prints what it raises: the
    render went on to its end, and a slow render answered 200 instead of 503."""
    import gc
    import time

    from service.errors import RenderTooLong
    from service.render import _deadline

    def slow_collection(phase, _info):
        if phase == "start":
            time.sleep(0.15)          # the deadline falls due in here

    gc.callbacks.append(slow_collection)
    try:
        with pytest.raises(RenderTooLong, match="MATBAA_RENDER_TIMEOUT"):
            with _deadline(0.1):
                gc.collect()
                started = time.monotonic()
                while time.monotonic() - started < 1.0:   # the rest of the render
                    sum(range(1000))
    finally:
        gc.callbacks.remove(slow_collection)
