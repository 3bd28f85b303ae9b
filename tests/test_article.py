import pytest

from service.article import parse_article
from service.errors import ArticleInvalid

from .conftest import sample


def test_seed_sample_is_valid():
    article = parse_article(sample("kuwait-coalition-meeting"))
    assert article.direction == "rtl"
    assert article.site == "الوطن العربي"
    assert article.breadcrumb == ["الرئيسية", "محليات", "الكويت"]
    assert article.published_at.year == 2016


def test_paragraphs_instead_of_body():
    article = parse_article({"id": "p1", "title": "عنوان", "paragraphs": ["فقرة أولى"]})
    assert article.body_html is None and article.paragraphs == ["فقرة أولى"]


@pytest.mark.parametrize("data, field", [
    ({"title": "عنوان", "body_html": "<p>نص</p>"}, "id"),
    ({"id": "a", "body_html": "<p>نص</p>"}, "title"),
    ({"id": "a", "title": "   ", "body_html": "<p>نص</p>"}, "title"),
    ({"id": "a", "title": "عنوان"}, "body_html"),
    ({"id": "a", "title": "عنوان", "paragraphs": ["  "]}, "paragraphs"),
    ({"id": "a b/c", "title": "عنوان", "body_html": "x"}, "id"),
    ({"id": "a", "title": "عنوان", "body_html": "x", "published_at": "yesterday"},
     "published_at"),
    ({"id": "a", "title": "عنوان", "body_html": "x", "url": "javascript:alert(1)"}, "url"),
    ({"id": "a", "title": "عنوان", "body_html": "x", "lead_image": {"src": "file:///etc/passwd"}},
     "lead_image.src"),
    ({"id": "a", "title": "عنوان", "body_html": "x", "categories": "محليات"}, "categories"),
    ({"id": 5, "title": "عنوان", "body_html": "x"}, "id"),
])
def test_invalid_articles_name_the_field(data, field):
    with pytest.raises(ArticleInvalid) as info:
        parse_article(data)
    assert info.value.details["field"] == field
    assert f"«{field}»" in info.value.message_ar


def test_not_an_object():
    with pytest.raises(ArticleInvalid):
        parse_article(["not", "an", "object"])


def test_article_length_limit_names_the_setting():
    with pytest.raises(ArticleInvalid, match="MATBAA_MAX_ARTICLE_CHARS"):
        parse_article({"id": "a", "title": "t", "body_html": "x" * 100}, max_chars=50)


def test_revision_follows_content():
    data = sample("kuwait-coalition-meeting")
    first = parse_article(data).revision
    assert parse_article(dict(data)).revision == first
    assert parse_article({**data, "title": data["title"] + "!"}).revision != first


def test_left_to_right_language():
    article = parse_article({"id": "en", "title": "Title", "body_html": "x", "lang": "en"})
    assert article.direction == "ltr"


def test_file_stem_prefers_slug_then_title():
    assert parse_article({"id": "a", "title": "عنوان المقال", "body_html": "x"}).file_stem \
        == "عنوان-المقال"
    assert parse_article({"id": "a", "slug": "my-slug", "title": "t", "body_html": "x"}).file_stem \
        == "my-slug"
