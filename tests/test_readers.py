"""The text layer read back by the readers people use (service/readers.py)."""

import pytest

from service.article import parse_article
from service.engine import textlayer
from service.readers import read, unavailable
from service.verify import article_text, missing_numbers, score_words

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
    article, text = read_back(reader, renderer, tmp_path, FIGURES)
    assert missing_numbers(article_text(article), text) == [], text


def read_back(reader, renderer, tmp_path, data):
    """The article of ``data`` and its PDF's text as ``reader`` reads it."""
    if reason := unavailable(reader):
        missing(reason)
    article = parse_article(data)
    path = tmp_path / f"{article.id}.pdf"
    path.write_bytes(renderer.pdf(article).pdf)
    return article, read(reader, path)


JUSTIFIED = {
    "id": "justified", "title": "ميزانية المدينة للعام المقبل",
    "paragraphs": [
        "أقر المجلس البلدي في جلسته الأخيرة ميزانية العام المقبل بقيمة 420 مليون دينار، "
        "بزيادة 6.5% عن ميزانية العام الماضي، وخصص منها 95 مليوناً لإصلاح الطرق و37 "
        "مليوناً للحدائق العامة و12 مليوناً لشبكة الإنارة في الأحياء القديمة من المدينة.",
        "وقال رئيس المجلس في مؤتمر صحفي عقده يوم 14 مايو إن المشاريع الجديدة ستبدأ في "
        "الربع الأول من 2025، وإن الأعمال ستجري بين الساعة 22:00 والساعة 05:30 لتخفيف "
        "الزحام، مضيفاً أن شركة Global Roads فازت بعقد الطرق الرئيسية بعد مناقصة شاركت "
        "فيها 9 شركات محلية و4 شركات أجنبية من دول مختلفة.",
        "وتتوقع البلدية أن يرتفع عدد ركاب الحافلات من 80,000 راكب يومياً إلى نحو 110,000 "
        "راكب خلال الفترة 2025-2027، وأن ينخفض زمن الرحلة في وسط المدينة بنسبة تقارب 18% "
        "بعد افتتاح المسارات الخاصة بالحافلات على الطرق الرئيسية والفرعية.",
        "واستعرضت الاستراتيجيات الاستثمارية والمستشفيات والمستوصفات والاستشارات الهندسية "
        "والمتخصصين والمستثمرين والمستفيدين والمسؤوليات المشتركة بين المؤسسات الحكومية "
        "والاستثنائية والاستكشافية والاستعراضية في 3 مراحل  متتالية بتكلفة 7.25 مليون.",
    ]}


@pytest.mark.parametrize("reader", ["poppler", "pdfbox"])
def test_justified_arabic_lines_read_in_order(reader, renderer, tmp_path, monkeypatch):
    """WeasyPrint widens a justified line's spaces half before and half after their
    glyph.  PDFBox (Apache Tika, what archives index with) cuts a line at a gap that
    does not follow a space and joins the pieces left to right: the words of every
    justified line came out shuffled.  Justified spaces drawn where their gap starts,
    as an invisible glyph whose text is a bare space, with the invisible U+200F that
    poppler then needs before a number or a Latin word (textlayer.READER_SPACING),
    read back in order in both, every number as written; two spaces in a row too."""
    if reason := unavailable(reader):
        missing(reason)
    article = parse_article(JUSTIFIED)
    expected = article_text(article)

    def read_back(name):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(renderer.pdf(article).pdf)
        return read(reader, path)

    text = read_back("spaced")
    assert score_words(expected, text).ratio >= 0.995, text
    assert missing_numbers(expected, text) == [], text
    if reader == "pdfbox":
        # Spaces drawn as WeasyPrint draws them: the same lines come apart.
        monkeypatch.setattr(textlayer, "READER_SPACING", False)
        assert score_words(expected, read_back("as-weasyprint")).ratio < 0.99


# Inline markup inside justified lines: WeasyPrint draws each inline box's text apart,
# so a widened space can end one box with the next box's Latin or digits beside it.
INLINE = {
    "id": "inline", "title": "تقرير الطاقة السنوي",
    "body_html":
        "<p>ناقشت اللجنة في اجتماعها الدوري مع ممثلي الشركات تقرير <em>Energy Outlook</em> "
        "لعام 2030 وخطة من 15 بنداً، ثم عرض المدير <strong>أرقام الإنتاج</strong> "
        "للربع الثاني التي بلغت 3.2 مليون برميل، وأشار إلى تقرير <a "
        "href=\"https://example.org/r\">Open Data</a> الصادر في 2024 عن الهيئة العامة "
        "للإحصاء والمعلومات في البلاد.</p>"}


@pytest.mark.parametrize("reader", ["poppler"])
def test_inline_markup_in_justified_lines_reads_in_order(reader, renderer, tmp_path):
    """A justified space that ends an inline box («لعام» after <em>Energy Outlook</em>)
    keeps the invisible U+200F before what follows it: without it poppler took the
    space into the Latin run and lost the words on either side."""
    article, text = read_back(reader, renderer, tmp_path, INLINE)
    expected = article_text(article)
    assert score_words(expected, text).ratio >= 0.995, text
    assert missing_numbers(expected, text) == [], text
