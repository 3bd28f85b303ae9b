import lxml.html

from service.article import parse_article
from service.template import RenderOptions

from .conftest import sample


def parse(html):
    return lxml.html.document_fromstring(html)


def test_print_html_is_right_to_left_with_title_block(renderer):
    article = parse_article(sample("kuwait-coalition-meeting"))
    doc = parse(renderer.html(article, RenderOptions()))
    assert doc.get("dir") == "rtl" and doc.get("lang") == "ar"
    assert doc.cssselect(".breadcrumb")[0].text_content() == "الرئيسية » محليات » الكويت"
    assert [li.text for li in doc.cssselect(".categories li")] == ["الكويت", "محليات"]
    assert doc.cssselect("h1")[0].text_content() == article.title
    assert doc.cssselect(".byline time")[0].text == "١٠ مايو ٢٠١٦"
    assert doc.cssselect(".site")[0].text == "الوطن العربي"
    assert doc.cssselect("figcaption")[0].text == article.lead_image.caption
    assert doc.cssselect("img.qr")[0].get("src").startswith("data:image/png")
    assert "Print Friendly" not in doc.text_content()


def test_latin_digits_option(renderer):
    article = parse_article(sample("kuwait-coalition-meeting"))
    html = renderer.html(article, RenderOptions(digits="latn"))
    assert parse(html).cssselect(".byline time")[0].text == "10 مايو 2016"
    assert "counter(page, decimal)" in html


def test_links_become_numbered_endnotes(renderer):
    article = parse_article(sample("arabic-printing-history"))
    doc = parse(renderer.html(article, RenderOptions()))
    notes = doc.cssselect("ol.link-notes li .url")
    assert [n.text.strip("\u2066\u2069") for n in notes] == [
        "https://www.unicode.org/charts/PDF/U0600.pdf",
        "https://www.w3.org/International/articles/inline-bidi-markup/",
        "https://www.w3.org/TR/alreq/"]
    assert len(doc.cssselect(".body a.noted")) == 3


def test_escaped_arabic_addresses_are_printed_in_letters(renderer):
    """A percent-encoded Arabic address (as WordPress gives one) is printed as a browser
    shows it; the QR code keeps the address as given."""
    url = "https://akhbar.example/%D8%AB%D9%82%D8%A7%D9%81%D8%A9/2024/?p=123"
    article = parse_article({"id": "x", "title": "عنوان", "url": url, "body_html":
                             f'<p>نص <a href="{url}&amp;s=%D9%83">رابط</a>.</p>'})
    doc = parse(renderer.html(article))
    shown = [n.text.strip("\u2066\u2069") for n in doc.cssselect(".url")]
    assert shown == ["https://akhbar.example/ثقافة/2024/?p=123&s=ك",
                     "https://akhbar.example/ثقافة/2024/?p=123"]


def test_site_name_defaults_to_settings(renderer):
    article = parse_article({"id": "x", "title": "عنوان", "body_html": "<p>نص</p>"})
    assert parse(renderer.html(article)).cssselect(".site")[0].text == "مطبعة"


def test_browser_view_links_assets(renderer):
    article = parse_article(sample("kuwait-coalition-meeting"))
    html = renderer.html(article, asset_base="/assets/")
    assert 'href="/assets/print/print.css"' in html
    assert 'url("/assets/fonts/MatbaaNaskh-Regular.ttf")' in html
