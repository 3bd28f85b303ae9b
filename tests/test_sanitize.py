import pytest

from service.sanitize import clean_body, paragraphs_to_html


def clean(html):
    return clean_body(html)[0]


@pytest.mark.parametrize("chrome", [
    '<div class="pdfprnt-buttons"><a href="#"><img alt="image_pdf" src="x.png">'
    '<img alt="image_print" src="y.png"></a></div>',
    '<div class="printfriendly pf-alignleft"><a href="#">Print Friendly</a></div>',
    "<p>image_pdfimage_print</p>",
    '<div id="respond" class="comment-respond"><h3>اضف تعليق</h3>'
    "<form><textarea></textarea><button>إرسال</button></form></div>",
    '<div class="sharedaddy sd-sharing-enabled"><a href="https://x.example/share">شارك</a></div>',
    '<nav class="menu"><a href="/">الرئيسية</a></nav>',
    "<script>alert('x')</script>", "<style>p { color: red }</style>",
    '<iframe src="https://evil.example/"></iframe>',
    '<aside class="related-posts"><a href="/x">مقال ذو صلة</a></aside>',
])
def test_chrome_and_active_content_are_removed(chrome):
    body = clean(f"<p>نص المقال</p>{chrome}<p>ختام</p>")
    assert body == "<p>نص المقال</p><p>ختام</p>"


def test_markup_we_print_is_kept():
    html = ('<h2>عنوان</h2><p>نص <strong>عريض</strong> و<em>مائل</em></p>'
            "<blockquote><p>اقتباس</p></blockquote><ul><li>بند</li></ul>"
            '<table><tr><th>أ</th><td colspan="2">ب</td></tr></table>')
    assert clean(html) == html.replace("<table><tr>", "<table><tbody><tr>") \
        .replace("</tr></table>", "</tr></tbody></table>")


def test_attributes_and_urls_are_restricted():
    body = clean('<p onclick="x()" style="background:url(file:///etc/passwd)" class="c">'
                 '<a href="javascript:alert(1)">أ</a> <a href="file:///etc/passwd">ب</a></p>')
    assert "onclick" not in body and "style" not in body and "class" not in body
    assert "javascript" not in body and "file:" not in body


def test_headline_level_is_reserved_for_the_title():
    assert clean("<h1>عنوان فرعي</h1>") == "<h2>عنوان فرعي</h2>"


def test_remote_images_leave_a_note_and_data_images_stay():
    body = clean('<p><img src="https://cdn.example/a.jpg" alt="صورة الوزير"></p>'
                 '<p><img src="data:image/png;base64,iVBORw0KGgo=" alt="x"></p>')
    assert "cdn.example" not in body
    assert "[صورة: صورة الوزير]" in body
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in body


def test_web_links_are_collected_for_endnotes():
    body, links = clean_body('<p><a href="https://a.example/x">الرابط  الأول</a> و'
                             '<a href="mailto:x@example.com">بريد</a></p>')
    assert links == [("الرابط الأول", "https://a.example/x")]
    assert 'class="noted"' in body


def test_paragraphs_are_escaped():
    assert paragraphs_to_html(["<b>x</b>", "  ", "ثانية"]) == \
        "<p>&lt;b&gt;x&lt;/b&gt;</p><p>ثانية</p>"


def test_seed_page_labels_are_known_chrome(shared_dir):
    """Every chrome label of our first customer's page is one the sanitizer removes."""
    text = (shared_dir / "seed" / "article-page.txt").read_text(encoding="utf-8")
    for label in ("image_pdfimage_print", "Print Friendly", "اضف تعليق"):
        assert label in text
        assert clean(f"<p>قبل</p><p>{label}</p><p>بعد</p>") == "<p>قبل</p><p>بعد</p>"
