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
    ({"id": "a", "title": "عنوان", "body_html": "x", "published_at": "05/17/2015"},
     "published_at"),             # month first: never how an Arabic site writes it
    ({"id": "a", "title": "عنوان", "body_html": "x", "updated_at": "31/02/2016"},
     "updated_at"),
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


@pytest.mark.parametrize("written, iso", [
    ("2015-05-17T21:30:00+01:00", "2015-05-17T21:30:00+01:00"),
    ("17/05/2015", "2015-05-17T00:00:00"),
    ("7/5/2015", "2015-05-07T00:00:00"),
    ("17-05-2015 21:30", "2015-05-17T21:30:00"),
    ("17.05.2015 9:05", "2015-05-17T09:05:00"),
])
def test_dates_iso_or_day_first(written, iso):
    """Arabic sites write dates day first (the corpus does: 17/05/2015)."""
    article = parse_article({"id": "a", "title": "t", "paragraphs": ["x"],
                             "published_at": written})
    assert article.published_at.isoformat() == iso


@pytest.mark.parametrize("given, site", [
    ({"source": "Jawhara FM"}, "Jawhara FM"),                  # the corpus's field
    ({"source": {"id": None, "name": "BBC Arabic"}}, "BBC Arabic"),   # NewsAPI's
    ({"source": "Jawhara FM", "site": "الوطن العربي"}, "الوطن العربي"),
    ({"source": " "}, None),
])
def test_source_names_the_site(given, site):
    article = parse_article({"id": "a", "title": "t", "paragraphs": ["x"], **given})
    assert article.site == site


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
    # Harakat are dropped, not made hyphens that cut a word in two («ي-شعل»).
    assert parse_article({"id": "a", "title": "شعر وردي يُشعل السخرية", "body_html": "x"}
                         ).file_stem == "شعر-وردي-يشعل-السخرية"
